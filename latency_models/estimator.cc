#include "latency_models/estimator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lutnas::latency {
namespace {

double Elems(const space::Shape& s) { return static_cast<double>(s.c) * s.h * s.w; }

constexpr double kMiB = 1048576.0;
constexpr int K = kNumOpFeatures;

// Solves G[P,P] x = h[P] (Gaussian elimination, partial pivoting, a tiny
// ridge against collinear columns); false when singular.
bool SolvePassive(const double G[K][K], const double h[K], const std::array<bool, K>& passive, double x[K]) {
  int idx[K], n = 0;
  for (int j = 0; j < K; ++j)
    if (passive[j]) idx[n++] = j;
  double A[K][K + 1];
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) A[r][c] = G[idx[r]][idx[c]] + (r == c ? 1e-12 : 0);
    A[r][n] = h[idx[r]];
  }
  for (int c = 0; c < n; ++c) {
    int piv = c;
    for (int r = c + 1; r < n; ++r)
      if (std::fabs(A[r][c]) > std::fabs(A[piv][c])) piv = r;
    if (std::fabs(A[piv][c]) < 1e-300) return false;
    for (int k = 0; k <= n; ++k) std::swap(A[c][k], A[piv][k]);
    for (int r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = A[r][c] / A[c][c];
      for (int k = c; k <= n; ++k) A[r][k] -= f * A[c][k];
    }
  }
  for (int j = 0; j < K; ++j) x[j] = 0;
  for (int r = 0; r < n; ++r) x[idx[r]] = A[r][n] / A[r][r];
  return true;
}

// Lawson-Hanson non-negative least squares on the normal equations:
// minimises 1/2 x'Gx - h'x over x >= 0, columns with use[j] false fixed at 0.
void NnlsNormal(const double G[K][K], const double h[K], const std::array<bool, K>& use, double x[K]) {
  std::array<bool, K> passive{};
  for (int j = 0; j < K; ++j) x[j] = 0;
  for (int outer = 0; outer < 3 * K; ++outer) {
    double w[K], best = 1e-12;
    int t = -1;
    for (int j = 0; j < K; ++j) {
      w[j] = h[j];
      for (int k = 0; k < K; ++k) w[j] -= G[j][k] * x[k];
      if (use[j] && !passive[j] && w[j] > best) best = w[j], t = j;
    }
    if (t < 0) return;
    passive[t] = true;
    for (int inner = 0; inner < 3 * K; ++inner) {
      double z[K];
      if (!SolvePassive(G, h, passive, z)) {
        passive[t] = false;
        return;
      }
      bool all_pos = true;
      for (int j = 0; j < K; ++j)
        if (passive[j] && z[j] <= 0) all_pos = false;
      if (all_pos) {
        for (int j = 0; j < K; ++j) x[j] = z[j];
        break;
      }
      double alpha = 1;
      for (int j = 0; j < K; ++j)
        if (passive[j] && z[j] <= 0) alpha = std::min(alpha, x[j] / (x[j] - z[j]));
      for (int j = 0; j < K; ++j) {
        x[j] += alpha * (z[j] - x[j]);
        if (passive[j] && x[j] <= 1e-15) passive[j] = false, x[j] = 0;
      }
    }
  }
}

}  // namespace

const char* OpFeatureName(int f) {
  switch (f) {
    case kFeatMacsDense:
      return "dense conv";
    case kFeatMacsPointwise:
      return "1x1 conv";
    case kFeatMacsDepthwise:
      return "depthwise conv";
    case kFeatMacsGrouped:
      return "grouped conv";
    case kFeatMacsLinear:
      return "linear";
    case kFeatBytesConv:
      return "conv memory";
    case kFeatBytesEltwise:
      return "element-wise";
    case kFeatBytesAct:
      return "silu/sigmoid";
    case kFeatBytesPool:
      return "pooling";
    case kFeatBytesMove:
      return "concat/shuffle";
    case kFeatOps:
      return "per op";
    case kFeatCall:
      return "per call";
    default:
      return "?";
  }
}

