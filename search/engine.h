// The search engine: regularized (aging) evolution, NSGA-II and random
// search over a Space, scored through an Evaluator (latency from tables,
// accuracy from proxies or external scores). Plain C++: no gRPC, no SQLite,
// no torch. Deterministic for a seed whatever the evaluator's thread count;
// its whole state round-trips through Checkpoint()/Restore(), so a restored
// engine ends with exactly the result of one never interrupted.
// Not thread-safe: one job owns one engine.
#ifndef LUTNAS_SEARCH_ENGINE_H_
#define LUTNAS_SEARCH_ENGINE_H_

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "lutnas/v1/service.pb.h"
#include "space/space.h"

namespace lutnas::search {

// What an evaluator says about one genotype.
struct Evaluation {
  double score = NAN;              // objective, higher is better; NaN: pending (external)
  std::vector<double> latency_ms;  // one per EngineOptions::latency_budgets_ms entry
  int64_t params = 0;
  int64_t macs = 0;
};

// Scores genotypes. Implementations may evaluate a batch in parallel but
// must return the same numbers for the same genotype every time.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual absl::Status Evaluate(const std::vector<space::Genotype>& genotypes,
                                std::vector<Evaluation>* results) = 0;
};

struct EngineOptions {
  v1::Algorithm algorithm = v1::EVOLUTION;
  int population = 100;  // P
  int sample_size = 25;  // S (tournament size)
  int generations = 20;  // after the initial population; P children each
  uint64_t seed = 0;
  // Budget per evaluator latency index (same order as Evaluation::latency_ms);
  // <= 0: reported but unconstrained.
  std::vector<double> latency_budgets_ms;
  int64_t max_params = 0;  // 0: no cap
  int64_t max_macs = 0;    // 0: no cap (a MACs-only budget = FLOPs baseline)
  bool soft = false;       // MnasNet reward score * prod (lat_i / T_i)^w
  double soft_weight = -0.07;
  bool external = false;                // scores arrive through Tell()
  int repair_tries = 20;                // bounded repair of an infeasible child
  int64_t max_evaluations = 2'000'000;  // cap checked in Create
  // Networks evaluated first in the initial population (points of the space;
  // Create checks them, errors name "seed_architectures[i]...").
  std::vector<v1::Architecture> seed_architectures;
};

// One evaluated architecture as the engine keeps it.
struct Individual {
  space::Genotype genotype;
  std::string key;  // genotype.Encode()
  Evaluation eval;
  bool feasible = false;
  double fitness = 0;  // the reward selection uses (score, or soft reward)
  int generation = 0;
};

// What one Step() produced: everything evaluated in it (to store) and the
// current Pareto front / best individuals.
struct GenerationReport {
  int generation = 0;
  std::vector<Individual> evaluated;
  std::vector<Individual> pareto;
};

