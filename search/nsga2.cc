#include "search/nsga2.h"

#include <algorithm>
#include <limits>

namespace lutnas::search {

bool ConstrainedDominates(const NsgaPoint& a, const NsgaPoint& b) {
  if (a.feasible != b.feasible) return a.feasible;
  if (!a.feasible) return a.violation < b.violation;
  const size_t m = std::min(a.objectives.size(), b.objectives.size());
  bool strict = false;
  for (size_t i = 0; i < m; ++i) {
    if (a.objectives[i] > b.objectives[i]) return false;
    strict = strict || a.objectives[i] < b.objectives[i];
  }
  return strict;
}

namespace {

// Crowding distance of the points of one front, added into `crowd`.
void Crowd(const std::vector<NsgaPoint>& p, const std::vector<int>& front, std::vector<double>* crowd) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (front.size() <= 2) {
    for (int i : front) (*crowd)[i] = kInf;
    return;
  }
  size_t m_count = p[front[0]].objectives.size();
  for (int i : front) m_count = std::min(m_count, p[i].objectives.size());
  for (size_t m = 0; m < m_count; ++m) {
    std::vector<int> order = front;
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return p[a].objectives[m] < p[b].objectives[m]; });
    const double lo = p[order.front()].objectives[m], hi = p[order.back()].objectives[m];
    (*crowd)[order.front()] = kInf;
    (*crowd)[order.back()] = kInf;
    if (!(hi > lo)) continue;
    for (size_t k = 1; k + 1 < order.size(); ++k)
      (*crowd)[order[k]] += (p[order[k + 1]].objectives[m] - p[order[k - 1]].objectives[m]) / (hi - lo);
  }
}

}  // namespace

NsgaRanking RankAndCrowd(const std::vector<NsgaPoint>& points) {
  const int n = static_cast<int>(points.size());
  NsgaRanking r;
  r.rank.assign(n, 0);
  r.crowding.assign(n, 0);
  std::vector<std::vector<int>> dominated(n);  // i -> points i dominates
  std::vector<int> count(n, 0);                // how many dominate i
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      if (ConstrainedDominates(points[i], points[j])) {
        dominated[i].push_back(j);
        ++count[j];
      } else if (ConstrainedDominates(points[j], points[i])) {
        dominated[j].push_back(i);
        ++count[i];
      }
    }
  std::vector<int> current;
  for (int i = 0; i < n; ++i)
    if (count[i] == 0) current.push_back(i);
  while (!current.empty()) {
    std::vector<int> next;
    for (int i : current) {
      r.rank[i] = static_cast<int>(r.fronts.size());
      for (int j : dominated[i])
        if (--count[j] == 0) next.push_back(j);
    }
    std::sort(next.begin(), next.end());
    Crowd(points, current, &r.crowding);
    r.fronts.push_back(std::move(current));
    current = std::move(next);
  }
  return r;
}

std::vector<int> SelectSurvivors(const std::vector<NsgaPoint>& points, int n) {
  const NsgaRanking r = RankAndCrowd(points);
  std::vector<int> out;
  for (auto front : r.fronts) {
    if (static_cast<int>(out.size()) >= n) break;
    if (static_cast<int>(out.size() + front.size()) > n) {
      std::stable_sort(front.begin(), front.end(),
                       [&](int a, int b) { return r.crowding[a] > r.crowding[b]; });
      front.resize(n - out.size());
    }
    out.insert(out.end(), front.begin(), front.end());
  }
  return out;
}

}  // namespace lutnas::search
