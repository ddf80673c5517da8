#include "search/batch.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"

#include "base/status_macros.h"

namespace lutnas::search {
namespace {

using absl::StrCat;

constexpr int kInitDrawFactor = 20;  // initial sampling: at most 20 * P draws while none is feasible
constexpr int kInitSpendFactor = 2;  // ... and at most 2 * P once one is

// Evaluations made during one batch, committed to the archive only when the
// whole batch succeeded (so a failed Evaluate leaves the state untouched).
struct Fresh {
  std::vector<Candidate> cand;
  std::vector<Evaluation> eval;
  std::unordered_map<std::string, int> index;
};

const Evaluation& Lookup(const Archive& archive, const Fresh& fresh, const std::string& key) {
  const int i = archive.Find(key);
  if (i >= 0) return archive.at(i).eval;
  return fresh.eval[fresh.index.at(key)];
}

void Commit(const Constraints& c, int generation, Fresh* fresh, Archive* archive,
            std::vector<int>* finalised) {
  for (size_t i = 0; i < fresh->cand.size(); ++i) {
    const int idx = archive->Add(std::move(fresh->cand[i].genotype), std::move(fresh->cand[i].key),
                                 fresh->eval[i], generation);
    if (c.IsFinal(archive->at(idx).eval)) {
      archive->OnFinal(idx);
      finalised->push_back(idx);
    }
  }
  fresh->cand.clear();
  fresh->eval.clear();
  fresh->index.clear();
}

// One Evaluate call, its answer checked: one result per genotype and, when
// the job has budgets, one latency per budget.
absl::Status CallEvaluator(Evaluator* evaluator, size_t num_budgets, const std::vector<space::Genotype>& gs,
                           std::vector<Evaluation>* out) {
  out->clear();
  RETURN_IF_ERROR(evaluator->Evaluate(gs, out));
  if (out->size() != gs.size())
    return absl::InternalError(
        StrCat("evaluator: returned ", out->size(), " results for ", gs.size(), " genotypes"));
  if (num_budgets > 0)
    for (const auto& e : *out)
      if (e.latency_ms.size() != num_budgets)
        return absl::InternalError(StrCat("evaluator: latency_ms has ", e.latency_ms.size(),
                                          " entries, expected ", num_budgets, " (one per latency budget)"));
  return absl::OkStatus();
}

// Evaluates, in one call, the candidates neither archived nor in `fresh`.
absl::Status EvaluateNew(Evaluator* evaluator, size_t num_budgets, const Archive& archive,
                         const std::vector<Candidate>& cs, Fresh* fresh) {
  std::vector<space::Genotype> todo;
  std::vector<std::string> keys;
  std::unordered_set<std::string> seen;
  for (const auto& c : cs) {
    if (archive.Contains(c.key) || fresh->index.count(c.key) || !seen.insert(c.key).second) continue;
    todo.push_back(c.genotype);
    keys.push_back(c.key);
  }
  if (todo.empty()) return absl::OkStatus();
  std::vector<Evaluation> res;
  RETURN_IF_ERROR(CallEvaluator(evaluator, num_budgets, todo, &res));
  for (size_t i = 0; i < todo.size(); ++i) {
    fresh->index.emplace(keys[i], static_cast<int>(fresh->cand.size()));
    fresh->cand.push_back({std::move(todo[i]), std::move(keys[i])});
    fresh->eval.push_back(std::move(res[i]));
  }
  return absl::OkStatus();
}

}  // namespace

Candidate MakeCandidate(space::Genotype g) {
  std::string key = g.Encode();
  return {std::move(g), std::move(key)};
}

absl::StatusOr<NewBatch> BatchMaker::Children(std::vector<Candidate> children, int generation, base::Rng& rng,
                                              Archive* archive, std::vector<int>* finalised) const {
  const size_t nb = opt_->latency_budgets_ms.size();
  const Constraints& c = *constraints_;
  Fresh fresh;
  RETURN_IF_ERROR(EvaluateNew(evaluator_, nb, *archive, children, &fresh));
  auto feasible = [&](const std::string& key) { return c.Feasible(Lookup(*archive, fresh, key)); };
  // Repair: cumulative shrink chains for the infeasible children, in
  // batched rounds of 1, 2, 4, ... new variants per still-infeasible child
  // (at most repair_tries in all), so that a costly score is not spent on
  // every variant when an early one already fits.
  const size_t n = children.size();
  std::vector<std::vector<Candidate>> chains(n);
  std::vector<char> open(n, 0);
  if (!opt_->soft)
    for (size_t i = 0; i < n; ++i) open[i] = !feasible(children[i].key);
  for (int used = 0, round = 1; used < opt_->repair_tries; used += round, round *= 2) {
    const int take = std::min(round, opt_->repair_tries - used);
    std::vector<Candidate> all;
    for (size_t i = 0; i < n; ++i) {
      if (!open[i]) continue;
      space::Genotype g = chains[i].empty() ? children[i].genotype : chains[i].back().genotype;
      for (int t = 0; t < take; ++t) {
        if (!variation_->Shrink(&g, rng)) {
          open[i] = 0;  // nothing left to shrink
          break;
        }
        chains[i].push_back(MakeCandidate(g));
        all.push_back(chains[i].back());
      }
    }
    if (all.empty()) break;
    RETURN_IF_ERROR(EvaluateNew(evaluator_, nb, *archive, all, &fresh));
    for (size_t i = 0; i < n; ++i)
      for (const auto& v : chains[i])
        if (feasible(v.key)) open[i] = 0;
  }
  std::vector<std::string> accepted;
  NewBatch out;
  for (size_t i = 0; i < n; ++i) {
    const std::string* pick = nullptr;
    if (feasible(children[i].key)) pick = &children[i].key;
    for (size_t t = 0; !pick && t < chains[i].size(); ++t)
      if (feasible(chains[i][t].key)) pick = &chains[i][t].key;
    if (!pick && opt_->algorithm == v1::NSGA2) {
      // NSGA-II keeps it, infeasible: the least violating variant.
      pick = &children[i].key;
      double v = c.Violation(Lookup(*archive, fresh, *pick));
      for (const auto& var : chains[i]) {
        const double cv = c.Violation(Lookup(*archive, fresh, var.key));
        if (cv < v) v = cv, pick = &var.key;
      }
    }
    if (pick)
      accepted.push_back(*pick);
    else
      ++out.rejected;
  }
  Commit(c, generation, &fresh, archive, finalised);
  for (const auto& k : accepted) out.members.push_back(archive->Find(k));
  return out;
}

absl::StatusOr<NewBatch> BatchMaker::Initial(const std::vector<space::Genotype>& seeds, int generation,
                                             base::Rng& rng, Archive* archive,
                                             std::vector<int>* finalised) const {
  const size_t nb = opt_->latency_budgets_ms.size();
  const Constraints& c = *constraints_;
  const int P = opt_->population;
  const int max_draws = kInitDrawFactor * P;
  Fresh fresh;
  auto lookup = [&](const std::string& key) -> const Evaluation& { return Lookup(*archive, fresh, key); };
  std::unordered_set<std::string> seen;
  std::vector<std::string> drawn, good;
  int draws = 0;
  if (!seeds.empty()) {  // seed networks first, evaluated like samples
    std::vector<Candidate> chunk;
    for (const auto& g : seeds) {
      Candidate cand = MakeCandidate(g);
      if (seen.insert(cand.key).second) chunk.push_back(std::move(cand));
    }
    RETURN_IF_ERROR(EvaluateNew(evaluator_, nb, *archive, chunk, &fresh));
    for (const auto& cand : chunk) {
      drawn.push_back(cand.key);
      if (c.Feasible(lookup(cand.key))) good.push_back(cand.key);
    }
  }
  // Samples are not spent on a tight budget's rare feasible networks: once
  // one is found and 2 * P are drawn, the least violating fill the rest and
  // selection with repair does the work.
  auto enough = [&] { return !good.empty() && draws >= kInitSpendFactor * P; };
  while (static_cast<int>(good.size()) < P && draws < max_draws && !enough()) {
    // Distinct new samples for this chunk: as many as are still needed,
    // scaled by the feasible rate seen so far (doubling while it is 0).
    const int need = P - static_cast<int>(good.size());
    const int64_t done = drawn.size(), ok = good.size();
    int64_t n = need;
    if (done > 0) n = ok == 0 ? 2 * done : (need * done + ok - 1) / ok;
    n = std::min<int64_t>(n, (good.empty() ? max_draws : kInitSpendFactor * P) - draws);
    std::vector<Candidate> chunk;
    while (static_cast<int64_t>(chunk.size()) < std::max<int64_t>(n, 1) && draws < max_draws) {
      ++draws;
      Candidate cand = MakeCandidate(space_->Sample(rng));
      if (seen.insert(cand.key).second) chunk.push_back(std::move(cand));
    }
    RETURN_IF_ERROR(EvaluateNew(evaluator_, nb, *archive, chunk, &fresh));
    for (const auto& cand : chunk) {
      drawn.push_back(cand.key);
      if (c.Feasible(lookup(cand.key))) good.push_back(cand.key);
    }
  }
  if (good.empty()) {
    std::vector<const Evaluation*> samples;
    for (const auto& k : drawn) samples.push_back(&lookup(k));
    return absl::FailedPreconditionError(StrCat("no architecture of space '", space_->name(),
                                                "' meets the budget: ", c.WhyInfeasible(samples)));
  }
  if (static_cast<int>(good.size()) > P) good.resize(P);
  // Fewer than P feasible: the least-violating infeasible samples fill the
  // population, placed first so that aging removes them first.
  std::vector<std::string> members;
  if (static_cast<int>(good.size()) < P) {
    std::vector<std::pair<double, int>> bad;
    for (int i = 0; i < static_cast<int>(drawn.size()); ++i) {
      const Evaluation& e = lookup(drawn[i]);
      if (!c.Feasible(e)) bad.emplace_back(c.Violation(e), i);
    }
    std::stable_sort(bad.begin(), bad.end());
    const int fill = std::min<int>(bad.size(), P - good.size());
    for (int i = 0; i < fill; ++i) members.push_back(drawn[bad[i].second]);
  }
  members.insert(members.end(), good.begin(), good.end());
  // A space with fewer than P distinct genotypes: repeat them.
  for (size_t i = 0; static_cast<int>(members.size()) < P; ++i) members.push_back(members[i]);
  Commit(c, generation, &fresh, archive, finalised);
  NewBatch out;
  for (const auto& k : members) out.members.push_back(archive->Find(k));
  return out;
}

}  // namespace lutnas::search
