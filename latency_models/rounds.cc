#include "latency_models/rounds.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "base/rng.h"

namespace lutnas::latency {
namespace {

constexpr double kMissing = HUGE_VAL;  // a (key, round) cell that was not timed

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

double Median(std::vector<double> v) { return Quantile(std::move(v), 0.5); }

// Tukey's median polish of y[row][round] (log times; kMissing cells left
// out): row effects mu (a key's typical log time) and round effects g
// (median 0 over rounds).
void MedianPolish(const std::vector<std::vector<double>>& y, std::vector<double>* mu,
                  std::vector<double>* g) {
  const size_t rows = y.size(), cols = rows ? y[0].size() : 0;
  mu->assign(rows, 0);
  g->assign(cols, 0);
  std::vector<double> v;
  auto rows_pass = [&] {
    for (size_t k = 0; k < rows; ++k) {
      v.clear();
      for (size_t r = 0; r < cols; ++r)
        if (y[k][r] != kMissing) v.push_back(y[k][r] - (*g)[r]);
      (*mu)[k] = v.empty() ? 0 : Median(v);
    }
  };
  for (int it = 0; it < 10; ++it) {
    rows_pass();
    for (size_t r = 0; r < cols; ++r) {
      v.clear();
      for (size_t k = 0; k < rows; ++k)
        if (y[k][r] != kMissing) v.push_back(y[k][r] - (*mu)[k]);
      (*g)[r] = v.empty() ? 0 : Median(v);
    }
    const double center = Median(*g);
    for (double& x : *g) x -= center;
  }
  rows_pass();
}

}  // namespace

RoundsResult MeasureRounds(int n, const RoundsOptions& o, double reference_target_ms, const RoundTimer& timer,
                           const std::function<void(int, int)>& progress) {
  const auto steady = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  auto now = [&] { return timer.now_s ? timer.now_s() : steady(); };
  base::Rng rng(o.seed);
  const int ref = n;  // the reference's row
  std::vector<bool> failed(n, false);
  // samples[row][round]: raw times; rows 0..n-1 workloads, row n the reference.
  std::vector<std::vector<std::vector<double>>> samples(n + 1);
  std::vector<int> order;

  auto time_one = [&](int i) {
    const double ms = timer.time_once(i == ref ? -1 : i);
    if (!(ms >= 0) || !std::isfinite(ms)) {
      if (i != ref) failed[i] = true;
      return -1.0;
    }
    return ms;
  };
  auto run_round = [&](const std::vector<int>& active) {
    for (auto& row : samples) row.emplace_back();
    const size_t r = samples[ref].size() - 1;
    for (int s = 0; s < std::max(1, o.reference_samples); ++s) {
      const double ms = time_one(ref);
      if (ms >= 0) samples[ref][r].push_back(ms);
    }
    order = active;
    for (int i = static_cast<int>(order.size()) - 1; i > 0; --i)
      std::swap(order[i], order[rng.Uniform(i + 1)]);
    for (int k : order) {
      double spent = 0;
      for (int s = 0; s < std::max(1, o.max_samples) && !failed[k]; ++s) {
        const double ms = time_one(k);
        if (ms < 0) break;
        spent += ms;
        samples[k][r].push_back(ms);
        if (s + 1 >= o.min_samples && spent >= o.min_round_ms) break;
      }
    }
  };

  RoundsResult res;
  res.planned = std::max(1, o.rounds);
  std::vector<int> all(n);
  for (int i = 0; i < n; ++i) all[i] = i;
  const double t0 = now();
  for (int r = 0; r < res.planned; ++r) {
    run_round(all);
    if (progress) progress(static_cast<int>(static_cast<int64_t>(r + 1) * n / res.planned), n);
  }
  const double base_s = now() - t0;

  std::vector<double> mu, g;
  auto estimate = [&] {
    const size_t rounds = samples[ref].size();
    std::vector<std::vector<double>> y(n + 1, std::vector<double>(rounds, kMissing));
    for (int k = 0; k <= n; ++k) {
      if (k < n && failed[k]) continue;
      for (size_t r = 0; r < rounds; ++r) {
        const double m = Median(samples[k][r]);
        if (!samples[k][r].empty() && m > 0) y[k][r] = std::log(m);
      }
    }
    MedianPolish(y, &mu, &g);
    res.keys.assign(n, KeyEstimate());
    res.unreproducible = 0;
    for (int k = 0; k < n; ++k) {
      KeyEstimate& e = res.keys[k];
      e.failed = failed[k];
      if (e.failed) continue;
      std::vector<double> corrected_rounds;  // chronological
      for (size_t r = 0; r < rounds; ++r)
        if (y[k][r] != kMissing) corrected_rounds.push_back(y[k][r] - g[r]);
      e.rounds = static_cast<int>(corrected_rounds.size());
      if (e.rounds == 0) {
        e.failed = true;
        continue;
      }
      const size_t half = corrected_rounds.size() / 2;
      const std::vector<double> a(corrected_rounds.begin(), corrected_rounds.begin() + half),
          b(corrected_rounds.begin() + half, corrected_rounds.end());
      const double est = std::exp(mu[k]);
      e.median_ms = est;
      if (e.rounds >= 4) {
        e.half_a_ms = std::exp(Median(a));
        e.half_b_ms = std::exp(Median(b));
        e.half_rel_diff = std::fabs(e.half_a_ms - e.half_b_ms) / est;
        // Robust per-round sigma (MAD, log scale), the median's standard
        // error (x 1.2533 of a mean's) and that of the halves' difference.
        std::vector<double> dev;
        for (double x : corrected_rounds) dev.push_back(std::fabs(x - mu[k]));
        const double sigma = 1.4826 * Median(dev);
        const double se_med = 1.2533 * sigma / std::sqrt(static_cast<double>(e.rounds));
        const double se_diff = 1.2533 * sigma * std::sqrt(1.0 / a.size() + 1.0 / b.size());
        const double dlog = std::fabs(Median(a) - Median(b));
        e.interval_rel = 2 * se_med;
        // Reproduces: its interval is within the tolerance, and its halves
        // differ by no more than the tolerance or than chance (3 standard
        // errors) explains: a key whose time moves on its own is caught,
        // a merely noisy one gets rounds until its interval is narrow.
        e.halves_agree = !(dlog > o.key_tolerance && dlog > 3 * se_diff);
        e.reproducible = e.interval_rel <= o.key_tolerance && e.halves_agree;
      } else {
        e.half_a_ms = e.half_b_ms = est;
      }
      res.unreproducible += !e.reproducible;
      if (std::getenv("LUTNAS_ROUNDS_DEBUG"))
        std::fprintf(stderr, "key %d est %.5g halves %.5g %.5g diff %.4f tol %.4f rep %d rounds %d\n", k, est,
                     e.half_a_ms, e.half_b_ms, e.half_rel_diff, o.key_tolerance, e.reproducible, e.rounds);
      std::vector<double> rm;
      for (double x : corrected_rounds) rm.push_back(std::exp(x));
      e.round_spread = est > 0 ? (Quantile(rm, 0.9) - Quantile(rm, 0.1)) / est : 0;
    }
  };
  estimate();
  // Extra rounds for the keys that do not reproduce yet, with anchors.
  while (res.extra < o.max_extra_rounds && res.unreproducible > 0 &&
         now() - t0 - base_s <= o.extra_time_factor * base_s) {
    std::vector<int> active, stable;
    for (int k = 0; k < n; ++k) {
      if (res.keys[k].failed) continue;
      (res.keys[k].reproducible ? stable : active).push_back(k);
    }
    // Anchors spread evenly over the reproducible keys (deterministic).
    const int na = std::min<int>(o.anchors, stable.size());
    for (int j = 0; j < na; ++j) active.push_back(stable[stable.size() * j / na]);
    run_round(active);
    ++res.extra;
    estimate();
  }

  const size_t rounds = samples[ref].size();
  res.reference_estimate_ms = std::exp(mu[ref]);
  const double target = reference_target_ms > 0 ? reference_target_ms : res.reference_estimate_ms;
  res.scale = res.reference_estimate_ms > 0 ? target / res.reference_estimate_ms : 1;
  for (size_t r = 0; r < rounds; ++r) {
    res.reference_ms.push_back(Median(samples[ref][r]));
    res.round_speed.push_back(std::exp(g[r]));
  }
  auto ratio = [](const std::vector<double>& v) {
    if (v.empty()) return 1.0;
    const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    return *mn > 0 ? *mx / *mn : 1.0;
  };
  res.reference_drift = ratio(res.reference_ms);
  res.round_drift = ratio(res.round_speed);
  for (int k = 0; k < n; ++k) {
    KeyEstimate& e = res.keys[k];
    if (e.failed) continue;
    std::vector<double> c;
    for (size_t r = 0; r < rounds; ++r)
      for (double ms : samples[k][r]) c.push_back(ms / std::exp(g[r]) * res.scale);
    e.median_ms *= res.scale;
    e.half_a_ms *= res.scale;
    e.half_b_ms *= res.scale;
    e.samples = static_cast<int>(c.size());
    e.p10_ms = std::min(Quantile(c, 0.1), e.median_ms);
    e.p90_ms = std::max(Quantile(c, 0.9), e.median_ms);
    e.iqr_ms = Quantile(c, 0.75) - Quantile(c, 0.25);
  }
  return res;
}

}  // namespace lutnas::latency
