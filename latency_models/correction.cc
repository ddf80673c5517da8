#include "latency_models/correction.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lutnas::latency {
namespace {

using absl::StrCat;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t m = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + m, v.end());
  const double hi = v[m];
  if (v.size() % 2) return hi;
  return (*std::max_element(v.begin(), v.begin() + m) + hi) / 2;
}

// Floor of the range a check uses: the smaller of the table's and the
// correction's own (a correction can only be stricter).
double Floor(const v1::Correction& c, SumRange range) {
  double f = range.min_ms;
  if (c.range_min_ms() > 0) f = f > 0 ? std::min(f, c.range_min_ms()) : c.range_min_ms();
  return f;
}

v1::Correction Ratio(const std::vector<double>& s, const std::vector<double>& m) {
  std::vector<double> r;
  for (size_t i = 0; i < s.size(); ++i) r.push_back(m[i] / s[i]);
  v1::Correction c;
  c.set_scale(r.empty() ? 1.0 : Median(r));
  c.set_offset_ms(0);
  c.set_method("ratio-median");
  return c;
}

v1::Correction TheilSen(const std::vector<double>& s, const std::vector<double>& m) {
  const size_t n = s.size();
  double xmax = 0;
  for (double x : s) xmax = std::max(xmax, std::fabs(x));
  std::vector<double> slopes;
  slopes.reserve(n * (n - 1) / 2);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      const double dx = s[j] - s[i];
      if (std::fabs(dx) > 1e-9 * xmax) slopes.push_back((m[j] - m[i]) / dx);
    }
  if (slopes.empty()) return Ratio(s, m);
  v1::Correction c;
  c.set_scale(Median(slopes));
  std::vector<double> res;
  for (size_t i = 0; i < n; ++i) res.push_back(m[i] - c.scale() * s[i]);
  c.set_offset_ms(Median(res));
  c.set_method("theil-sen");
  return c;
}

// Weighted least squares of y on the columns of X (rows), weights w; false
// when singular. Gaussian elimination with partial pivoting, <= 4 columns.
bool SolveLs(const std::vector<std::vector<double>>& X, const std::vector<double>& y,
             const std::vector<double>& w, std::vector<double>* beta) {
  const size_t k = X.empty() ? 0 : X[0].size();
  std::vector<std::vector<double>> A(k, std::vector<double>(k + 1, 0.0));
  for (size_t r = 0; r < X.size(); ++r)
    for (size_t i = 0; i < k; ++i) {
      for (size_t j = 0; j < k; ++j) A[i][j] += w[r] * X[r][i] * X[r][j];
      A[i][k] += w[r] * X[r][i] * y[r];
    }
  for (size_t c = 0; c < k; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < k; ++r)
      if (std::fabs(A[r][c]) > std::fabs(A[piv][c])) piv = r;
    if (!(std::fabs(A[piv][c]) > 1e-12 * (std::fabs(A[c][c]) + 1e-300))) return false;
    std::swap(A[c], A[piv]);
    for (size_t r = 0; r < k; ++r) {
      if (r == c) continue;
      const double f = A[r][c] / A[c][c];
      for (size_t j = c; j <= k; ++j) A[r][j] -= f * A[c][j];
    }
  }
  beta->assign(k, 0);
  for (size_t i = 0; i < k; ++i) (*beta)[i] = A[i][k] / A[i][i];
  for (double b : *beta)
    if (!std::isfinite(b)) return false;
  return true;
}

double Mape(const v1::Correction& c, const std::vector<double>& s, const std::vector<double>& m) {
  double e = 0;
  for (size_t i = 0; i < s.size(); ++i) e += std::fabs(c.scale() * s[i] + c.offset_ms() - m[i]) / m[i];
  return s.empty() ? 0 : e / s.size();
}

// Leave-one-out predictions of `method`.
std::vector<double> LooPredictions(const std::vector<double>& s, const std::vector<double>& m,
                                   const std::string& method) {
  const size_t n = s.size();
  std::vector<double> out(n);
  std::vector<double> s2, m2;
  for (size_t i = 0; i < n; ++i) {
    s2.clear();
    m2.clear();
    for (size_t j = 0; j < n; ++j)
      if (j != i) s2.push_back(s[j]), m2.push_back(m[j]);
    const auto c = method == "theil-sen" ? TheilSen(s2, m2) : Ratio(s2, m2);
    out[i] = c.scale() * s[i] + c.offset_ms();
  }
  return out;
}

// Leave-one-out predictions of the key-terms fit (scale 0 fits: the plain sum).
std::vector<double> LooFit(const std::vector<FitSample>& x, SumRange range,
                           v1::Correction (*fit)(const std::vector<FitSample>&, SumRange)) {
  std::vector<double> out(x.size());
  std::vector<FitSample> rest;
  for (size_t i = 0; i < x.size(); ++i) {
    rest.clear();
    for (size_t j = 0; j < x.size(); ++j)
      if (j != i) rest.push_back(x[j]);
    const auto c = fit(rest, range);
    out[i] = c.scale() > 0 ? CorrectedSample(c, x[i]) : x[i].sum_ms;
  }
  return out;
}

void Summarize(const std::vector<double>& p, const std::vector<double>& m, double* within, double* mape) {
  int w = 0;
  double e = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double rel = std::fabs(p[i] - m[i]) / m[i];
    w += rel <= 0.10;
    e += rel;
  }
  *within = p.empty() ? 0 : static_cast<double>(w) / p.size();
  *mape = p.empty() ? 0 : e / p.size();
}

}  // namespace

std::string KeyType(const std::string& key) { return key.substr(0, key.find(':')); }

double TypeFactor(const v1::Correction& c, const std::string& type) {
  const auto it = c.type_factors().find(type);
  return it == c.type_factors().end() ? 1.0 : it->second;
}

double MinTypeFactor(const v1::Correction& c) {
  double f = 1;
  for (const auto& [t, v] : c.type_factors()) f = std::min(f, v);
  return f;
}

