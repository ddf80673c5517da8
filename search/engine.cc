#include "search/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"

#include "base/status_macros.h"
#include "base/status_reason.h"
#include "search/archive.h"
#include "search/batch.h"
#include "search/checkpoint.h"
#include "search/constraints.h"
#include "search/nsga2.h"
#include "search/selection.h"
#include "search/variation.h"
#include "space/space_seed.h"

namespace lutnas::search {
namespace {

using absl::StrCat;
using Clock = std::chrono::steady_clock;

constexpr int kChunk = 16;       // evolution children per Evaluate call
constexpr int kNovelTries = 32;  // extra mutations until a child is new to the job

}  // namespace

// The engine's whole mutable state and the orchestration of a job's
// generations and batches; the concerns live in their own files
// (constraints, archive, selection, batch, checkpoint). Persistent fields
// round-trip through Checkpoint(); the archive's derived bookkeeping is
// recomputed from it on Restore.
struct Engine::State {
  State(const space::Space* sp, const EngineOptions* o, Evaluator* ev)
      : space(sp),
        opt(o),
        constraints(*o),
        variation(sp),
        batches(sp, o, &constraints, &variation, ev),
        rng(o->seed),
        archive(&constraints),
        start(Clock::now()) {}

  const space::Space* space;
  const EngineOptions* opt;
  const Constraints constraints;
  const Variation variation;
  const BatchMaker batches;

  // --- persistent ---
  base::Rng rng;
  int steps_done = 0;                  // completed generations, the initial one included
  int children_started = 0;            // children created in the current generation
  int64_t rejected = 0;                // infeasible children dropped after repair
  Archive archive;                     // every evaluated genotype, in order
  std::deque<int> population;          // archive indices; front = oldest
  std::vector<space::Genotype> seeds;  // seed_architectures as genotypes
  bool batch_active = false;
  std::vector<int> batch;   // accepted children of the open batch
  std::vector<int> report;  // finalised in the current generation
  double elapsed_base = 0;

  // --- not checkpointed ---
  std::map<int, uint64_t> asked;  // handed out by Ask -> sequence of its last Ask
  uint64_t ask_seq = 0;
  Clock::time_point start;

  int P() const { return opt->population; }
  bool Done() const { return steps_done > opt->generations; }
  bool IsFinal(int idx) const { return constraints.IsFinal(archive.at(idx).eval); }

  // ---------------- batches ----------------

  // Whether `key` repeats an archived genotype or one already in this batch.
  bool Repeat(const std::string& key, const std::unordered_set<std::string>& batch_keys) const {
    return archive.Contains(key) || batch_keys.count(key) > 0;
  }

  // A child new to the job: while it repeats an archived genotype or one of
  // this batch, it is mutated again on top of its mutations (the step grows
  // with each try, so children leave a converged population's exhausted
  // neighbourhood instead of re-using cached evaluations), at most
  // kNovelTries times (a tiny space may have nothing new left).
  Candidate Novel(space::Genotype g, std::unordered_set<std::string>* batch_keys) {
    Candidate c = MakeCandidate(std::move(g));
    for (int t = 0; t < kNovelTries && Repeat(c.key, *batch_keys); ++t) {
      variation.Mutate(&c.genotype, rng);
      c.key = c.genotype.Encode();
    }
    batch_keys->insert(c.key);
    return c;
  }

  std::vector<Candidate> RandomChildren(int n) {
    std::vector<Candidate> out;
    std::unordered_set<std::string> keys;
    for (int i = 0; i < n; ++i) {
      Candidate c = MakeCandidate(space->Sample(rng));
      for (int t = 0; t < kNovelTries && Repeat(c.key, keys); ++t) c = MakeCandidate(space->Sample(rng));
      keys.insert(c.key);
      out.push_back(std::move(c));
    }
    return out;
  }

  // Up to kChunk children, each of two tournament parents from the current
  // population: gene-wise uniform crossover, then one mutation, then made
  // new to the job (Novel).
  std::vector<Candidate> EvolutionChildren() {
    const int n = std::min(kChunk, P() - children_started);
    std::vector<std::pair<int, int>> parents;
    for (int i = 0; i < n; ++i) {
      const int a = Tournament(constraints, archive.individuals(), population, opt->sample_size, rng);
      const int b = Tournament(constraints, archive.individuals(), population, opt->sample_size, rng);
      parents.emplace_back(a, b);
    }
    std::vector<Candidate> children;
    std::unordered_set<std::string> keys;
    for (const auto& [a, b] : parents) {
      space::Genotype g = variation.UniformCrossover(archive.at(a).genotype, archive.at(b).genotype, rng);
      variation.Mutate(&g, rng);
      children.push_back(Novel(std::move(g), &keys));
    }
    return children;
  }

