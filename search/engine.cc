#include "search/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "search/checkpoint.h"
#include "search/nsga2.h"
#include "space/space_seed.h"
#include "base/status_macros.h"
#include "base/status_reason.h"
#include "search/variation.h"

namespace lutnas::search {
namespace {

using absl::StrCat;
using Clock = std::chrono::steady_clock;

constexpr int kChunk = 16;           // evolution children per Evaluate call
constexpr int kInitDrawFactor = 20;  // initial sampling: at most 20 * P draws
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string Hex(uint64_t u) { return absl::StrFormat("%016x", u); }
std::string HexD(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return Hex(u);
}

// A genotype with its key, before evaluation.
struct Candidate {
  space::Genotype genotype;
  std::string key;
};
Candidate MakeCandidate(space::Genotype g) {
  std::string key = g.Encode();
  return {std::move(g), std::move(key)};
}

// Evaluations made during one batch, committed to the archive only when the
// whole batch succeeded (so a failed Evaluate leaves the state untouched).
struct Fresh {
  std::vector<Candidate> cand;
  std::vector<Evaluation> eval;
  std::unordered_map<std::string, int> index;
};

}  // namespace

// The engine's whole mutable state plus the algorithms acting on it.
// Persistent fields round-trip through Checkpoint(); derived ones are
// recomputed from the archive on Restore.
struct Engine::State {
  State(const space::Space* sp, const EngineOptions* o, Evaluator* ev)
      : space(sp), opt(o), evaluator(ev), variation(sp), rng(o->seed), start(Clock::now()) {
    for (size_t i = 0; i < o->latency_budgets_ms.size(); ++i)
      if (o->latency_budgets_ms[i] > 0) constrained.push_back(static_cast<int>(i));
  }

  const space::Space* space;
  const EngineOptions* opt;
  Evaluator* evaluator;
  Variation variation;
  std::vector<int> constrained;  // latency indices with a budget

  // --- persistent ---
  base::Rng rng;
  int steps_done = 0;        // completed generations, the initial one included
  int children_started = 0;  // children created in the current generation
  int64_t rejected = 0;      // infeasible children dropped after repair
  std::vector<Individual> archive;  // every evaluated genotype, in order
  std::deque<int> population;       // archive indices; front = oldest
  std::vector<space::Genotype> seeds;      // seed_architectures as genotypes
  bool batch_active = false;
  std::vector<int> batch;   // accepted children of the open batch
  std::vector<int> report;  // finalised in the current generation
  double elapsed_base = 0;

  // --- derived ---
  std::unordered_map<std::string, int> index;  // key -> archive index
  int64_t evaluated = 0, feasible = 0;
  double best = -kInf;     // best feasible fitness
  std::vector<int> front;  // feasible non-dominated (score, latencies)
  std::map<int, uint64_t> asked;  // handed out by Ask -> sequence of its last Ask (not checkpointed)
  uint64_t ask_seq = 0;
  Clock::time_point start;

  int P() const { return opt->population; }
  bool Done() const { return steps_done > opt->generations; }

  // ---------------- evaluation bookkeeping ----------------

  // Every hard constraint met (soft mode: always).
  bool FeasibleEval(const Evaluation& e) const {
    if (opt->soft) return true;
    for (int i : constrained) {
      const double lat = i < static_cast<int>(e.latency_ms.size()) ? e.latency_ms[i] : kNaN;
      if (!(lat <= opt->latency_budgets_ms[i])) return false;
    }
    if (opt->max_params > 0 && e.params > opt->max_params) return false;
    if (opt->max_macs > 0 && e.macs > opt->max_macs) return false;
    return true;
  }

  // Total relative excess over the budgets (Deb's rule ranks by it).
  double Violation(const Evaluation& e) const {
    if (opt->soft) return 0;
    double v = 0;
    for (int i : constrained) {
      const double t = opt->latency_budgets_ms[i];
      const double lat = i < static_cast<int>(e.latency_ms.size()) ? e.latency_ms[i] : kNaN;
      if (std::isnan(lat)) v += 1e9;
      else if (lat > t) v += lat / t - 1;
    }
    if (opt->max_params > 0 && e.params > opt->max_params)
      v += static_cast<double>(e.params) / opt->max_params - 1;
    if (opt->max_macs > 0 && e.macs > opt->max_macs)
      v += static_cast<double>(e.macs) / opt->max_macs - 1;
    return v;
  }

  // Final: the score is known (always, unless external and not yet told).
  bool IsFinal(const Individual& ind) const {
    return !opt->external || !std::isnan(ind.eval.score);
  }

