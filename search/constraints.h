// Constraints and fitness of one search job: which latencies carry a budget,
// whether an evaluation meets every cap (hard mode), by how much it misses
// them (the total relative excess Deb's rule ranks by), the reward selection
// uses (the score, or MnasNet's soft reward) and whether a score is final.
// Pure functions of the options; immutable after construction, thread-safe.
#ifndef LUTNAS_SEARCH_CONSTRAINTS_H_
#define LUTNAS_SEARCH_CONSTRAINTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "search/engine.h"

namespace lutnas::search {

// The constraint and fitness rules of one job's EngineOptions (copied).
class Constraints {
 public:
  explicit Constraints(const EngineOptions& options);

  // Latency indices with a budget > 0, ascending.
  const std::vector<int>& constrained() const { return constrained_; }
  double budget(int i) const { return budgets_[i]; }

  // Every hard constraint met: each constrained latency (a missing or NaN
  // one fails) within its budget, params and MACs within their caps. Soft
  // mode: always.
  bool Feasible(const Evaluation& e) const;
  // Sum over the missed constraints of value / limit - 1 (a missing or NaN
  // constrained latency adds 1e9); 0 when feasible and in soft mode.
  double Violation(const Evaluation& e) const;
  // The reward selection uses: the score (hard mode) or the MnasNet reward
  // score * prod (lat_i / T_i)^w over the constrained latencies (soft mode;
  // a negative score is divided by the factor). A NaN score gives NaN in
  // external mode (pending), else -inf.
  double Fitness(const Evaluation& e) const;
  // The score is known: always, unless external and not yet told.
  bool IsFinal(const Evaluation& e) const;

  // Why none of `samples` is feasible: the constraint that even its best
  // sample misses by the largest factor ("the fastest of N samples needs X ms
  // on budget #i (limit T ms)", "the smallest of N samples has X params
  // (max_params M)"), or that each constraint alone is met by some sample.
  std::string WhyInfeasible(const std::vector<const Evaluation*>& samples) const;

 private:
  double Latency(const Evaluation& e, int i) const;

  std::vector<double> budgets_;
  std::vector<int> constrained_;
  int64_t max_params_;
  int64_t max_macs_;
  bool soft_;
  double soft_weight_;
  bool external_;
};

}  // namespace lutnas::search

#endif  // LUTNAS_SEARCH_CONSTRAINTS_H_