  // P children: crossover of two binary-tournament parents, then mutation.
  std::vector<Candidate> Nsga2Children() {
    const std::vector<int> members(population.begin(), population.end());
    const NsgaRanking r = RankAndCrowd(NsgaPoints(constraints, archive.individuals(), members));
    std::vector<Candidate> children;
    std::unordered_set<std::string> keys;
    for (int i = 0; i < P(); ++i) {
      const Individual& a = archive.at(members[BinaryTournament(r, rng)]);
      const Individual& b = archive.at(members[BinaryTournament(r, rng)]);
      space::Genotype g = variation.Crossover(a.genotype, b.genotype, rng);
      variation.Mutate(&g, rng);
      children.push_back(Novel(std::move(g), &keys));
    }
    return children;
  }

  // Creates the next batch of the current generation. On error the Rng is
  // rewound and nothing is committed, so a retry is identical.
  absl::Status StartBatch() {
    const base::Rng saved = rng;
    absl::StatusOr<NewBatch> made;
    if (steps_done == 0) {
      made = batches.Initial(seeds, steps_done, rng, &archive, &report);
    } else {
      std::vector<Candidate> children = opt->algorithm == v1::NSGA2    ? Nsga2Children()
                                        : opt->algorithm == v1::RANDOM ? RandomChildren(P())
                                                                       : EvolutionChildren();
      const int n = static_cast<int>(children.size());
      made = batches.Children(std::move(children), steps_done, rng, &archive, &report);
      if (made.ok()) children_started += n;
    }
    if (!made.ok()) {
      rng = saved;
      return made.status();
    }
    if (steps_done == 0) children_started = P();
    batch = std::move(made->members);
    batch_active = true;
    rejected += made->rejected;
    return absl::OkStatus();
  }

  // Distinct batch members still waiting for an external score.
  std::vector<int> Pending() const {
    std::vector<int> out;
    if (!batch_active) return out;
    std::unordered_set<int> seen;
    for (int i : batch)
      if (!IsFinal(i) && seen.insert(i).second) out.push_back(i);
    return out;
  }