  double Fitness(const Evaluation& e) const {
    if (std::isnan(e.score)) return opt->external ? kNaN : -kInf;
    if (!opt->soft) return e.score;
    // MnasNet: score * prod (lat_i / T_i)^w. For a negative score the factor
    // divides, so that a slower network is still penalised.
    double factor = 1;
    for (int i : constrained) {
      const double lat = i < static_cast<int>(e.latency_ms.size()) ? e.latency_ms[i] : kNaN;
      const double ratio = std::isnan(lat) ? 1e9 : std::max(lat, 1e-12) / opt->latency_budgets_ms[i];
      factor *= std::pow(ratio, opt->soft_weight);
    }
    return e.score >= 0 ? e.score * factor : e.score / factor;
  }

  // Strict Pareto dominance on (max score, min every latency).
  static bool FrontDominates(const Individual& a, const Individual& b) {
    if (a.eval.score < b.eval.score) return false;
    bool strict = a.eval.score > b.eval.score;
    const size_t n = std::min(a.eval.latency_ms.size(), b.eval.latency_ms.size());
    for (size_t i = 0; i < n; ++i) {
      if (!(a.eval.latency_ms[i] <= b.eval.latency_ms[i])) return false;
      strict = strict || a.eval.latency_ms[i] < b.eval.latency_ms[i];
    }
    return strict;
  }

  void FrontInsert(int idx) {
    const Individual& x = archive[idx];
    if (!x.feasible || std::isnan(x.eval.score)) return;
    for (int f : front)
      if (FrontDominates(archive[f], x)) return;
    front.erase(std::remove_if(front.begin(), front.end(),
                               [&](int f) { return FrontDominates(x, archive[f]); }),
                front.end());
    front.push_back(idx);
  }

  // Bookkeeping once an individual's score is known.
  void OnFinal(int idx, bool to_report) {
    const Individual& ind = archive[idx];
    ++evaluated;
    if (ind.feasible) {
      ++feasible;
      if (!std::isnan(ind.fitness)) best = std::max(best, ind.fitness);
      FrontInsert(idx);
    }
    if (to_report) report.push_back(idx);
  }

  int AddToArchive(Candidate c, const Evaluation& e, int generation) {
    Individual ind;
    ind.genotype = std::move(c.genotype);
    ind.key = std::move(c.key);
    ind.eval = e;
    ind.feasible = FeasibleEval(e);
    ind.fitness = Fitness(e);
    ind.generation = generation;
    const int idx = static_cast<int>(archive.size());
    index.emplace(ind.key, idx);
    archive.push_back(std::move(ind));
    return idx;
  }

  void Commit(Fresh* fresh) {
    for (size_t i = 0; i < fresh->cand.size(); ++i) {
      const int idx = AddToArchive(std::move(fresh->cand[i]), fresh->eval[i], steps_done);
      if (IsFinal(archive[idx])) OnFinal(idx, /*to_report=*/true);
    }
    fresh->cand.clear();
    fresh->eval.clear();
    fresh->index.clear();
  }

  const Evaluation& Lookup(const std::string& key, const Fresh& fresh) const {
    auto it = index.find(key);
    if (it != index.end()) return archive[it->second].eval;
    return fresh.eval[fresh.index.at(key)];
  }

  absl::Status CallEvaluator(const std::vector<space::Genotype>& gs,
                             std::vector<Evaluation>* out) {
    out->clear();
    RETURN_IF_ERROR(evaluator->Evaluate(gs, out));
    if (out->size() != gs.size())
      return absl::InternalError(StrCat("evaluator: returned ", out->size(),
                                        " results for ", gs.size(), " genotypes"));
    const size_t nb = opt->latency_budgets_ms.size();
    if (nb > 0)
      for (const auto& e : *out)
        if (e.latency_ms.size() != nb)
          return absl::InternalError(
              StrCat("evaluator: latency_ms has ", e.latency_ms.size(),
                     " entries, expected ", nb, " (one per latency budget)"));
    return absl::OkStatus();
  }

  // Evaluates, in one call, the candidates neither archived nor in `fresh`.
  absl::Status EvaluateNew(const std::vector<Candidate>& cs, Fresh* fresh) {
    std::vector<space::Genotype> todo;
    std::vector<std::string> keys;
    std::unordered_set<std::string> seen;
    for (const auto& c : cs) {
      if (index.count(c.key) || fresh->index.count(c.key) || !seen.insert(c.key).second)
        continue;
      todo.push_back(c.genotype);
      keys.push_back(c.key);
    }
    if (todo.empty()) return absl::OkStatus();
    std::vector<Evaluation> res;
    RETURN_IF_ERROR(CallEvaluator(todo, &res));
    for (size_t i = 0; i < todo.size(); ++i) {
      fresh->index.emplace(keys[i], static_cast<int>(fresh->cand.size()));
      fresh->cand.push_back({std::move(todo[i]), std::move(keys[i])});
      fresh->eval.push_back(std::move(res[i]));
    }
    return absl::OkStatus();
  }

