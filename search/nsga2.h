// NSGA-II building blocks (Deb et al. 2002) on plain objective vectors:
// constraint-domination (a feasible point beats any infeasible one; among
// infeasible points the smaller total violation wins), fast non-dominated
// sorting, crowding distance and (mu + lambda) truncation. Pure functions,
// deterministic (ties keep input order); thread-safe.
#ifndef LUTNAS_SEARCH_NSGA2_H_
#define LUTNAS_SEARCH_NSGA2_H_

#include <vector>

namespace lutnas::search {

// One individual as NSGA-II sees it.
struct NsgaPoint {
  std::vector<double> objectives;  // all minimised, finite
  bool feasible = true;
  double violation = 0;  // total constraint violation (infeasible only)
};

// Deb's constraint-domination; objectives compared over the shorter vector.
bool ConstrainedDominates(const NsgaPoint& a, const NsgaPoint& b);

// Non-dominated fronts (indices into the input, ascending within a front),
// each point's front rank and crowding distance within its front
// (boundary points and fronts of 1-2 points: infinity).
struct NsgaRanking {
  std::vector<std::vector<int>> fronts;
  std::vector<int> rank;
  std::vector<double> crowding;
};
NsgaRanking RankAndCrowd(const std::vector<NsgaPoint>& points);

// Indices of the `n` survivors, best first: whole fronts in rank order, the
// last one cut by decreasing crowding distance.
std::vector<int> SelectSurvivors(const std::vector<NsgaPoint>& points, int n);

}  // namespace lutnas::search

#endif  // LUTNAS_SEARCH_NSGA2_H_