double CorrectedSample(const v1::Correction& c, const FitSample& s) {
  if (!(c.scale() > 0)) return s.sum_ms;
  double sum = s.sum_ms;
  if (!c.type_factors().empty() && !s.type_ms.empty()) {
    sum = 0;
    for (const auto& [t, ms] : s.type_ms) sum += TypeFactor(c, t) * ms;
  }
  return c.scale() * (sum + s.keys * c.key_overhead_ms() + s.params / 1e6 * c.key_ms_per_mparam()) +
         c.offset_ms();
}

namespace {

// The key-terms fit, with one deviation column per entry of `types` (ridge
// `lambda`) when it is not empty.
v1::Correction FitTerms(const std::vector<FitSample>& x, SumRange range,
                        const std::vector<std::string>& types, double lambda,
                        const std::vector<double>* robust = nullptr) {
  // Columns: sum (always), the types' deviations, Mparams, keys, 1; b >= 0
  // (weights cannot make a network faster; the offset takes any sign and is
  // checked later). The best fit among the column subsets whose coefficients
  // are feasible. Bounds are met by an active set rather than by dropping
  // the subset: a type factor outside [kMinTypeFactor, kMaxTypeFactor], or a
  // negative per-key overhead beyond kMaxKeyOverheadShare of the table's
  // smallest entry, is fixed at its bound and the rest refitted.
  v1::Correction best;
  double best_sse = HUGE_VAL;
  std::vector<double> y, w;
  for (const auto& s : x) y.push_back(s.measured_ms), w.push_back(1 / (s.measured_ms * s.measured_ms));
  if (robust && robust->size() == w.size())
    for (size_t i = 0; i < w.size(); ++i) w[i] *= (*robust)[i];
  auto type_ms = [](const FitSample& s, const std::string& t) {
    const auto it = s.type_ms.find(t);
    return it == s.type_ms.end() ? 0.0 : it->second;
  };
  const size_t nt = types.size();
  // Ridge on each type's deviation from the shared coefficient, in the
  // residuals' units (relative errors): a deviation of 0.1 costs as much as
  // every network being off by sqrt(lambda) * 0.1. A type with little time
  // in the networks cannot pull its factor far from 1.
  const double penalty = lambda * static_cast<double>(x.size());
  const double min_overhead = range.min_key_ms > 0 ? -kMaxKeyOverheadShare * range.min_key_ms : 0;
  for (int mask = 0; mask < 8; ++mask) {
    std::vector<double> fixed(nt, 0);  // 0: free, else the type's factor, fixed at a bound
    bool overhead_fixed = false;       // key overhead fixed at fixed_overhead
    double fixed_overhead = 0;
    for (size_t round = 0; round <= nt + 10; ++round) {
      std::vector<size_t> free;
      for (size_t t = 0; t < nt; ++t)
        if (fixed[t] == 0) free.push_back(t);
      const bool key_col = (mask & 2) && !overhead_fixed;
      std::vector<std::vector<double>> X;
      std::vector<double> yy = y, ww = w;
      for (const auto& s : x) {
        double base = s.sum_ms;  // a's column: fixed types at their factor, the fixed overhead
        for (size_t t = 0; t < nt; ++t)
          if (fixed[t] != 0) base += (fixed[t] - 1) * type_ms(s, types[t]);
        if (overhead_fixed) base += fixed_overhead * s.keys;
        std::vector<double> row{base};
        for (size_t t : free) row.push_back(type_ms(s, types[t]));
        if (mask & 1) row.push_back(s.params / 1e6);
        if (key_col) row.push_back(s.keys);
        if (mask & 4) row.push_back(1.0);
        X.push_back(std::move(row));
      }
      const size_t cols = X[0].size();
      if (X.size() < cols - free.size() + 2) break;
      for (size_t j = 0; j < free.size(); ++j) {  // ridge rows: penalty * dev^2
        std::vector<double> row(cols, 0.0);
        row[1 + j] = 1;
        X.push_back(std::move(row));
        yy.push_back(0);
        ww.push_back(penalty);
      }
      std::vector<double> beta;
      if (!SolveLs(X, yy, ww, &beta)) break;
      size_t i = 0;
      const double a = beta[i++];
      const std::vector<double> dev(beta.begin() + 1, beta.begin() + 1 + free.size());
      i += free.size();
      const double b = (mask & 1) ? beta[i++] : 0;
      const double d = key_col ? beta[i++] : 0;
      const double e = (mask & 4) ? beta[i++] : 0;
      if (!(a > 0) || b < 0) break;
      const double overhead = overhead_fixed ? fixed_overhead : d / a;
      // Bounds: fix what is out of them and solve again.
      bool refit = false;
      double min_factor = 1;
      for (size_t j = 0; j < free.size(); ++j) {
        const double f = (a + dev[j]) / a;
        if (f < kMinTypeFactor) fixed[free[j]] = kMinTypeFactor, refit = true;
        if (f > kMaxTypeFactor) fixed[free[j]] = kMaxTypeFactor, refit = true;
        min_factor = std::min(min_factor, std::clamp(f, kMinTypeFactor, kMaxTypeFactor));
      }
      for (double f : fixed)
        if (f != 0) min_factor = std::min(min_factor, f);
      if (overhead < 0) {
        if (!(range.min_key_ms > 0)) break;  // no bound known: a negative overhead is unsafe
        // The table's share bound, and CheckCorrection's at the smallest
        // network (two keys: scale * (floor * min factor + 2 overhead) +
        // offset >= kMinCorrectionScale * floor), 1% inside both (a refit moves
        // scale and offset a little).
        double lo = min_overhead;
        if (range.min_ms > 0)
          lo = std::max(lo, ((kMinCorrectionScale * range.min_ms - e) / a - range.min_ms * min_factor) / 2);
        lo += 1e-2 * std::fabs(lo);
        if (overhead < lo) {
          if (lo >= 0) break;  // not even a zero overhead is safe here: this subset is out
          overhead_fixed = refit = true;
          fixed_overhead = lo;
        }
      }
      if (refit) continue;
      v1::Correction cand;
      cand.set_scale(a);
      cand.set_key_ms_per_mparam(b / a);
      cand.set_key_overhead_ms(overhead);
      cand.set_offset_ms(e);
      cand.set_method(nt ? "type-factors" : "key-terms");
      for (size_t t = 0; t < nt; ++t) (*cand.mutable_type_factors())[types[t]] = fixed[t];
      for (size_t j = 0; j < free.size(); ++j)
        (*cand.mutable_type_factors())[types[free[j]]] = (a + dev[j]) / a;
      if (!CheckCorrection(cand, "c", range, /*required=*/true).ok()) break;
      bool in_band = true;
      for (const auto& s : x) {
        const double q = CorrectedSample(cand, s) / s.sum_ms;
        in_band = in_band && q >= kMinCorrectionScale && q <= kMaxCorrectionScale;
      }
      if (!in_band) break;
      double sse = 0;
      for (size_t r = 0; r < x.size(); ++r) {
        const double p = CorrectedSample(cand, x[r]);
        sse += w[r] * (p - y[r]) * (p - y[r]);
      }
      if (sse < best_sse * (1 - 1e-12)) {
        best_sse = sse;
        best = cand;
      }
      break;
    }
  }
  return best;
}

}  // namespace