  // ---------------- selection ----------------

  // Aging-evolution order: feasible first, then less violation, then fitness.
  bool Better(const Individual& a, const Individual& b) const {
    if (a.feasible != b.feasible) return a.feasible;
    if (!a.feasible) {
      const double va = Violation(a.eval), vb = Violation(b.eval);
      if (va != vb) return va < vb;
    }
    return a.fitness > b.fitness;
  }

  int Tournament() {
    const int n = static_cast<int>(population.size());
    int best_idx = population[rng.Uniform(n)];
    for (int i = 1; i < opt->sample_size; ++i) {
      const int c = population[rng.Uniform(n)];
      if (Better(archive[c], archive[best_idx])) best_idx = c;
    }
    return best_idx;
  }

  // NSGA-II objective vector, all minimised: -score, params, then the
  // constrained latencies (all latencies when none is constrained).
  std::vector<double> Objectives(const Individual& ind) const {
    auto clamp = [](double x) {
      return std::isnan(x) ? 1e300 : std::max(-1e300, std::min(1e300, x));
    };
    std::vector<double> o;
    o.push_back(std::isnan(ind.eval.score) ? 1e300 : clamp(-ind.eval.score));
    o.push_back(static_cast<double>(ind.eval.params));
    const auto& lat = ind.eval.latency_ms;
    if (!constrained.empty()) {
      for (int i : constrained) o.push_back(i < static_cast<int>(lat.size()) ? clamp(lat[i]) : 1e300);
    } else {
      for (double l : lat) o.push_back(clamp(l));
    }
    return o;
  }

  std::vector<NsgaPoint> Points(const std::vector<int>& members) const {
    std::vector<NsgaPoint> p;
    for (int i : members)
      p.push_back({Objectives(archive[i]), archive[i].feasible, Violation(archive[i].eval)});
    return p;
  }

  // ---------------- batches ----------------

  // Children -> evaluation -> bounded repair -> accepted batch.
  absl::Status MakeChildBatch(std::vector<Candidate> children) {
    Fresh fresh;
    RETURN_IF_ERROR(EvaluateNew(children, &fresh));
    // Repair: cumulative shrink chains for the infeasible children, in
    // batched rounds of 1, 2, 4, ... new variants per still-infeasible child
    // (at most repair_tries in all), so that a costly score is not spent on
    // every variant when an early one already fits.
    const size_t n = children.size();
    std::vector<std::vector<Candidate>> chains(n);
    std::vector<char> open(n, 0);
    if (!opt->soft)
      for (size_t i = 0; i < n; ++i) open[i] = !FeasibleEval(Lookup(children[i].key, fresh));
    for (int used = 0, round = 1; used < opt->repair_tries; used += round, round *= 2) {
      const int take = std::min(round, opt->repair_tries - used);
      std::vector<Candidate> all;
      for (size_t i = 0; i < n; ++i) {
        if (!open[i]) continue;
        space::Genotype g = chains[i].empty() ? children[i].genotype : chains[i].back().genotype;
        for (int t = 0; t < take; ++t) {
          if (!variation.Shrink(&g, rng)) {
            open[i] = 0;  // nothing left to shrink
            break;
          }
          chains[i].push_back(MakeCandidate(g));
          all.push_back(chains[i].back());
        }
      }
      if (all.empty()) break;
      RETURN_IF_ERROR(EvaluateNew(all, &fresh));
      for (size_t i = 0; i < n; ++i)
        for (const auto& c : chains[i])
          if (FeasibleEval(Lookup(c.key, fresh))) open[i] = 0;
    }
    std::vector<std::string> accepted;
    int64_t dropped = 0;
    for (size_t i = 0; i < n; ++i) {
      const std::string* pick = nullptr;
      if (FeasibleEval(Lookup(children[i].key, fresh))) pick = &children[i].key;
      for (size_t t = 0; !pick && t < chains[i].size(); ++t)
        if (FeasibleEval(Lookup(chains[i][t].key, fresh))) pick = &chains[i][t].key;
      if (!pick && opt->algorithm == v1::NSGA2) {
        // NSGA-II keeps it, infeasible: the least violating variant.
        pick = &children[i].key;
        double v = Violation(Lookup(*pick, fresh));
        for (const auto& c : chains[i]) {
          const double cv = Violation(Lookup(c.key, fresh));
          if (cv < v) v = cv, pick = &c.key;
        }
      }
      if (pick) accepted.push_back(*pick);
      else ++dropped;
    }
    Commit(&fresh);
    batch.clear();
    for (const auto& k : accepted) batch.push_back(index.at(k));
    batch_active = true;
    rejected += dropped;
    children_started += static_cast<int>(children.size());
    return absl::OkStatus();
  }