// Runs one search job. Not thread-safe (one job owns one engine).
//
// Generations: Step() 0 builds the initial population (samples until P are
// feasible, but at most 2 * P once one is feasible and at most 20 * P while
// none is; with fewer, the least-violating infeasible samples fill it,
// placed oldest so that aging removes them first; with none
// FAILED_PRECONDITION naming the closest sample). Each later Step() makes P
// children: EVOLUTION in chunks of up to 16 (each child the gene-wise
// uniform crossover of two tournament winners from the population before
// the chunk, then one mutation; one Evaluate call per chunk, then push the
// child and drop the oldest), NSGA-II and RANDOM in one batch of P.
// Evaluations are distinct networks: a genotype is evaluated at most once
// per job, and a child that repeats one the job has evaluated (or a sibling)
// is mutated again, up to 32 times, so every child is a new network
// unless the space is nearly exhausted (then the repeat reuses the cached
// evaluation). progress().evaluated counts distinct networks evaluated:
// initial samples, children and repair variants, whether feasible or not;
// a generation costs P evaluations plus its repairs. GenerationReport::evaluated holds
// the individuals whose evaluation became final in that generation, in
// archive order. A failed Evaluate undoes the batch it was for, so a retried
// Step() goes on exactly as if it had not failed.
//
// Constraints (hard mode): an individual is feasible when every latency with
// a budget > 0, params and MACs are within their caps. An infeasible child
// gets up to repair_tries cumulative "shrink" mutations (lower resolution,
// width, depth or expansion) evaluated in batched rounds of 1, 2, 4, ...
// variants per child still infeasible (one Evaluate call per round); the
// first feasible variant replaces it, else EVOLUTION and RANDOM reject it
// (counted, not inserted) and NSGA-II keeps its least-violating variant.
// Soft mode: every individual is feasible; fitness = MnasNet reward.
//
// External mode (options.external): the evaluator returns latency, params and
// MACs with score NaN; feasibility and repair need no score. Ask(k) returns
// up to k members of the open batch (a chunk, NSGA-II's or RANDOM's P
// children, or the initial population) still without a score: those not yet
// handed out first; once all are out it hands them out again, so lost work
// can be recovered (a restored engine hands every pending one out again).
// With none pending it closes the batch and opens the next one of the same
// generation; it returns an empty list when the generation's work is all
// scored or the job is done: then call Step(). Tell(key, score) records a
// finite score for a pending key (INVALID_ARGUMENT for NaN/inf, NOT_FOUND
// for a key that is not pending). Step() closes and opens batches until the
// generation is complete, returning FAILED_PRECONDITION "waiting for N
// external scores" while any is pending. Results depend only on the scores
// told, not on the order of Tell calls.
// The reason (base/status_reason.h) on Step()'s FAILED_PRECONDITION while
// external scores are pending.
inline constexpr char kWaitingForScores[] = "waiting-for-scores";

class Engine {
 public:
  ~Engine();

  // Validates options (INVALID_ARGUMENT naming the field: population >= 2,
  // 1 <= sample_size <= population, generations >= 0, budgets finite,
  // evaluations <= max_evaluations).
  static absl::StatusOr<std::unique_ptr<Engine>> Create(std::shared_ptr<const space::Space> space,
                                                        const EngineOptions& options, Evaluator* evaluator);

  // Checkpoint is opaque text holding the whole state (archive, population,
  // open batch, Rng, counters); Restore rejects malformed input (DATA_LOSS
  // "checkpoint: ...") and a checkpoint of another space or other options
  // (FAILED_PRECONDITION). A restored engine continues exactly like the
  // original. Call Checkpoint() between calls, at any point of a job.
  std::string Checkpoint() const;
  absl::Status Restore(const std::string& checkpoint);

  bool Done() const;
  // Runs the next generation (the first call builds the initial population).
  // FAILED_PRECONDITION with a clear message when no feasible architecture
  // can be found within bounded tries (the budget is out of reach), or, in
  // external mode, while scores are still pending.
  absl::StatusOr<GenerationReport> Step();

  // External objective: up to k individuals waiting for a score (creating
  // the next batch when none is pending); Tell records one score.
  absl::StatusOr<std::vector<Individual>> Ask(int k);
  absl::Status Tell(const std::string& key, double score);

  // generation: generations completed after the initial population;
  // evaluated/feasible: individuals with a known score (and feasible);
  // best_score: best feasible fitness (0 when none).
  v1::Progress progress() const;
  // Feasible, non-dominated individuals (max score, min each latency).
  std::vector<Individual> ParetoFront() const;
  // Feasible individuals by fitness, best first.
  std::vector<Individual> Best(int k) const;

 private:
  Engine() = default;
  struct State;
  std::shared_ptr<const space::Space> space_;
  EngineOptions options_;
  Evaluator* evaluator_ = nullptr;
  std::unique_ptr<State> state_;
};

}  // namespace lutnas::search

#endif  // LUTNAS_SEARCH_ENGINE_H_
