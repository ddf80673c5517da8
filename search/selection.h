// Selection of one search job: aging evolution's tournament order, and
// NSGA-II's objective vectors, binary tournament and survivor choice. Pure
// functions of their arguments (randomness from the caller's Rng, one draw
// sequence per call documented below, so that a seed fixes the search);
// thread-safe when each thread passes its own Rng.
#ifndef LUTNAS_SEARCH_SELECTION_H_
#define LUTNAS_SEARCH_SELECTION_H_

#include <deque>
#include <vector>

#include "base/rng.h"
#include "search/constraints.h"
#include "search/engine.h"
#include "search/nsga2.h"

namespace lutnas::search {

// Aging-evolution order: feasible first, then the smaller violation (among
// infeasible ones), then the higher fitness.
bool Better(const Constraints& c, const Individual& a, const Individual& b);

// Tournament of `sample_size` draws (rng.Uniform(population.size()) each,
// with replacement) from `population` (indices into `archive`, not empty):
// the Better one wins, the earliest draw on ties. Returns its archive index.
int Tournament(const Constraints& c, const std::vector<Individual>& archive,
               const std::deque<int>& population, int sample_size, base::Rng& rng);

// NSGA-II objective vector, all minimised and clamped to +-1e300 (NaN:
// 1e300): -score, params, then the constrained latencies (a missing one:
// 1e300), or every latency when none is constrained.
std::vector<double> NsgaObjectives(const Constraints& c, const Evaluation& e);

// The NSGA-II points of `members` (indices into `archive`), in order.
std::vector<NsgaPoint> NsgaPoints(const Constraints& c, const std::vector<Individual>& archive,
                                  const std::vector<int>& members);

// Binary tournament on a ranking of n points: two draws a, b =
// rng.Uniform(n); the lower rank wins, then the larger crowding distance,
// then the smaller index. Returns the index into the ranked points.
int BinaryTournament(const NsgaRanking& ranking, base::Rng& rng);

// NSGA-II (mu + lambda) survivors: the `n` best of `combined` (indices into
// `archive`), as archive indices, best first.
std::vector<int> NsgaSurvivors(const Constraints& c, const std::vector<Individual>& archive,
                               const std::vector<int>& combined, int n);

}  // namespace lutnas::search

#endif  // LUTNAS_SEARCH_SELECTION_H_
