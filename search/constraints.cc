#include "search/constraints.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace lutnas::search {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

Constraints::Constraints(const EngineOptions& options)
    : budgets_(options.latency_budgets_ms),
      max_params_(options.max_params),
      max_macs_(options.max_macs),
      soft_(options.soft),
      soft_weight_(options.soft_weight),
      external_(options.external) {
  for (size_t i = 0; i < budgets_.size(); ++i)
    if (budgets_[i] > 0) constrained_.push_back(static_cast<int>(i));
}

double Constraints::Latency(const Evaluation& e, int i) const {
  return i < static_cast<int>(e.latency_ms.size()) ? e.latency_ms[i] : kNaN;
}

bool Constraints::Feasible(const Evaluation& e) const {
  if (soft_) return true;
  for (int i : constrained_)
    if (!(Latency(e, i) <= budgets_[i])) return false;
  if (max_params_ > 0 && e.params > max_params_) return false;
  if (max_macs_ > 0 && e.macs > max_macs_) return false;
  return true;
}

double Constraints::Violation(const Evaluation& e) const {
  if (soft_) return 0;
  double v = 0;
  for (int i : constrained_) {
    const double t = budgets_[i];
    const double lat = Latency(e, i);
    if (std::isnan(lat))
      v += 1e9;
    else if (lat > t)
      v += lat / t - 1;
  }
  if (max_params_ > 0 && e.params > max_params_) v += static_cast<double>(e.params) / max_params_ - 1;
  if (max_macs_ > 0 && e.macs > max_macs_) v += static_cast<double>(e.macs) / max_macs_ - 1;
  return v;
}

double Constraints::Fitness(const Evaluation& e) const {
  if (std::isnan(e.score)) return external_ ? kNaN : -kInf;
  if (!soft_) return e.score;
  // MnasNet: score * prod (lat_i / T_i)^w. For a negative score the factor
  // divides, so that a slower network is still penalised.
  double factor = 1;
  for (int i : constrained_) {
    const double lat = Latency(e, i);
    const double ratio = std::isnan(lat) ? 1e9 : std::max(lat, 1e-12) / budgets_[i];
    factor *= std::pow(ratio, soft_weight_);
  }
  return e.score >= 0 ? e.score * factor : e.score / factor;
}

bool Constraints::IsFinal(const Evaluation& e) const { return !external_ || !std::isnan(e.score); }

std::string Constraints::WhyInfeasible(const std::vector<const Evaluation*>& samples) const {
  using absl::StrCat;
  const size_t n = samples.size();
  double worst = 1;
  std::string why;
  for (int i : constrained_) {
    double lo = kInf;
    for (const Evaluation* e : samples) {
      const auto& lat = e->latency_ms;
      if (i < static_cast<int>(lat.size()) && lat[i] < lo) lo = lat[i];
    }
    const double t = budgets_[i];
    if (lo > t && lo / t > worst) {
      worst = lo / t;
      why = StrCat("the fastest of ", n, " samples needs ", lo, " ms on budget #", i, " (limit ", t, " ms)");
    }
  }
  auto cap = [&](int64_t limit, bool params) {
    if (limit <= 0) return;
    int64_t lo = std::numeric_limits<int64_t>::max();
    for (const Evaluation* e : samples) lo = std::min(lo, params ? e->params : e->macs);
    const double r = static_cast<double>(lo) / limit;
    if (lo > limit && r > worst) {
      worst = r;
      why = StrCat("the smallest of ", n, " samples has ", lo,
                   params ? " params (max_params " : " MACs (max_macs ", limit, ")");
    }
  };
  cap(max_params_, true);
  cap(max_macs_, false);
  if (why.empty())
    why = StrCat("none of ", n, " samples meets every constraint at once, though each alone is met");
  return why;
}

}  // namespace lutnas::search