namespace {

// Huber IRLS around FitTerms: relative residuals beyond 1.345 robust
// standard deviations (1.4826 x their median absolute value) get weight
// k / |r|; three reweighting passes. A fit that fails on the reweighted
// problem keeps the last one that did not.
v1::Correction RobustTerms(const std::vector<FitSample>& x, SumRange range,
                           const std::vector<std::string>& types, double lambda) {
  v1::Correction c = FitTerms(x, range, types, lambda);
  for (int pass = 0; pass < 3 && c.scale() > 0; ++pass) {
    std::vector<double> r, a;
    for (const auto& s : x) r.push_back((CorrectedSample(c, s) - s.measured_ms) / s.measured_ms);
    for (double v : r) a.push_back(std::fabs(v));
    const double sigma = std::max(1.4826 * Median(a), 0.005);  // below 0.5%: noise floor
    const double k = 1.345 * sigma;
    std::vector<double> h;
    for (double v : r) h.push_back(std::fabs(v) <= k ? 1.0 : k / std::fabs(v));
    const v1::Correction next = FitTerms(x, range, types, lambda, &h);
    if (!(next.scale() > 0)) break;
    c = next;
  }
  return c;
}

}  // namespace

v1::Correction FitKeyTerms(const std::vector<FitSample>& x, SumRange range) {
  return RobustTerms(x, range, {}, 0);
}

v1::Correction FitTypeFactors(const std::vector<FitSample>& x, SumRange range) {
  if (static_cast<int>(x.size()) < kMinTypeFactorSamples) return {};
  std::map<std::string, int> carries;
  for (const auto& s : x) {
    if (s.type_ms.empty()) return {};
    for (const auto& [t, ms] : s.type_ms) carries[t] += ms > 0;
  }
  std::vector<std::string> types;
  for (const auto& [t, n] : carries)
    if (n >= kMinTypeSamples) types.push_back(t);
  if (types.empty()) return {};
  // Ridge strength by 5-fold cross-validation (folds i % 5, deterministic);
  // +inf: no type columns (the key-terms fit). A strength whose fit is not
  // safe on some fold is not a candidate; the best candidate whose fit on
  // every sample is safe wins.
  const double kLambdas[] = {0.001, 0.003, 0.01, 0.03, 0.1, 0.3, HUGE_VAL};
  std::vector<std::pair<double, double>> scored;  // (CV MAPE, lambda)
  for (double lambda : kLambdas) {
    double err = 0;
    int counted = 0;
    bool ok = true;
    for (int fold = 0; fold < 5 && ok; ++fold) {
      std::vector<FitSample> train, test;
      for (size_t i = 0; i < x.size(); ++i) (static_cast<int>(i % 5) == fold ? test : train).push_back(x[i]);
      const v1::Correction c =
          std::isfinite(lambda) ? RobustTerms(train, range, types, lambda) : RobustTerms(train, range, {}, 0);
      ok = c.scale() > 0;
      if (ok)
        for (const auto& s : test)
          err += std::fabs(CorrectedSample(c, s) - s.measured_ms) / s.measured_ms, ++counted;
    }
    if (ok && counted) scored.push_back({err / counted, lambda});
  }
  std::sort(scored.begin(), scored.end());
  for (const auto& [mape, lambda] : scored) {
    if (!std::isfinite(lambda)) return {};  // no type factors do best
    v1::Correction c = RobustTerms(x, range, types, lambda);
    if (c.scale() > 0) return c;
  }
  return {};
}

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      o += '\\', o += ch;
    else if (static_cast<unsigned char>(ch) < 0x20)
      o += absl::StrFormat("\\u%04x", ch);
    else
      o += ch;
  }
  return o;
}

SumRange SumRangeFromMinima(double min_block_ms, double min_head_ms) {
  SumRange r;
  if (min_block_ms > 0) r.min_ms += min_block_ms;
  if (min_head_ms > 0) r.min_ms += min_head_ms;
  if (min_block_ms > 0 && min_head_ms > 0)
    r.min_key_ms = std::min(min_block_ms, min_head_ms);
  else
    r.min_key_ms = std::max(0.0, std::max(min_block_ms, min_head_ms));
  return r;
}

SumRange TableSumRange(const v1::LatencyTable& t) {
  double block = 0, head = 0;
  for (const auto& e : t.entries()) {
    if (e.status() != v1::ENTRY_MEASURED || !(e.median_ms() > 0) || !std::isfinite(e.median_ms())) continue;
    double& m = absl::StartsWith(e.key(), "head:") ? head : block;
    m = m > 0 ? std::min(m, e.median_ms()) : e.median_ms();
  }
  return SumRangeFromMinima(block, head);
}