OpFeatures GraphFeatures(const Graph& g, int bpe) {
  OpFeatures f{};
  const double b = bpe / kMiB;
  for (const auto& op : g.ops) {
    const space::Shape& in = g.values[op.in[0]];
    const space::Shape& out = g.values[op.out];
    switch (op.kind) {
      case OpKind::kConv: {
        const double cin_per_group = op.cin / std::max(1, op.groups);
        const double w = static_cast<double>(op.cout) * cin_per_group * op.kernel * op.kernel;
        const double macs = w * out.h * out.w / 1e6;
        if (op.groups <= 1)
          f[op.kernel > 1 ? kFeatMacsDense : kFeatMacsPointwise] += macs;
        else
          f[cin_per_group == 1 ? kFeatMacsDepthwise : kFeatMacsGrouped] += macs;
        f[kFeatBytesConv] += (w + Elems(in) + Elems(out)) * b;
        f[kFeatOps] += 1;
        break;
      }
      case OpKind::kLinear: {
        const double w = static_cast<double>(op.cin) * op.cout;
        f[kFeatMacsLinear] += w / 1e6;
        f[kFeatBytesConv] += (w + op.cin + op.cout) * b;
        f[kFeatOps] += 1;
        break;
      }
      case OpKind::kBatchNorm:
      case OpKind::kAct:
        if (op.kind == OpKind::kAct && op.act == ActKind::kNone) break;
        // silu and sigmoid evaluate an exponential per element; hardswish and
        // hardsigmoid are piecewise linear, like relu6.
        f[op.kind == OpKind::kAct && (op.act == ActKind::kSilu || op.act == ActKind::kSigmoid)
              ? kFeatBytesAct
              : kFeatBytesEltwise] += 2 * Elems(in) * b;
        f[kFeatOps] += 1;
        break;
      case OpKind::kAdd:
      case OpKind::kMul: {
        double read = 0;
        for (int v : op.in) read += Elems(g.values[v]);
        f[kFeatBytesEltwise] += (read + Elems(out)) * b;
        f[kFeatOps] += 1;
        break;
      }
      case OpKind::kGlobalPool:  // one streaming read, like an element-wise pass
        f[kFeatBytesEltwise] += (Elems(in) + Elems(out)) * b;
        f[kFeatOps] += 1;
        break;
      case OpKind::kMaxPool:
      case OpKind::kAvgPool:
        f[kFeatBytesPool] += (Elems(in) + op.kernel * op.kernel * Elems(out)) * b;
        f[kFeatOps] += 1;
        break;
      case OpKind::kConcat:
      case OpKind::kShuffle: {
        double read = 0;
        for (int v : op.in) read += Elems(g.values[v]);
        f[kFeatBytesMove] += (read + Elems(out)) * b;
        f[kFeatOps] += 1;
        break;
      }
      case OpKind::kSlice:  // a view
        break;
    }
  }
  f[kFeatCall] = 1;
  return f;
}