  // Closes the open batch: its members enter the population.
  void FinishBatch() {
    if (steps_done == 0) {
      population.assign(batch.begin(), batch.end());
    } else if (opt->algorithm == v1::NSGA2) {
      std::vector<int> combined(population.begin(), population.end());
      combined.insert(combined.end(), batch.begin(), batch.end());
      const std::vector<int> survivors = NsgaSurvivors(constraints, archive.individuals(), combined, P());
      population.assign(survivors.begin(), survivors.end());
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
    for (int i : report) r.evaluated.push_back(archive.at(i));
    r.pareto = archive.ParetoFront();
    ++steps_done;
    children_started = 0;
    report.clear();
    return r;
  }

  double Elapsed() const {
    return elapsed_base + std::chrono::duration<double>(Clock::now() - start).count();
  }

  // ---------------- checkpoint ----------------

  std::string Checkpoint() const {
    CheckpointData d;
    d.fingerprint = JobFingerprint(*space, *opt);
    d.rng = rng.state();
    d.steps_done = steps_done;
    d.children_started = children_started;
    d.rejected = rejected;
    d.batch_active = batch_active;
    d.archive.reserve(archive.size());
    for (const auto& ind : archive.individuals()) d.archive.push_back({ind.key, ind.generation, ind.eval});
    d.population.assign(population.begin(), population.end());
    d.batch = batch;
    d.report = report;
    d.elapsed_s = Elapsed();
    return EncodeCheckpoint(d);
  }

  // Parses a checkpoint into this (fresh) state; see Engine::Restore.
  absl::Status Load(const std::string& text) {
    ASSIGN_OR_RETURN(CheckpointData d, DecodeCheckpoint(text));
    ASSIGN_OR_RETURN(std::vector<Individual> individuals, CheckCheckpoint(*space, *opt, &d));
    rng.set_state(d.rng);
    steps_done = d.steps_done;
    children_started = d.children_started;
    rejected = d.rejected;
    batch_active = d.batch_active;
    elapsed_base = d.elapsed_s;
    archive.Reset(std::move(individuals));
    population.assign(d.population.begin(), d.population.end());
    batch = std::move(d.batch);
    report = std::move(d.report);
    asked.clear();
    start = Clock::now();
    return absl::OkStatus();
  }
};

// ---------------- Engine ----------------

Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(std::shared_ptr<const space::Space> space,
                                                       const EngineOptions& options, Evaluator* evaluator) {
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
    return bad("sample_size", StrCat("must be in 1..population (", o.population, "), got ", o.sample_size));
  if (o.generations < 0) return bad("generations", StrCat("must be >= 0, got ", o.generations));
  for (size_t i = 0; i < o.latency_budgets_ms.size(); ++i) {
    const double b = o.latency_budgets_ms[i];
    if (!std::isfinite(b) || b < 0)
      return bad(StrCat("latency_budgets_ms[", i, "]"), StrCat("must be finite and >= 0, got ", b));
  }
  if (o.max_params < 0) return bad("max_params", StrCat("must be >= 0, got ", o.max_params));
  if (o.max_macs < 0) return bad("max_macs", StrCat("must be >= 0, got ", o.max_macs));
  if (!std::isfinite(o.soft_weight)) return bad("soft_weight", StrCat("must be finite, got ", o.soft_weight));
  if (o.repair_tries < 0 || o.repair_tries > 1000)
    return bad("repair_tries", StrCat("must be in 0..1000, got ", o.repair_tries));
  if (o.max_evaluations < 1) return bad("max_evaluations", StrCat("must be >= 1, got ", o.max_evaluations));
  const int64_t total = static_cast<int64_t>(o.population) * (static_cast<int64_t>(o.generations) + 1);
  if (total > o.max_evaluations)
    return absl::InvalidArgumentError(StrCat("population * (generations + 1) = ", total,
                                             " exceeds the cap of ", o.max_evaluations,
                                             " evaluations per job"));
  if (o.seed_architectures.size() > 64)
    return bad("seed_architectures", StrCat("at most 64, got ", o.seed_architectures.size()));
  std::vector<space::Genotype> seeds;
  for (size_t i = 0; i < o.seed_architectures.size(); ++i) {
    auto g =
        space::GenotypeOfArchitecture(*space, o.seed_architectures[i], StrCat("seed_architectures[", i, "]"));
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
  fresh->seeds = state_->seeds;  // a checkpoint taken before the first Step still seeds the population
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
  if (!options_.external) return absl::FailedPreconditionError("Ask: the job's scores are not external");
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
    out.push_back(s.archive.at(i));
  }
  return out;
}

absl::Status Engine::Tell(const std::string& key, double score) {
  State& s = *state_;
  if (!options_.external) return absl::FailedPreconditionError("Tell: the job's scores are not external");
  if (!std::isfinite(score)) return absl::InvalidArgumentError(StrCat("score: must be finite, got ", score));
  const int idx = s.archive.Find(key);
  const bool pending = idx >= 0 && s.batch_active && !s.IsFinal(idx) &&
                       std::find(s.batch.begin(), s.batch.end(), idx) != s.batch.end();
  if (!pending) return absl::NotFoundError(StrCat("genotype '", key, "' is not waiting for a score"));
  s.archive.SetScore(idx, score);
  s.report.push_back(idx);
  s.asked.erase(idx);
  return absl::OkStatus();
}

v1::Progress Engine::progress() const {
  const State& s = *state_;
  v1::Progress p;
  p.set_generation(std::max(0, s.steps_done - 1));
  p.set_generations(options_.generations);
  p.set_evaluated(s.archive.evaluated());
  p.set_feasible(s.archive.feasible());
  p.set_best_score(s.archive.feasible() > 0 && std::isfinite(s.archive.best()) ? s.archive.best() : 0.0);
  p.set_pareto_size(s.archive.front_size());
  p.set_elapsed_s(s.Elapsed());
  return p;
}

std::vector<Individual> Engine::ParetoFront() const { return state_->archive.ParetoFront(); }

std::vector<Individual> Engine::Best(int k) const { return state_->archive.Best(k); }

}  // namespace lutnas::search
