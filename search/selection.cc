#include "search/selection.h"

#include <algorithm>
#include <cmath>

namespace lutnas::search {

bool Better(const Constraints& c, const Individual& a, const Individual& b) {
  if (a.feasible != b.feasible) return a.feasible;
  if (!a.feasible) {
    const double va = c.Violation(a.eval), vb = c.Violation(b.eval);
    if (va != vb) return va < vb;
  }
  return a.fitness > b.fitness;
}

int Tournament(const Constraints& c, const std::vector<Individual>& archive,
               const std::deque<int>& population, int sample_size, base::Rng& rng) {
  const int n = static_cast<int>(population.size());
  int best_idx = population[rng.Uniform(n)];
  for (int i = 1; i < sample_size; ++i) {
    const int x = population[rng.Uniform(n)];
    if (Better(c, archive[x], archive[best_idx])) best_idx = x;
  }
  return best_idx;
}

std::vector<double> NsgaObjectives(const Constraints& c, const Evaluation& e) {
  auto clamp = [](double x) { return std::isnan(x) ? 1e300 : std::max(-1e300, std::min(1e300, x)); };
  std::vector<double> o;
  o.push_back(std::isnan(e.score) ? 1e300 : clamp(-e.score));
  o.push_back(static_cast<double>(e.params));
  const auto& lat = e.latency_ms;
  if (!c.constrained().empty()) {
    for (int i : c.constrained()) o.push_back(i < static_cast<int>(lat.size()) ? clamp(lat[i]) : 1e300);
  } else {
    for (double l : lat) o.push_back(clamp(l));
  }
  return o;
}

std::vector<NsgaPoint> NsgaPoints(const Constraints& c, const std::vector<Individual>& archive,
                                  const std::vector<int>& members) {
  std::vector<NsgaPoint> p;
  for (int i : members)
    p.push_back({NsgaObjectives(c, archive[i].eval), archive[i].feasible, c.Violation(archive[i].eval)});
  return p;
}

int BinaryTournament(const NsgaRanking& ranking, base::Rng& rng) {
  const std::vector<int>& rank = ranking.rank;
  const std::vector<double>& crowd = ranking.crowding;
  const int n = static_cast<int>(rank.size());
  const int a = rng.Uniform(n), b = rng.Uniform(n);
  if (rank[a] != rank[b]) return rank[a] < rank[b] ? a : b;
  if (crowd[a] != crowd[b]) return crowd[a] > crowd[b] ? a : b;
  return std::min(a, b);
}

std::vector<int> NsgaSurvivors(const Constraints& c, const std::vector<Individual>& archive,
                               const std::vector<int>& combined, int n) {
  std::vector<int> out;
  for (int i : SelectSurvivors(NsgaPoints(c, archive, combined), n)) out.push_back(combined[i]);
  return out;
}

}  // namespace lutnas::search