OpClassModel OpClassModel::Fit(const std::vector<OpFeatures>& x, const std::vector<double>& ms,
                               const std::vector<double>& spread) {
  OpClassModel m;
  const size_t n = std::min(x.size(), ms.size());
  // Rows weighted by 1/ms (least squares on relative error), times a
  // confidence weight: 1/(1 + spread) from the entry's own IQR/median, and
  // Huber weights on the relative residuals (iteratively reweighted), so
  // that entries a noisy run corrupted do not set the rates.
  std::vector<double> w0(n, 1.0), w(n, 1.0);
  for (size_t i = 0; i < n; ++i)
    if (i < spread.size() && spread[i] > 0) w0[i] = 1 / (1 + spread[i]);
  std::array<double, K> scale{};
  std::array<int, K> support{};
  for (size_t i = 0; i < n; ++i) {
    if (!(ms[i] > 0)) continue;
    for (int j = 0; j < K; ++j) {
      const double v = x[i][j] / ms[i];
      scale[j] += v * v;
      support[j] += x[i][j] > 0;
    }
  }
  std::array<bool, K> use{};
  for (int j = 0; j < K; ++j) {
    scale[j] = std::sqrt(scale[j]);
    use[j] = support[j] >= 2 && scale[j] > 0;
  }
  double beta[K] = {};
  for (int iter = 0; iter < 5; ++iter) {
    double G[K][K] = {}, h[K] = {};
    for (size_t i = 0; i < n; ++i) {
      if (!(ms[i] > 0)) continue;
      const double wi = w0[i] * w[i];
      double z[K];
      for (int j = 0; j < K; ++j) z[j] = use[j] ? x[i][j] / ms[i] / scale[j] : 0;
      for (int j = 0; j < K; ++j) {
        h[j] += wi * z[j];  // target is ms/ms = 1
        for (int k = 0; k < K; ++k) G[j][k] += wi * z[j] * z[k];
      }
    }
    NnlsNormal(G, h, use, beta);
    // Huber weights: residuals beyond 1.5 MADs count linearly.
    std::vector<double> r;
    for (size_t i = 0; i < n; ++i) {
      if (!(ms[i] > 0)) continue;
      double pred = 0;
      for (int j = 0; j < K; ++j) pred += use[j] ? beta[j] / scale[j] * x[i][j] : 0;
      r.push_back(std::fabs(pred - ms[i]) / ms[i]);
    }
    if (r.empty()) break;
    std::vector<double> sorted = r;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    const double c = std::max(0.05, 1.5 * 1.4826 * sorted[sorted.size() / 2]);
    for (size_t i = 0, k = 0; i < n; ++i) {
      if (!(ms[i] > 0)) continue;
      w[i] = r[k] > c ? c / r[k] : 1.0;
      ++k;
    }
  }
  for (int j = 0; j < K; ++j) {
    m.fitted_[j] = use[j];
    m.coef_[j] = use[j] ? beta[j] / scale[j] : 0;
  }
  // Features no measured key exercises borrow the closest fitted rate.
  static const std::vector<std::vector<int>> kBorrow = {
      /*dense*/ {kFeatMacsPointwise, kFeatMacsGrouped},
      /*pointwise*/ {kFeatMacsDense, kFeatMacsGrouped},
      /*depthwise*/ {kFeatMacsGrouped, kFeatMacsDense},
      /*grouped*/ {kFeatMacsDense, kFeatMacsPointwise},
      /*linear*/ {kFeatMacsPointwise, kFeatMacsDense},
      /*bytes conv*/ {kFeatBytesEltwise},
      /*eltwise*/ {kFeatBytesMove, kFeatBytesConv},
      /*act*/ {kFeatBytesEltwise, kFeatBytesMove},
      /*pool*/ {kFeatBytesEltwise, kFeatBytesMove},
      /*move*/ {kFeatBytesEltwise, kFeatBytesConv},
      /*ops*/ {},
      /*call*/ {},
  };
  for (int j = 0; j < K; ++j) {
    if (m.fitted_[j]) continue;
    for (int from : kBorrow[j])
      if (m.fitted_[from]) {
        m.coef_[j] = m.coef_[from];
        break;
      }
  }
  return m;
}

double OpClassModel::Eval(const OpFeatures& f) const {
  double t = 0;
  for (int j = 0; j < kNumOpFeatures; ++j) t += coef_[j] * f[j];
  return t;
}

std::string OpClassModel::Describe() const {
  std::string s;
  for (int j = 0; j < kNumOpFeatures; ++j) {
    if (!s.empty()) s += ", ";
    const char* tag = fitted_[j] ? "" : " (borrowed)";
    if (j <= kFeatMacsLinear)
      absl::StrAppendFormat(&s, "%s %s GMAC/s%s", OpFeatureName(j),
                            coef_[j] > 0 ? absl::StrFormat("%.3g", 1e-3 / coef_[j]) : "inf", tag);
    else if (j <= kFeatBytesMove)
      absl::StrAppendFormat(&s, "%s %s GB/s%s", OpFeatureName(j),
                            coef_[j] > 0 ? absl::StrFormat("%.3g", kMiB / 1e9 / (coef_[j] * 1e-3)) : "inf",
                            tag);
    else
      absl::StrAppendFormat(&s, "%s %.3g us%s", OpFeatureName(j), coef_[j] * 1e3, tag);
  }
  return s;
}

}  // namespace lutnas::latency