  // Samples (at most 20 * P draws) until P feasible genotypes are found.
  absl::Status MakeInitBatch() {
    const int max_draws = kInitDrawFactor * P();
    Fresh fresh;
    std::unordered_set<std::string> seen;
    std::vector<std::string> drawn, good;
    int draws = 0;
    if (!seeds.empty()) {  // seed networks first, evaluated like samples
      std::vector<Candidate> chunk;
      for (const auto& g : seeds) {
        Candidate c = MakeCandidate(g);
        if (seen.insert(c.key).second) chunk.push_back(std::move(c));
      }
      RETURN_IF_ERROR(EvaluateNew(chunk, &fresh));
      for (const auto& c : chunk) {
        drawn.push_back(c.key);
        if (FeasibleEval(Lookup(c.key, fresh))) good.push_back(c.key);
      }
    }
    while (static_cast<int>(good.size()) < P() && draws < max_draws) {
      // Distinct new samples for this chunk: as many as are still needed,
      // scaled by the feasible rate seen so far (doubling while it is 0).
      const int need = P() - static_cast<int>(good.size());
      const int64_t done = drawn.size(), ok = good.size();
      int64_t n = need;
      if (done > 0) n = ok == 0 ? 2 * done : (need * done + ok - 1) / ok;
      n = std::min<int64_t>(n, max_draws - draws);
      std::vector<Candidate> chunk;
      while (static_cast<int64_t>(chunk.size()) < n && draws < max_draws) {
        ++draws;
        Candidate c = MakeCandidate(space->Sample(rng));
        if (seen.insert(c.key).second) chunk.push_back(std::move(c));
      }
      RETURN_IF_ERROR(EvaluateNew(chunk, &fresh));
      for (const auto& c : chunk) {
        drawn.push_back(c.key);
        if (FeasibleEval(Lookup(c.key, fresh))) good.push_back(c.key);
      }
    }
    if (good.empty()) return InitFailure(fresh, drawn);
    if (static_cast<int>(good.size()) > P()) good.resize(P());
    // Fewer than P feasible: the least-violating infeasible samples fill the
    // population, placed first so that aging removes them first.
    std::vector<std::string> members;
    if (static_cast<int>(good.size()) < P()) {
      std::vector<std::pair<double, int>> bad;
      for (int i = 0; i < static_cast<int>(drawn.size()); ++i) {
        const Evaluation& e = Lookup(drawn[i], fresh);
        if (!FeasibleEval(e)) bad.emplace_back(Violation(e), i);
      }
      std::stable_sort(bad.begin(), bad.end());
      const int fill = std::min<int>(bad.size(), P() - good.size());
      for (int i = 0; i < fill; ++i) members.push_back(drawn[bad[i].second]);
    }
    members.insert(members.end(), good.begin(), good.end());
    // A space with fewer than P distinct genotypes: repeat them.
    for (size_t i = 0; static_cast<int>(members.size()) < P(); ++i)
      members.push_back(members[i]);
    Commit(&fresh);
    batch.clear();
    for (const auto& k : members) batch.push_back(index.at(k));
    batch_active = true;
    children_started = P();
    return absl::OkStatus();
  }

  absl::Status InitFailure(const Fresh& fresh, const std::vector<std::string>& drawn) const {
    const std::string head = StrCat("no architecture of space '", space->name(),
                                    "' meets the budget: ");
    const size_t n = drawn.size();
    // The constraint that even its best sample misses by the largest factor.
    double worst = 1;
    std::string why;
    for (int i : constrained) {
      double lo = kInf;
      for (const auto& k : drawn) {
        const auto& lat = Lookup(k, fresh).latency_ms;
        if (i < static_cast<int>(lat.size()) && lat[i] < lo) lo = lat[i];
      }
      const double t = opt->latency_budgets_ms[i];
      if (lo > t && lo / t > worst) {
        worst = lo / t;
        why = StrCat("the fastest of ", n, " samples needs ", lo, " ms on budget #", i,
                     " (limit ", t, " ms)");
      }
    }
    auto cap = [&](int64_t limit, bool params) {
      if (limit <= 0) return;
      int64_t lo = std::numeric_limits<int64_t>::max();
      for (const auto& k : drawn) {
        const Evaluation& e = Lookup(k, fresh);
        lo = std::min(lo, params ? e.params : e.macs);
      }
      const double r = static_cast<double>(lo) / limit;
      if (lo > limit && r > worst) {
        worst = r;
        why = StrCat("the smallest of ", n, " samples has ", lo,
                     params ? " params (max_params " : " MACs (max_macs ", limit, ")");
      }
    };
    cap(opt->max_params, true);
    cap(opt->max_macs, false);
    if (why.empty())
      why = StrCat("none of ", n,
                   " samples meets every constraint at once, though each alone is met");
    return absl::FailedPreconditionError(head + why);
  }

