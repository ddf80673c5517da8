// The archive of one search job: every evaluated genotype, in the order it
// was evaluated, with what is derived from it (key index, counts of final
// and feasible individuals, best feasible fitness, and the Pareto front on
// max score and min every latency). Not thread-safe: one engine owns one.
#ifndef LUTNAS_SEARCH_ARCHIVE_H_
#define LUTNAS_SEARCH_ARCHIVE_H_

#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "search/constraints.h"
#include "search/engine.h"

namespace lutnas::search {

// Strict Pareto dominance on (max score, min every latency), latencies
// compared over the shorter vector; a NaN latency dominates nothing and is
// dominated by nothing.
bool ParetoDominates(const Evaluation& a, const Evaluation& b);

// Adds `individuals[idx]` to `front` (indices into `individuals`, mutually
// non-dominated) when it is feasible, scored and dominated by no member;
// drops the members it dominates. An equal point joins the front.
void ParetoInsert(const std::vector<Individual>& individuals, int idx, std::vector<int>* front);

// Individuals in archive order plus the derived bookkeeping; the
// constraints (which must outlive it) decide feasibility and fitness.
class Archive {
 public:
  explicit Archive(const Constraints* constraints) : constraints_(constraints) {}

  // Appends an evaluated genotype (feasibility and fitness from the
  // constraints) and returns its index; the key must be new. Call OnFinal
  // once its score is known.
  int Add(space::Genotype genotype, std::string key, const Evaluation& eval, int generation);
  // Counts individual `idx` as evaluated, and feasible, best and on the
  // front where it qualifies.
  void OnFinal(int idx);
  // Records the external score of pending individual `idx`, then OnFinal.
  void SetScore(int idx, double score);
  // Replaces the contents (distinct keys) and rederives everything from
  // their evaluations.
  void Reset(std::vector<Individual> individuals);

  // Index of `key`, or -1.
  int Find(const std::string& key) const;
  bool Contains(const std::string& key) const { return index_.count(key) > 0; }
  const Individual& at(int idx) const { return individuals_[idx]; }
  const std::vector<Individual>& individuals() const { return individuals_; }
  int size() const { return static_cast<int>(individuals_.size()); }

  int64_t evaluated() const { return evaluated_; }
  int64_t feasible() const { return feasible_; }
  double best() const { return best_; }  // -inf while none is feasible
  int front_size() const { return static_cast<int>(front_.size()); }

  // The front by score, best first (ties: archive order).
  std::vector<Individual> ParetoFront() const;
  // Feasible, final individuals by fitness, best first (ties: archive order).
  std::vector<Individual> Best(int k) const;

 private:
  const Constraints* constraints_;
  std::vector<Individual> individuals_;
  std::unordered_map<std::string, int> index_;  // key -> index
  int64_t evaluated_ = 0;
  int64_t feasible_ = 0;
  double best_ = -std::numeric_limits<double>::infinity();
  std::vector<int> front_;
};

}  // namespace lutnas::search

#endif  // LUTNAS_SEARCH_ARCHIVE_H_
