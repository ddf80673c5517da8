// Batches of one search job: a batch of children (or the initial
// population) is evaluated, each genotype at most once per job, its
// infeasible children get a bounded repair, and only when all of it
// succeeded is it committed to the archive, so that a failed Evaluate leaves
// the job as it was. Not thread-safe: one engine owns one.
#ifndef LUTNAS_SEARCH_BATCH_H_
#define LUTNAS_SEARCH_BATCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "base/rng.h"
#include "search/archive.h"
#include "search/constraints.h"
#include "search/engine.h"
#include "search/variation.h"
#include "space/space.h"

namespace lutnas::search {

// A genotype with its key, before evaluation.
struct Candidate {
  space::Genotype genotype;
  std::string key;
};
Candidate MakeCandidate(space::Genotype g);

// A batch once committed: its members as archive indices (accepted children
// in child order, or the initial population oldest first; repeats allowed)
// and the children dropped as infeasible after repair.
struct NewBatch {
  std::vector<int> members;
  int64_t rejected = 0;
};

// Makes the batches of one job (the space, options, constraints, variation
// and evaluator must outlive it). Each call evaluates what the archive lacks,
// appends the evaluations to `archive` in evaluation order with generation
// `generation`, and appends to `finalised` the new indices whose score is
// known. On error nothing is changed but the Rng (the caller rewinds it).
class BatchMaker {
 public:
  BatchMaker(const space::Space* space, const EngineOptions* options, const Constraints* constraints,
             const Variation* variation, Evaluator* evaluator)
      : space_(space),
        opt_(options),
        constraints_(constraints),
        variation_(variation),
        evaluator_(evaluator) {}

  // Children -> one Evaluate call -> repair -> accepted batch. Repair: each
  // infeasible child gets a cumulative chain of Shrink variants, evaluated
  // in rounds of 1, 2, 4, ... new variants per child still infeasible (at
  // most repair_tries in all, one Evaluate call per round); the first
  // feasible one of child and chain is accepted; with none, NSGA-II accepts
  // the least violating one and the others reject the child. Soft mode: no
  // repair.
  absl::StatusOr<NewBatch> Children(std::vector<Candidate> children, int generation, base::Rng& rng,
                                    Archive* archive, std::vector<int>* finalised) const;

  // The initial population: the seeds, then samples in chunks sized by the
  // feasible rate seen so far until P are feasible, at most 2 * P draws once
  // one is feasible (a tight budget's rare feasible networks are left to
  // selection and repair) and at most 20 * P while none is.
  // With fewer, the least-violating infeasible samples fill it, placed
  // first (oldest); a space with fewer than P distinct genotypes repeats
  // them. FAILED_PRECONDITION "no architecture of space '...' meets the
  // budget: ..." when none is feasible.
  absl::StatusOr<NewBatch> Initial(const std::vector<space::Genotype>& seeds, int generation, base::Rng& rng,
                                   Archive* archive, std::vector<int>* finalised) const;

 private:
  const space::Space* space_;
  const EngineOptions* opt_;
  const Constraints* constraints_;
  const Variation* variation_;
  Evaluator* evaluator_;
};

}  // namespace lutnas::search

#endif  // LUTNAS_SEARCH_BATCH_H_