  std::vector<Candidate> RandomCandidates(int n) {
    std::vector<Candidate> out;
    for (int i = 0; i < n; ++i) out.push_back(MakeCandidate(space->Sample(rng)));
    return out;
  }

  absl::Status EvolutionBatch() {
    const int n = std::min(kChunk, P() - children_started);
    std::vector<int> parents;
    for (int i = 0; i < n; ++i) parents.push_back(Tournament());
    std::vector<Candidate> children;
    for (int p : parents) children.push_back(MakeCandidate(variation.Child(archive[p].genotype, rng)));
    return MakeChildBatch(std::move(children));
  }

  absl::Status Nsga2Batch() {
    const std::vector<int> members(population.begin(), population.end());
    const NsgaRanking r = RankAndCrowd(Points(members));
    const std::vector<int>& rank = r.rank;
    const std::vector<double>& crowd = r.crowding;
    const int n = static_cast<int>(members.size());
    auto binary = [&]() {
      const int a = rng.Uniform(n), b = rng.Uniform(n);
      if (rank[a] != rank[b]) return rank[a] < rank[b] ? a : b;
      if (crowd[a] != crowd[b]) return crowd[a] > crowd[b] ? a : b;
      return std::min(a, b);
    };
    std::vector<Candidate> children;
    for (int i = 0; i < P(); ++i) {
      const Individual& a = archive[members[binary()]];
      const Individual& b = archive[members[binary()]];
      space::Genotype g = variation.Crossover(a.genotype, b.genotype, rng);
      variation.Mutate(&g, rng);
      children.push_back(MakeCandidate(std::move(g)));
    }
    return MakeChildBatch(std::move(children));
  }

  // Creates the next batch of the current generation. On error the Rng is
  // rewound and nothing is committed, so a retry is identical.
  absl::Status StartBatch() {
    const base::Rng saved = rng;
    absl::Status st;
    if (steps_done == 0) {
      st = MakeInitBatch();
    } else if (opt->algorithm == v1::NSGA2) {
      st = Nsga2Batch();
    } else if (opt->algorithm == v1::RANDOM) {
      st = MakeChildBatch(RandomCandidates(P()));
    } else {
      st = EvolutionBatch();
    }
    if (!st.ok()) rng = saved;
    return st;
  }

  // Distinct batch members still waiting for an external score.
  std::vector<int> Pending() const {
    std::vector<int> out;
    if (!batch_active) return out;
    std::unordered_set<int> seen;
    for (int i : batch)
      if (!IsFinal(archive[i]) && seen.insert(i).second) out.push_back(i);
    return out;
  }

  void FinishBatch() {
    if (steps_done == 0) {
      population.assign(batch.begin(), batch.end());
    } else if (opt->algorithm == v1::NSGA2) {
      std::vector<int> combined(population.begin(), population.end());
      combined.insert(combined.end(), batch.begin(), batch.end());
      population.clear();
      for (int i : SelectSurvivors(Points(combined), P())) population.push_back(combined[i]);
    } else if (opt->algorithm == v1::RANDOM) {
      if (!batch.empty()) population.assign(batch.begin(), batch.end());
    } else {
      for (int i : batch) {
        population.push_back(i);
        population.pop_front();
      }
    }
    batch.clear();
    batch_active = false;
    asked.clear();
  }

  bool GenerationComplete() const { return !batch_active && children_started >= P(); }

  GenerationReport FinishGeneration() {
    GenerationReport r;
    r.generation = steps_done;
    // Archive order: the same whatever order external scores arrived in.
    std::sort(report.begin(), report.end());
    for (int i : report) r.evaluated.push_back(archive[i]);
    r.pareto = ParetoFront();
    ++steps_done;
    children_started = 0;
    report.clear();
    return r;
  }

  std::vector<Individual> ParetoFront() const {
    std::vector<int> f = front;
    std::sort(f.begin(), f.end(), [&](int a, int b) {
      if (archive[a].eval.score != archive[b].eval.score)
        return archive[a].eval.score > archive[b].eval.score;
      return a < b;
    });
    std::vector<Individual> out;
    for (int i : f) out.push_back(archive[i]);
    return out;
  }

  double Elapsed() const {
    return elapsed_base + std::chrono::duration<double>(Clock::now() - start).count();
  }

  // ---------------- checkpoint ----------------