absl::Status CheckCorrectionFields(const v1::Correction& c, const std::string& field, bool required) {
  auto bad = [&](const char* f, const std::string& why) {
    return absl::InvalidArgumentError(StrCat(field, ".", f, ": ", why));
  };
  for (auto [name, v] : {std::pair<const char*, double>{"scale", c.scale()},
                         {"offset_ms", c.offset_ms()},
                         {"mape_before", c.mape_before()},
                         {"mape_after", c.mape_after()},
                         {"reference_drift", c.reference_drift()},
                         {"range_min_ms", c.range_min_ms()},
                         {"range_max_ms", c.range_max_ms()},
                         {"half_rel_diff", c.half_rel_diff()},
                         {"key_ms_per_mparam", c.key_ms_per_mparam()},
                         {"key_overhead_ms", c.key_overhead_ms()}})
    if (!std::isfinite(v)) return bad(name, StrCat("must be finite, got ", v));
  if (c.scale() < 0 || (required && c.scale() == 0))
    return bad("scale", StrCat("must be a finite number > 0, got ", c.scale()));
  for (auto [name, v] : {std::pair<const char*, double>{"mape_before", c.mape_before()},
                         {"mape_after", c.mape_after()},
                         {"reference_drift", c.reference_drift()},
                         {"range_min_ms", c.range_min_ms()},
                         {"range_max_ms", c.range_max_ms()},
                         {"half_rel_diff", c.half_rel_diff()},
                         {"key_ms_per_mparam", c.key_ms_per_mparam()}})
    if (v < 0) return bad(name, StrCat("must be >= 0, got ", v));
  if (c.scale() == 0 && (c.key_ms_per_mparam() > 0 || c.key_overhead_ms() != 0))
    return bad("scale", "must be set (> 0) when key_ms_per_mparam or key_overhead_ms is");
  if (c.type_factors_size() > 64)
    return bad("type_factors", StrCat(c.type_factors_size(), " block types; at most 64"));
  {
    std::map<std::string, double> sorted(c.type_factors().begin(), c.type_factors().end());
    for (const auto& [t, f] : sorted) {
      if (t.empty() || t.size() > 64 || t.find_first_of(":@,\n") != std::string::npos)
        return bad("type_factors", StrCat("'", JsonEscape(t.substr(0, 64)),
                                          "' is not a block type name (the text of a key before ':')"));
      if (!std::isfinite(f) || f < kMinTypeFactor || f > kMaxTypeFactor)
        return bad("type_factors",
                   absl::StrFormat("[%s]: %g is outside [%g, %g]", t, f, kMinTypeFactor, kMaxTypeFactor));
    }
  }
  if (c.scale() == 0 && c.type_factors_size() > 0)
    return bad("scale", "must be set (> 0) when type_factors is");
  if (c.validation_flags_size() > 16)
    return bad("validation_flags", StrCat(c.validation_flags_size(), " flags; at most 16"));
  for (const auto& f : c.validation_flags())
    if (f.size() > 1024) return bad("validation_flags", "a flag longer than 1024 characters");
  for (auto [name, v] : {std::pair<const char*, double>{"loo_within_10pct", c.loo_within_10pct()},
                         {"loo_mape", c.loo_mape()},
                         {"kendall_tau_lut", c.kendall_tau_lut()},
                         {"kendall_tau_macs", c.kendall_tau_macs()}})
    if (!std::isfinite(v) || std::fabs(v) > 1e6) return bad(name, StrCat("must be a finite number, got ", v));
  if (c.fitted_on() < 0) return bad("fitted_on", StrCat("must be >= 0, got ", c.fitted_on()));
  if (c.fitted_unix_ms() < 0) return bad("fitted_unix_ms", StrCat("must be >= 0, got ", c.fitted_unix_ms()));
  if (c.range_max_ms() > 0 && c.range_max_ms() < c.range_min_ms())
    return bad("range_max_ms",
               StrCat("must be >= range_min_ms (", c.range_min_ms(), "), got ", c.range_max_ms()));
  if (c.method().size() > 64) return bad("method", "longer than 64 characters");
  if (c.scale() == 0) return absl::OkStatus();  // unset: predictions use the plain sum
  if (c.scale() < kMinCorrectionScale || c.scale() > kMaxCorrectionScale)
    return bad("scale", absl::StrFormat("%g is outside the plausible band [%g, %g] "
                                        "(docs/measurement.md)",
                                        c.scale(), kMinCorrectionScale, kMaxCorrectionScale));
  return absl::OkStatus();
}

absl::Status CheckCorrection(const v1::Correction& c, const std::string& field, SumRange range,
                             bool required) {
  auto bad = [&](const char* f, const std::string& why) {
    return absl::InvalidArgumentError(StrCat(field, ".", f, ": ", why));
  };
  if (auto st = CheckCorrectionFields(c, field, required); !st.ok()) return st;
  if (c.scale() == 0) return absl::OkStatus();
  const double o = c.key_overhead_ms();
  if (o < 0) {
    if (!(range.min_key_ms > 0))
      return bad("key_overhead_ms", absl::StrFormat("%g subtracts a per-key cost but the table's "
                                                    "smallest entry is unknown: must be >= 0",
                                                    o));
    if (o < -kMaxKeyOverheadShare * range.min_key_ms)
      return bad("key_overhead_ms",
                 absl::StrFormat("%g takes more than %g of the table's smallest entry (%.4g ms)", o,
                                 kMaxKeyOverheadShare, range.min_key_ms));
  }
  // The smallest network has two keys (a block and the head).
  const double keys_at_floor = o < 0 ? 2 * o : 0;
  const double floor = Floor(c, range);
  if (floor <= 0) {  // no known floor: sums may come arbitrarily close to 0
    if (c.offset_ms() < 0)
      return bad("offset_ms", absl::StrFormat("%g maps small block sums to <= 0 and the table's "
                                              "smallest sum is unknown: must be >= 0",
                                              c.offset_ms()));
    return absl::OkStatus();
  }
  const double at_floor = c.scale() * (floor * MinTypeFactor(c) + keys_at_floor) + c.offset_ms();
  if (at_floor <= 0)
    return bad("offset_ms", absl::StrFormat("%g maps the table's smallest block sum %.4g ms to "
                                            "%.4g ms: every sum must map to > 0",
                                            c.offset_ms(), floor, at_floor));
  if (at_floor < kMinCorrectionScale * floor)
    return bad("offset_ms",
               absl::StrFormat("%g maps the table's smallest block sum %.4g ms to "
                               "%.4g ms (%.2fx): below the plausible band's %gx",
                               c.offset_ms(), floor, at_floor, at_floor / floor, kMinCorrectionScale));
  return absl::OkStatus();
}

double KendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = std::min(a.size(), b.size());
  double conc = 0, disc = 0, ta = 0, tb = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0)
        ++ta;
      else if (db == 0)
        ++tb;
      else if ((da > 0) == (db > 0))
        ++conc;
      else
        ++disc;
    }
  const double den = std::sqrt((conc + disc + ta) * (conc + disc + tb));
  return den > 0 ? (conc - disc) / den : 0;
}

absl::Status CheckFitInput(const FitInput& in) {
  if (in.samples.size() < 3)
    return absl::InvalidArgumentError(
        StrCat("samples: a fit needs at least 3 networks, got ", in.samples.size()));
  for (size_t i = 0; i < in.samples.size(); ++i) {
    const auto& s = in.samples[i];
    for (auto [name, v] :
         {std::pair<const char*, double>{"sum_ms", s.sum_ms}, {"measured_ms", s.measured_ms}})
      if (!std::isfinite(v) || v <= 0)
        return absl::InvalidArgumentError(
            StrCat("samples[", i, "].", name, ": must be a finite number > 0, got ", v));
    if (!std::isfinite(s.spread) || s.spread < 0)
      return absl::InvalidArgumentError(
          StrCat("samples[", i, "].spread: must be a finite number >= 0, got ", s.spread));
    if (!std::isfinite(s.macs) || s.macs < 0 || !std::isfinite(s.params) || s.params < 0)
      return absl::InvalidArgumentError(StrCat("samples[", i, "]: macs and params must be >= 0"));
    if (!s.type_ms.empty()) {
      double total = 0;
      for (const auto& [t, ms] : s.type_ms) {
        if (!std::isfinite(ms) || ms < 0)
          return absl::InvalidArgumentError(
              StrCat("samples[", i, "].type_ms[", t, "]: must be a finite number >= 0, got ", ms));
        total += ms;
      }
      if (std::fabs(total - s.sum_ms) > 1e-4 * s.sum_ms)
        return absl::InvalidArgumentError(
            StrCat("samples[", i, "].type_ms: the types sum to ", total, " ms but sum_ms is ", s.sum_ms));
    }
  }
  if (!std::isfinite(in.reference_drift))
    return absl::InvalidArgumentError("reference_drift: must be finite");
  if (!std::isfinite(in.range.min_ms) || !std::isfinite(in.range.max_ms) || in.range.min_ms < 0 ||
      in.range.max_ms < 0 || (in.range.max_ms > 0 && in.range.max_ms < in.range.min_ms))
    return absl::InvalidArgumentError(
        "range_ms: must be [min_sum_ms, max_sum_ms] with 0 <= min <= max, both finite");
  for (double r : in.reference_rounds_ms)
    if (!std::isfinite(r) || r <= 0)
      return absl::InvalidArgumentError(
          StrCat("reference_rounds_ms: every round must be a finite number > 0, got ", r));
  return absl::OkStatus();
}

v1::Correction RobustFit(const std::vector<double>& sums, const std::vector<double>& measured, SumRange range,
                         const std::string& method) {
  const size_t n = std::min(sums.size(), measured.size());
  std::vector<double> s(sums.begin(), sums.begin() + n), m(measured.begin(), measured.begin() + n);
  v1::Correction c;
  if (method == "theil-sen") {
    c = n >= 2 ? TheilSen(s, m) : Ratio(s, m);
    // A slope <= 0 (or outside the band) is no correction: scale 0 would
    // read as "unset" and a negative one maps larger sums to less time.
    if (!(c.scale() >= kMinCorrectionScale && c.scale() <= kMaxCorrectionScale)) c = Ratio(s, m);
  } else if (method == "ratio-median" || n < 4) {
    c = Ratio(s, m);
  } else {
    // Theil-Sen only when it is safe over the range and clearly better out
    // of sample: an offset fitted on a narrow range of sums is unstable
    // (scale and offset trade off), a ratio is not.
    const auto ts = TheilSen(s, m);
    bool use_ts = ts.method() == "theil-sen" && CheckCorrection(ts, "c", range).ok();
    if (use_ts) {
      double w, loo_ts, loo_r;
      Summarize(LooPredictions(s, m, "theil-sen"), m, &w, &loo_ts);
      Summarize(LooPredictions(s, m, "ratio-median"), m, &w, &loo_r);
      use_ts = loo_ts < loo_r - 0.01;
    }
    c = use_ts ? ts : Ratio(s, m);
  }
  double before = 0;
  for (size_t i = 0; i < n; ++i) before += std::fabs(s[i] - m[i]) / m[i];
  c.set_fitted_on(static_cast<int>(n));
  c.set_mape_before(n ? before / n : 0);
  c.set_mape_after(Mape(c, s, m));
  return c;
}

bool BimodalReference(const std::vector<double>& rounds_ms, double gap) {
  if (rounds_ms.size() < 4) return false;
  std::vector<double> r = rounds_ms;
  std::sort(r.begin(), r.end());
  const double med = Median(r);
  size_t at = 0;
  double best = 0;
  for (size_t i = 1; i < r.size(); ++i)
    if (r[i] - r[i - 1] > best) best = r[i] - r[i - 1], at = i;
  if (at < 2 || r.size() - at < 2 || med <= 0) return false;  // a lone outlier is drift, not modes
  const double width = std::max(r[at - 1] - r[0], r.back() - r[at]);
  return best / med >= gap && best >= 2 * width;
}

