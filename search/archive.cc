#include "search/archive.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace lutnas::search {

bool ParetoDominates(const Evaluation& a, const Evaluation& b) {
  if (a.score < b.score) return false;
  bool strict = a.score > b.score;
  const size_t n = std::min(a.latency_ms.size(), b.latency_ms.size());
  for (size_t i = 0; i < n; ++i) {
    if (!(a.latency_ms[i] <= b.latency_ms[i])) return false;
    strict = strict || a.latency_ms[i] < b.latency_ms[i];
  }
  return strict;
}

void ParetoInsert(const std::vector<Individual>& individuals, int idx, std::vector<int>* front) {
  const Individual& x = individuals[idx];
  if (!x.feasible || std::isnan(x.eval.score)) return;
  for (int f : *front)
    if (ParetoDominates(individuals[f].eval, x.eval)) return;
  front->erase(std::remove_if(front->begin(), front->end(),
                              [&](int f) { return ParetoDominates(x.eval, individuals[f].eval); }),
               front->end());
  front->push_back(idx);
}

int Archive::Add(space::Genotype genotype, std::string key, const Evaluation& eval, int generation) {
  Individual ind;
  ind.genotype = std::move(genotype);
  ind.key = std::move(key);
  ind.eval = eval;
  ind.feasible = constraints_->Feasible(eval);
  ind.fitness = constraints_->Fitness(eval);
  ind.generation = generation;
  const int idx = size();
  index_.emplace(ind.key, idx);
  individuals_.push_back(std::move(ind));
  return idx;
}

void Archive::OnFinal(int idx) {
  const Individual& ind = individuals_[idx];
  ++evaluated_;
  if (ind.feasible) {
    ++feasible_;
    if (!std::isnan(ind.fitness)) best_ = std::max(best_, ind.fitness);
    ParetoInsert(individuals_, idx, &front_);
  }
}

void Archive::SetScore(int idx, double score) {
  Individual& ind = individuals_[idx];
  ind.eval.score = score;
  ind.fitness = constraints_->Fitness(ind.eval);
  OnFinal(idx);
}

void Archive::Reset(std::vector<Individual> individuals) {
  individuals_ = std::move(individuals);
  index_.clear();
  evaluated_ = feasible_ = 0;
  best_ = -std::numeric_limits<double>::infinity();
  front_.clear();
  for (int i = 0; i < size(); ++i) {
    Individual& ind = individuals_[i];
    ind.feasible = constraints_->Feasible(ind.eval);
    ind.fitness = constraints_->Fitness(ind.eval);
    index_.emplace(ind.key, i);
    if (constraints_->IsFinal(ind.eval)) OnFinal(i);
  }
}

int Archive::Find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? -1 : it->second;
}

std::vector<Individual> Archive::ParetoFront() const {
  std::vector<int> f = front_;
  std::sort(f.begin(), f.end(), [&](int a, int b) {
    if (individuals_[a].eval.score != individuals_[b].eval.score)
      return individuals_[a].eval.score > individuals_[b].eval.score;
    return a < b;
  });
  std::vector<Individual> out;
  for (int i : f) out.push_back(individuals_[i]);
  return out;
}

std::vector<Individual> Archive::Best(int k) const {
  std::vector<int> idx;
  for (int i = 0; i < size(); ++i) {
    const Individual& ind = individuals_[i];
    if (ind.feasible && constraints_->IsFinal(ind.eval) && !std::isnan(ind.fitness)) idx.push_back(i);
  }
  auto cmp = [&](int a, int b) {
    if (individuals_[a].fitness != individuals_[b].fitness)
      return individuals_[a].fitness > individuals_[b].fitness;
    return a < b;
  };
  const size_t n = std::min<size_t>(std::max(k, 0), idx.size());
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), cmp);
  std::vector<Individual> out;
  for (size_t i = 0; i < n; ++i) out.push_back(individuals_[idx[i]]);
  return out;
}

}  // namespace lutnas::search