  uint64_t Fingerprint() const {
    std::string s = StrCat("alg=", opt->algorithm, ";P=", opt->population,
                           ";S=", opt->sample_size, ";G=", opt->generations,
                           ";seed=", opt->seed, ";budgets=");
    for (double b : opt->latency_budgets_ms) absl::StrAppend(&s, HexD(b), ",");
    absl::StrAppend(&s, ";max_params=", opt->max_params, ";max_macs=", opt->max_macs,
                    ";soft=", opt->soft, ";w=", HexD(opt->soft_weight),
                    ";external=", opt->external, ";repair=", opt->repair_tries,
                    ";space=", space->name(), ";r=", absl::StrJoin(space->resolutions(), ","),
                    ";stem=", space->stem_out_channels());
    for (int i = 0; i < space->num_stages(); ++i) {
      const auto& c = space->stage(i);
      absl::StrAppend(&s, ";s", i, ":", absl::StrJoin(c.types, ","), "/",
                      absl::StrJoin(c.widths, ","), "/", absl::StrJoin(c.depths, ","), "/",
                      absl::StrJoin(c.kernels, ","), "/", absl::StrJoin(c.expansions, ","),
                      "/", c.stride, "/", c.se, "/", c.act);
    }
    return space::Fnv1a64(s);
  }

  std::string Checkpoint() const {
    CheckpointData d;
    d.fingerprint = Fingerprint();
    d.rng = rng.state();
    d.steps_done = steps_done;
    d.children_started = children_started;
    d.rejected = rejected;
    d.batch_active = batch_active;
    d.archive.reserve(archive.size());
    for (const auto& ind : archive) d.archive.push_back({ind.key, ind.generation, ind.eval});
    d.population.assign(population.begin(), population.end());
    d.batch = batch;
    d.report = report;
    d.elapsed_s = Elapsed();
    return EncodeCheckpoint(d);
  }

  // Parses a checkpoint into this (fresh) state; see Engine::Restore.
  absl::Status Load(const std::string& text);