std::vector<Refusal> CheckRunNoise(double reference_drift, const std::vector<double>& rounds_ms,
                                   const std::vector<double>& spreads, const NoiseLimits& lim) {
  std::vector<Refusal> out;
  if (reference_drift > lim.max_reference_drift)
    out.push_back(
        {"reference_drift", absl::StrFormat("the reference workload varied by %.1f%% across rounds (limit "
                                            "%.0f%%): the machine was busy or changed speed",
                                            100 * reference_drift, 100 * lim.max_reference_drift)});
  if (BimodalReference(rounds_ms, lim.bimodal_gap)) {
    std::vector<double> rr = rounds_ms;
    std::sort(rr.begin(), rr.end());
    out.push_back(
        {"reference_rounds_ms", absl::StrFormat("the per-round reference times form two clusters (%.4g .. "
                                                "%.4g ms): the machine switched speed during the run",
                                                rr.front(), rr.back())});
  }
  std::vector<double> sp;
  for (double x : spreads)
    if (x > 0) sp.push_back(x);
  const double med = Median(sp);
  if (med > lim.max_spread)
    out.push_back({"spread", absl::StrFormat("the median network's repeats spread %.1f%% "
                                             "((p90-p10)/median, limit %.0f%%)",
                                             100 * med, 100 * lim.max_spread)});
  return out;
}

