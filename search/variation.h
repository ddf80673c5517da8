// Variation operators of the search: mutation (resolution, width, depth,
// block type, kernel, expansion), the "shrink" step used to repair
// over-budget children, and NSGA-II's stage-wise one-point crossover. Every
// result is repaired into a valid point of the space, and all randomness
// comes from the caller's Rng. Stateless apart from the Space: thread-safe
// when each thread passes its own Rng.
#ifndef LUTNAS_SEARCH_VARIATION_H_
#define LUTNAS_SEARCH_VARIATION_H_

#include "base/rng.h"
#include "space/space.h"

namespace lutnas::search {

// Applies random changes to genotypes of one space (which must outlive it).
class Variation {
 public:
  explicit Variation(const space::Space* space) : space_(space) {}

  // One random operator (another is drawn while the drawn one cannot
  // apply, at most 16 times), then Space::Repair.
  void Mutate(space::Genotype* g, base::Rng& rng) const;
  // A mutated copy of `parent` that differs from it whenever possible.
  space::Genotype Child(const space::Genotype& parent, base::Rng& rng) const;
  // One step towards a cheaper network: the next lower resolution, width,
  // depth or expansion choice, then Repair. False when nothing can shrink.
  bool Shrink(space::Genotype* g, base::Rng& rng) const;
  // Stages before a random cut from `a`, the rest from `b`; the resolution
  // from either; then Repair.
  space::Genotype Crossover(const space::Genotype& a, const space::Genotype& b, base::Rng& rng) const;
  // Uniform crossover gene by gene: the resolution, each stage's width and
  // depth, and each block position both parents have from `a` or `b` with
  // probability 1/2 (deeper positions from the parent whose depth is
  // taken), then Repair.
  space::Genotype UniformCrossover(const space::Genotype& a, const space::Genotype& b, base::Rng& rng) const;

 private:
  // Operator `op`: 0 resolution, 1 a stage's width, 2 a stage's depth (to
  // the neighbouring depth choice), 3 a block's type, 4 a block's kernel,
  // 5 a block's expansion. False when it cannot apply to `g`.
  bool ApplyOp(space::Genotype* g, int op, base::Rng& rng) const;
  bool MutateDepth(space::Genotype* g, base::Rng& rng) const;
  bool MutateType(space::Genotype* g, base::Rng& rng) const;
  bool MutateBlockField(space::Genotype* g, bool kernel, base::Rng& rng) const;

  const space::Space* space_;
};

}  // namespace lutnas::search

#endif  // LUTNAS_SEARCH_VARIATION_H_