  // Rebuilds the derived fields from the persistent ones.
  void Rederive() {
    index.clear();
    evaluated = feasible = 0;
    best = -kInf;
    front.clear();
    asked.clear();
    for (int i = 0; i < static_cast<int>(archive.size()); ++i) {
      Individual& ind = archive[i];
      ind.feasible = FeasibleEval(ind.eval);
      ind.fitness = Fitness(ind.eval);
      index.emplace(ind.key, i);
      if (IsFinal(ind)) OnFinal(i, /*to_report=*/false);
    }
  }
};

absl::Status Engine::State::Load(const std::string& text) {
  ASSIGN_OR_RETURN(CheckpointData d, DecodeCheckpoint(text));
  if (d.fingerprint != Fingerprint())
    return absl::FailedPreconditionError(
        StrCat("checkpoint: made by a different job (fingerprint ", Hex(d.fingerprint),
               ", this job's is ", Hex(Fingerprint()), "): the space or the options differ"));
  auto bad = [](absl::string_view what) {
    return absl::DataLossError(StrCat("checkpoint: ", what));
  };
  const int P = opt->population, G = opt->generations;
  if (d.steps_done > G + 1 || d.children_started > P)
    return bad("counters out of range for this job");
  rng.set_state(d.rng);
  steps_done = d.steps_done;
  children_started = d.children_started;
  rejected = d.rejected;
  batch_active = d.batch_active;
  elapsed_base = d.elapsed_s;

  const size_t nb = opt->latency_budgets_ms.size();
  archive.clear();
  archive.reserve(d.archive.size());
  std::unordered_set<std::string> keys;
  for (auto& e : d.archive) {
    if (e.generation > G) return bad(StrCat("'", e.key, "': generation out of range"));
    if (nb > 0 && e.eval.latency_ms.size() != nb)
      return bad(StrCat("'", e.key, "': ", e.eval.latency_ms.size(), " latencies, expected ", nb));
    auto g = space::Genotype::Decode(e.key);
    if (!g.ok() || g->Encode() != e.key || static_cast<int>(g->stages.size()) != space->num_stages())
      return bad(StrCat("bad genotype '", e.key, "'"));
    if (!keys.insert(e.key).second) return bad(StrCat("duplicate genotype '", e.key, "'"));
    Individual ind;
    ind.genotype = *std::move(g);
    ind.key = std::move(e.key);
    ind.eval = std::move(e.eval);
    ind.generation = e.generation;
    archive.push_back(std::move(ind));
  }
  population.assign(d.population.begin(), d.population.end());
  batch = std::move(d.batch);
  report = std::move(d.report);
  Rederive();

  // Cross-field consistency, so that a bad checkpoint cannot crash the engine.
  if (static_cast<int>(population.size()) > P || static_cast<int>(batch.size()) > P)
    return bad("population or batch larger than the population size");
  if (!batch_active && !batch.empty()) return bad("batch members without an open batch");
  if (batch_active && (Done() || children_started == 0))
    return bad("open batch in a finished generation");
  if (Done() && (children_started != 0 || !report.empty()))
    return bad("finished job with a generation in progress");
  if (!population.empty() && opt->algorithm != v1::RANDOM && static_cast<int>(population.size()) != P)
    return bad(StrCat("population has ", population.size(), " members, expected ", P));
  // Empty exactly until the initial population's batch has been closed.
  const bool init_open = steps_done == 0 && (children_started == 0 || batch_active);
  if (population.empty() != init_open)
    return bad(population.empty() ? "empty population after the initial one was built"
                                  : "population before the initial one was built");
  if (steps_done == 0 && children_started != 0 && children_started != P)
    return bad("partial initial population");
  for (int i : population) {
    if (!IsFinal(archive[i])) return bad("population member without a score");
    if (!space->CheckGenotype(archive[i].genotype).ok())
      return bad(StrCat("population member '", archive[i].key, "' is not in the space"));
  }
  for (int i : batch)
    if (!space->CheckGenotype(archive[i].genotype).ok())
      return bad(StrCat("batch member '", archive[i].key, "' is not in the space"));
  for (int i : report)
    if (!IsFinal(archive[i])) return bad("reported individual without a score");
  start = Clock::now();
  return absl::OkStatus();
}

// ---------------- Engine ----------------

Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(std::shared_ptr<const space::Space> space,
                                                       const EngineOptions& options,
                                                       Evaluator* evaluator) {
  auto bad = [](absl::string_view field, const std::string& problem) {
    return absl::InvalidArgumentError(StrCat(field, ": ", problem));
  };
  if (!space) return bad("space", "must not be null");
  if (!evaluator) return bad("evaluator", "must not be null");
  EngineOptions o = options;
  if (o.algorithm == v1::ALGORITHM_UNSPECIFIED) o.algorithm = v1::EVOLUTION;
  if (o.algorithm != v1::EVOLUTION && o.algorithm != v1::NSGA2 && o.algorithm != v1::RANDOM)
    return bad("algorithm", StrCat("unknown value ", static_cast<int>(o.algorithm)));
  if (o.population < 2) return bad("population", StrCat("must be >= 2, got ", o.population));
  if (o.sample_size < 1 || o.sample_size > o.population)
    return bad("sample_size", StrCat("must be in 1..population (", o.population, "), got ",
                                     o.sample_size));
  if (o.generations < 0) return bad("generations", StrCat("must be >= 0, got ", o.generations));
  for (size_t i = 0; i < o.latency_budgets_ms.size(); ++i) {
    const double b = o.latency_budgets_ms[i];
    if (!std::isfinite(b) || b < 0)
      return bad(StrCat("latency_budgets_ms[", i, "]"),
                 StrCat("must be finite and >= 0, got ", b));
  }
  if (o.max_params < 0) return bad("max_params", StrCat("must be >= 0, got ", o.max_params));
  if (o.max_macs < 0) return bad("max_macs", StrCat("must be >= 0, got ", o.max_macs));
  if (!std::isfinite(o.soft_weight))
    return bad("soft_weight", StrCat("must be finite, got ", o.soft_weight));
  if (o.repair_tries < 0 || o.repair_tries > 1000)
    return bad("repair_tries", StrCat("must be in 0..1000, got ", o.repair_tries));
  if (o.max_evaluations < 1)
    return bad("max_evaluations", StrCat("must be >= 1, got ", o.max_evaluations));
  const int64_t total = static_cast<int64_t>(o.population) * (static_cast<int64_t>(o.generations) + 1);
  if (total > o.max_evaluations)
    return absl::InvalidArgumentError(
        StrCat("population * (generations + 1) = ", total, " exceeds the cap of ",
               o.max_evaluations, " evaluations per job"));
  if (o.seed_architectures.size() > 64)
    return bad("seed_architectures", StrCat("at most 64, got ", o.seed_architectures.size()));
  std::vector<space::Genotype> seeds;
  for (size_t i = 0; i < o.seed_architectures.size(); ++i) {
    auto g = space::GenotypeOfArchitecture(*space, o.seed_architectures[i],
                                    StrCat("seed_architectures[", i, "]"));
    if (!g.ok()) return g.status();
    seeds.push_back(*std::move(g));
  }
  std::unique_ptr<Engine> e(new Engine());
  e->space_ = std::move(space);
  e->options_ = o;
  e->evaluator_ = evaluator;
  e->state_ = std::make_unique<State>(e->space_.get(), &e->options_, evaluator);
  e->state_->seeds = std::move(seeds);
  return e;
}

std::string Engine::Checkpoint() const { return state_->Checkpoint(); }

absl::Status Engine::Restore(const std::string& checkpoint) {
  auto fresh = std::make_unique<State>(space_.get(), &options_, evaluator_);
  RETURN_IF_ERROR(fresh->Load(checkpoint));
  state_ = std::move(fresh);
  return absl::OkStatus();
}

bool Engine::Done() const { return state_->Done(); }

absl::StatusOr<GenerationReport> Engine::Step() {
  State& s = *state_;
  if (s.Done())
    return absl::FailedPreconditionError(
        StrCat("search: all ", options_.generations, " generations are done"));
  while (true) {
    if (s.batch_active) {
      const size_t pending = s.Pending().size();
      if (pending > 0)
        return base::WithReason(
            absl::FailedPreconditionError(StrCat("waiting for ", pending, " external scores")),
            kWaitingForScores);
      s.FinishBatch();
    }
    if (s.GenerationComplete()) return s.FinishGeneration();
    RETURN_IF_ERROR(s.StartBatch());
  }
}

absl::StatusOr<std::vector<Individual>> Engine::Ask(int k) {
  State& s = *state_;
  if (!options_.external)
    return absl::FailedPreconditionError("Ask: the job's scores are not external");
  if (k < 1) return absl::InvalidArgumentError(StrCat("k: must be >= 1, got ", k));
  std::vector<int> pending = s.Pending();
  while (pending.empty()) {
    if (s.batch_active) s.FinishBatch();
    if (s.Done() || s.GenerationComplete()) return std::vector<Individual>{};
    RETURN_IF_ERROR(s.StartBatch());
    pending = s.Pending();
  }
  // Not yet handed out first; once all are out, hand out again the ones
  // asked longest ago (a worker that died holds them; a client that lost its
  // work can recover it), never the same one twice in a row while others wait.
  std::vector<int> pick;
  for (int i : pending)
    if (static_cast<int>(pick.size()) < k && !s.asked.count(i)) pick.push_back(i);
  if (pick.empty()) {
    std::vector<int> again = pending;
    std::stable_sort(again.begin(), again.end(),
                     [&s](int a, int b) { return s.asked.at(a) < s.asked.at(b); });
    for (int i : again)
      if (static_cast<int>(pick.size()) < k) pick.push_back(i);
  }
  std::vector<Individual> out;
  for (int i : pick) {
    s.asked[i] = ++s.ask_seq;
    out.push_back(s.archive[i]);
  }
  return out;
}

absl::Status Engine::Tell(const std::string& key, double score) {
  State& s = *state_;
  if (!options_.external)
    return absl::FailedPreconditionError("Tell: the job's scores are not external");
  if (!std::isfinite(score))
    return absl::InvalidArgumentError(StrCat("score: must be finite, got ", score));
  auto it = s.index.find(key);
  const bool pending =
      it != s.index.end() && s.batch_active && !s.IsFinal(s.archive[it->second]) &&
      std::find(s.batch.begin(), s.batch.end(), it->second) != s.batch.end();
  if (!pending)
    return absl::NotFoundError(StrCat("genotype '", key, "' is not waiting for a score"));
  Individual& ind = s.archive[it->second];
  ind.eval.score = score;
  ind.fitness = s.Fitness(ind.eval);
  s.OnFinal(it->second, /*to_report=*/true);
  s.asked.erase(it->second);
  return absl::OkStatus();
}

v1::Progress Engine::progress() const {
  const State& s = *state_;
  v1::Progress p;
  p.set_generation(std::max(0, s.steps_done - 1));
  p.set_generations(options_.generations);
  p.set_evaluated(s.evaluated);
  p.set_feasible(s.feasible);
  p.set_best_score(s.feasible > 0 && std::isfinite(s.best) ? s.best : 0.0);
  p.set_pareto_size(static_cast<int>(s.front.size()));
  p.set_elapsed_s(s.Elapsed());
  return p;
}

std::vector<Individual> Engine::ParetoFront() const { return state_->ParetoFront(); }

std::vector<Individual> Engine::Best(int k) const {
  const State& s = *state_;
  std::vector<int> idx;
  for (int i = 0; i < static_cast<int>(s.archive.size()); ++i) {
    const Individual& ind = s.archive[i];
    if (ind.feasible && s.IsFinal(ind) && !std::isnan(ind.fitness)) idx.push_back(i);
  }
  auto cmp = [&](int a, int b) {
    if (s.archive[a].fitness != s.archive[b].fitness)
      return s.archive[a].fitness > s.archive[b].fitness;
    return a < b;
  };
  const size_t n = std::min<size_t>(std::max(k, 0), idx.size());
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), cmp);
  std::vector<Individual> out;
  for (size_t i = 0; i < n; ++i) out.push_back(s.archive[idx[i]]);
  return out;
}

}  // namespace lutnas::search