FitReport FitAndCheck(const FitInput& in, const NoiseLimits& lim) {
  FitReport r;
  std::vector<double> s, m, macs, params, spreads;
  for (const auto& x : in.samples) {
    s.push_back(x.sum_ms);
    m.push_back(x.measured_ms);
    macs.push_back(x.macs);
    params.push_back(x.params);
    if (x.spread > 0) spreads.push_back(x.spread);
  }
  const size_t n = s.size();
  r.samples = static_cast<int>(n);
  SumRange range = in.range;
  if (range.min_ms <= 0 && n) range.min_ms = *std::min_element(s.begin(), s.end());
  if (range.max_ms <= 0 && n) range.max_ms = *std::max_element(s.begin(), s.end());

  v1::Correction c = RobustFit(s, m, range);
  std::vector<double> loo = LooPredictions(s, m, c.method());
  auto score = [&](const std::string& method, const std::vector<double>& pred) {
    ModelScore ms;
    ms.method = method;
    Summarize(pred, m, &ms.loo_within_10pct, &ms.loo_mape);
    r.models.push_back(ms);
    return r.models.size() - 1;
  };
  size_t chosen = score(c.method(), loo);
  // A richer fit replaces the best so far when it beats it out of sample by
  // more than half a point of MAPE (the fits consider only safe corrections):
  // per-key terms when every sample has keys and params, then per-type
  // factors when every sample has its type split.
  auto consider = [&](v1::Correction (*fit)(const std::vector<FitSample>&, SumRange)) {
    v1::Correction k = fit(in.samples, range);
    if (!(k.scale() > 0)) return;
    const std::vector<double> kl = LooFit(in.samples, range, fit);
    const size_t at = score(k.method(), kl);
    const double mk = r.models[at].loo_mape, mb = r.models[chosen].loo_mape;
    if (!(mk < mb - 0.005)) return;
    double before = 0, after = 0;
    for (size_t i = 0; i < n; ++i) before += std::fabs(s[i] - m[i]) / m[i];
    for (size_t i = 0; i < n; ++i) after += std::fabs(CorrectedSample(k, in.samples[i]) - m[i]) / m[i];
    k.set_fitted_on(static_cast<int>(n));
    k.set_mape_before(before / n);
    k.set_mape_after(after / n);
    c = k;
    loo = kl;
    chosen = at;
  };
  bool key_terms = static_cast<int>(n) >= kMinKeyTermSamples;
  for (const auto& x : in.samples) key_terms = key_terms && x.keys > 0 && x.params > 0;
  if (key_terms) consider(FitKeyTerms);
  bool types = static_cast<int>(n) >= kMinTypeFactorSamples;
  for (const auto& x : in.samples) types = types && !x.type_ms.empty();
  if (types) consider(FitTypeFactors);
  r.models[chosen].chosen = true;
  c.set_fitted_unix_ms(in.now_unix_ms > 0 ? in.now_unix_ms
                                          : std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  c.set_reference_drift(std::max(0.0, in.reference_drift));
  c.set_seed(in.seed);
  c.set_range_min_ms(range.min_ms);
  c.set_range_max_ms(range.max_ms);

  r.loo_ms = loo;
  Summarize(r.loo_ms, m, &r.within_10pct, &r.mape);
  Summarize(s, m, &r.within_10pct_raw, &r.mape_raw);
  r.kendall_tau_lut = KendallTau(loo, m);
  r.kendall_tau_lut_raw = KendallTau(s, m);
  r.kendall_tau_macs = KendallTau(macs, m);
  r.kendall_tau_params = KendallTau(params, m);
  {
    std::vector<double> fit;
    for (const auto& x : in.samples) fit.push_back(CorrectedSample(c, x));
    r.kendall_tau_fit = KendallTau(fit, m);
  }
  r.median_spread = Median(spreads);

  // Reproducibility: the same method on two disjoint halves (even / odd
  // samples; the samples are drawn at random, so the halves are too). A
  // half whose fit of that method fails gets the plain ratio of its own
  // samples: never a scale of 0 (issue 27 item 7).
  std::vector<double> sa, ma, sb, mb;
  for (size_t i = 0; i < n; ++i) (i % 2 ? sb : sa).push_back(s[i]), (i % 2 ? mb : ma).push_back(m[i]);
  if (c.method() == "key-terms" || c.method() == "type-factors") {
    // Scale and the per-key terms trade off: compare what each half's fit
    // predicts, as the median predicted/sum ratio over all the samples.
    std::vector<FitSample> xa, xb;
    for (size_t i = 0; i < n; ++i) (i % 2 ? xb : xa).push_back(in.samples[i]);
    auto eff = [&](const std::vector<FitSample>& half, const std::vector<double>& hs,
                   const std::vector<double>& hm) {
      v1::Correction h =
          c.method() == "type-factors" ? FitTypeFactors(half, range) : FitKeyTerms(half, range);
      if (!(h.scale() > 0)) h = FitKeyTerms(half, range);
      if (!(h.scale() > 0)) h = RobustFit(hs, hm, range, "ratio-median");
      std::vector<double> q;
      for (const auto& x : in.samples) q.push_back(CorrectedSample(h, x) / x.sum_ms);
      return Median(q);
    };
    r.scale_half_a = eff(xa, sa, ma);
    r.scale_half_b = eff(xb, sb, mb);
  } else {
    r.scale_half_a = RobustFit(sa, ma, range, c.method()).scale();
    r.scale_half_b = RobustFit(sb, mb, range, c.method()).scale();
  }
  const double mean = (r.scale_half_a + r.scale_half_b) / 2;
  r.half_rel_diff = mean > 0 ? std::fabs(r.scale_half_a - r.scale_half_b) / mean : 0;
  c.set_half_rel_diff(r.half_rel_diff);

  // The run's noise: figures for the user, not reasons to refuse (the
  // checks below judge what the noise did to the fit).
  r.notes = CheckRunNoise(in.reference_drift, in.reference_rounds_ms, spreads, lim);

  auto refuse = [&](const std::string& f, const std::string& why) { r.refusals.push_back({f, why}); };
  if (static_cast<int>(n) < lim.min_samples)
    refuse("samples", absl::StrFormat("%d networks; a stored fit needs at least %d", n, lim.min_samples));
  if (r.half_rel_diff > lim.max_half_rel_diff)
    refuse(
        "reproducibility",
        absl::StrFormat("fits on two disjoint halves give scales %.4f and %.4f (%.1f%% apart, "
                        "limit %.0f%%)",
                        r.scale_half_a, r.scale_half_b, 100 * r.half_rel_diff, 100 * lim.max_half_rel_diff));
  if (r.within_10pct < lim.min_loo_within_10pct || r.mape > r.mape_raw + 0.005)
    refuse("accuracy",
           absl::StrFormat("out of sample (leave-one-out) %.0f%% of the networks within +-10%% "
                           "(needs %.0f%%), MAPE %.1f%% (raw block sums: %.0f%% within, MAPE %.1f%%)",
                           100 * r.within_10pct, 100 * lim.min_loo_within_10pct, 100 * r.mape,
                           100 * r.within_10pct_raw, 100 * r.mape_raw));
  bool have_macs = false;
  for (double x : macs) have_macs = have_macs || x > 0;
  if (have_macs && r.kendall_tau_fit < r.kendall_tau_macs)
    refuse("ranking", absl::StrFormat("the table ranks these networks worse than MACs do: Kendall tau %.3f "
                                      "(corrected sums) < %.3f (MACs) against the measured times",
                                      r.kendall_tau_fit, r.kendall_tau_macs));
  if (auto st = CheckCorrection(c, "correction", range, /*required=*/true); !st.ok()) {
    const std::string msg(st.message());
    const size_t colon = msg.find(": ");
    refuse(msg.substr(0, colon), colon == std::string::npos ? msg : msg.substr(colon + 2));
  }
  r.accept_noisy = in.accept_noisy;
  c.set_accepted_noisy(!r.refusals.empty() && r.accepted());
  for (const auto& f : r.refusals) c.add_validation_flags(StrCat(f.field, ": ", f.reason));
  c.set_loo_within_10pct(r.within_10pct);
  c.set_loo_mape(r.mape);
  c.set_kendall_tau_lut(r.kendall_tau_fit);
  c.set_kendall_tau_macs(r.kendall_tau_macs);
  r.correction = c;
  return r;
}

bool FitReport::accepted() const {
  for (const auto& f : refusals)
    if (!accept_noisy || absl::StartsWith(f.field, "correction")) return false;
  return true;
}

namespace {

std::string RefusalsJson(const std::vector<Refusal>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    absl::StrAppend(&s, i ? ", " : "", "{\"field\": \"", JsonEscape(v[i].field), "\", \"reason\": \"",
                    JsonEscape(v[i].reason), "\"}");
  return s;
}

}  // namespace

// JSON of `validate --json` and `fit-correction --json`: see the comment
// block at the top of tools/profile_main.cc for every field.
std::string FitReportJsonFields(const FitReport& r) {
  const auto& c = r.correction;
  // Sorted by type: the JSON is the same for the same fit.
  std::map<std::string, double> sorted(c.type_factors().begin(), c.type_factors().end());
  std::string factors;
  for (const auto& [t, f] : sorted)
    absl::StrAppend(&factors, factors.empty() ? "" : ", ", "\"", JsonEscape(t),
                    "\": ", absl::StrFormat("%.17g", f));
  std::string flags;
  for (int i = 0; i < c.validation_flags_size(); ++i)
    absl::StrAppend(&flags, i ? ", " : "", "\"", JsonEscape(c.validation_flags(i)), "\"");
  std::string models;
  for (size_t i = 0; i < r.models.size(); ++i)
    absl::StrAppend(&models, i ? ", " : "",
                    absl::StrFormat("{\"method\": \"%s\", \"loo_mape\": %.4f, \"loo_within_10pct\": %.4f, "
                                    "\"chosen\": %s}",
                                    JsonEscape(r.models[i].method), r.models[i].loo_mape,
                                    r.models[i].loo_within_10pct, r.models[i].chosen ? "true" : "false"));
  std::string s = absl::StrFormat(
      "\"samples\": %d, \"within_10pct\": %.4f, \"mape\": %.4f, \"within_10pct_raw\": %.4f, "
      "\"mape_raw\": %.4f, \"kendall_tau_lut\": %.4f, \"kendall_tau_macs\": %.4f, "
      "\"kendall_tau_params\": %.4f, \"kendall_tau_lut_raw\": %.4f, \"kendall_tau_fit\": %.4f, "
      "\"loo_within_10pct\": %.4f, \"loo_mape\": %.4f, "
      "\"correction\": {\"scale\": %.17g, \"offset_ms\": %.17g, \"fitted_on\": %d, "
      "\"mape_before\": %.6g, \"mape_after\": %.6g, \"reference_drift\": %.6g, \"samples\": %d, "
      "\"seed\": %d, \"fitted_unix_ms\": %d, \"method\": \"%s\", \"range_min_ms\": %.6g, "
      "\"range_max_ms\": %.6g, \"half_rel_diff\": %.6g, \"accepted_noisy\": %s, "
      "\"key_ms_per_mparam\": %.17g, \"key_overhead_ms\": %.17g, \"type_factors\": {%s}, "
      "\"validation_flags\": [%s], \"loo_within_10pct\": %.4f, \"loo_mape\": %.4f, "
      "\"kendall_tau_lut\": %.4f, \"kendall_tau_macs\": %.4f}, "
      "\"reproducibility\": {\"scale_half_a\": %.6g, \"scale_half_b\": %.6g, \"rel_diff\": %.4f}, "
      "\"median_spread\": %.4f, \"models\": [%s], \"validation_passed\": %s, \"accepted\": %s, "
      "\"notes\": [%s], \"refusals\": [",
      r.samples, r.within_10pct, r.mape, r.within_10pct_raw, r.mape_raw, r.kendall_tau_lut,
      r.kendall_tau_macs, r.kendall_tau_params, r.kendall_tau_lut_raw, r.kendall_tau_fit, r.within_10pct,
      r.mape, c.scale(), c.offset_ms(), c.fitted_on(), c.mape_before(), c.mape_after(), c.reference_drift(),
      r.samples, c.seed(), c.fitted_unix_ms(), JsonEscape(c.method()), c.range_min_ms(), c.range_max_ms(),
      c.half_rel_diff(), c.accepted_noisy() ? "true" : "false", c.key_ms_per_mparam(), c.key_overhead_ms(),
      factors, flags, c.loo_within_10pct(), c.loo_mape(), c.kendall_tau_lut(), c.kendall_tau_macs(),
      r.scale_half_a, r.scale_half_b, r.half_rel_diff, r.median_spread, models, r.passed() ? "true" : "false",
      r.accepted() ? "true" : "false", RefusalsJson(r.notes));
  return s + RefusalsJson(r.refusals) + "]";
}

std::string FitReportText(const FitReport& r) {
  const auto& c = r.correction;
  std::string s = absl::StrFormat(
      "correction: scale %.4f, offset %+.4f ms (%s, %d networks, range %.4g..%.4g ms); "
      "MAPE %.1f%% raw -> %.1f%% out of sample, %.0f%% within 10%%\n"
      "ranking: Kendall tau %.3f (table, corrected) vs %.3f (MACs)\n"
      "reproducibility: scales on two disjoint halves %.4f and %.4f differ by %.1f%%\n",
      c.scale(), c.offset_ms(), c.method(), c.fitted_on(), c.range_min_ms(), c.range_max_ms(),
      100 * r.mape_raw, 100 * r.mape, 100 * r.within_10pct, r.kendall_tau_fit, r.kendall_tau_macs,
      r.scale_half_a, r.scale_half_b, 100 * r.half_rel_diff);
  if (c.key_ms_per_mparam() > 0 || c.key_overhead_ms() != 0)
    absl::StrAppend(&s, absl::StrFormat("per-key terms: %+.4g ms per key, %+.4g ms per million "
                                        "parameters of each key (before scale)\n",
                                        c.key_overhead_ms(), c.key_ms_per_mparam()));
  if (!c.type_factors().empty()) {
    std::map<std::string, double> sorted(c.type_factors().begin(), c.type_factors().end());
    std::string t;
    for (const auto& [type, f] : sorted) absl::StrAppend(&t, " ", type, " ", absl::StrFormat("%.3f", f));
    absl::StrAppend(&s, "block-type factors:", t, "\n");
  }
  for (const auto& f : r.notes)
    absl::StrAppend(&s, "note: noisy run (judged by the checks, not refused): ", f.field, ": ", f.reason,
                    "\n");
  const bool ok = r.accepted();
  for (const auto& f : r.refusals)
    absl::StrAppend(&s, "warning: ",
                    ok ? "VALIDATION FAILED, stored anyway (--accept-noisy; predictions will say so): "
                       : "validation failed, refused: ",
                    f.field, ": ", f.reason, "\n");
  return s;
}

double ApplyCorrection(const v1::Correction& c, double sum) {
  if (!(c.scale() > 0) || !std::isfinite(sum)) return sum;
  const double hi = kRangeSlack * c.range_max_ms();
  if (hi > 0 && sum > hi) return c.scale() * hi + c.offset_ms() + (sum - hi);
  return c.scale() * sum + c.offset_ms();
}

bool CorrectionOutOfRange(const v1::Correction& c, double sum) {
  return c.scale() > 0 && c.range_max_ms() > 0 && std::isfinite(sum) && sum > kRangeSlack * c.range_max_ms();
}

std::vector<std::string> CorrectionWarnings(const v1::Correction& c, double sum) {
  std::vector<std::string> out;
  if (!(c.scale() > 0)) return out;
  if (c.validation_flags_size() > 0) {
    std::string why;
    for (const auto& f : c.validation_flags()) absl::StrAppend(&why, why.empty() ? "" : "; ", f);
    out.push_back(
        StrCat("the table's correction failed its validation and was stored with "
               "--accept-noisy: ",
               why));
  } else if (c.accepted_noisy()) {
    out.push_back("the table's correction was stored with --accept-noisy although its checks failed");
  }
  if (CorrectionOutOfRange(c, sum))
    out.push_back(absl::StrFormat(
        "this network's block sum %.4g ms is beyond %gx the largest sum the correction was fitted on "
        "(%.4g ms): it is applied up to %.4g ms and the rest counts at face value",
        sum, kRangeSlack, c.range_max_ms(), kRangeSlack * c.range_max_ms()));
  return out;
}

}  // namespace lutnas::latency
