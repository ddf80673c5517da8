#include "latency_models/spec_prior.h"

#include <algorithm>
#include <cmath>

#include "latency_models/cost.h"
#include "space/arch_util.h"

namespace lutnas::latency {

const char* OpClassName(OpClass c) {
  switch (c) {
    case OpClass::kConv:
      return "conv";
    case OpClass::kDwConv:
      return "dwconv";
    case OpClass::kOther:
      return "other";
  }
  return "other";
}

Efficiency EfficiencyOf(const v1::Hardware& hw, bool* has_any) {
  Efficiency e;
  *has_any = false;
  // "" first, then named classes override it.
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& f : hw.efficiency()) {
      if ((pass == 0) != f.op_class().empty()) continue;
      if (!(f.compute() > 0) || !(f.bandwidth() > 0)) continue;
      for (int c = 0; c < kNumOpClasses; ++c) {
        if (pass == 1 && f.op_class() != OpClassName(static_cast<OpClass>(c))) continue;
        e.compute[c] = std::min(1.0, f.compute());
        e.bandwidth[c] = std::min(1.0, f.bandwidth());
        *has_any = true;
      }
    }
  return e;
}

std::vector<PeakTime> PeakTimes(const Graph& g, const v1::Hardware& hw, int bpe) {
  std::vector<PeakTime> out;
  const double ms_per_op = 1e3 / (hw.peak_gops() * 1e9);  // 1 MAC = 2 ops
  const double ms_per_byte = 1e3 / (hw.bandwidth_gbs() * 1e9);
  for (const auto& op : g.ops) {
    const Cost c = OpCost(g, op, bpe);
    if (c.macs == 0 && c.mac_bytes == 0) continue;  // fused or a view
    PeakTime t;
    t.cls = OpClass::kOther;
    if (op.kind == OpKind::kConv) t.cls = op.groups > 1 ? OpClass::kDwConv : OpClass::kConv;
    if (op.kind == OpKind::kLinear) t.cls = OpClass::kConv;
    t.compute_ms = 2.0 * c.macs * ms_per_op;
    t.memory_ms = c.mac_bytes * ms_per_byte;
    out.push_back(t);
  }
  return out;
}

double PriorMs(const std::vector<PeakTime>& ops, const Efficiency& e) {
  double ms = 0;
  for (const auto& t : ops) {
    const int c = static_cast<int>(t.cls);
    ms += std::max(t.compute_ms / e.compute[c], t.memory_ms / e.bandwidth[c]);
  }
  return ms;
}

double SpecPriorKeyMs(const space::KeySpec& key, const v1::Hardware& hw, const Efficiency& e, int bpe) {
  return std::max(1e-6, PriorMs(PeakTimes(LowerKey(key), hw, bpe), e));
}

std::vector<PeakTime> NetworkPeakTimes(const v1::Architecture& arch, const v1::Hardware& hw, int bpe) {
  std::vector<PeakTime> all;
  const auto sites = space::ListBlocks(arch);
  for (const auto& s : sites) {
    space::KeySpec k;
    k.block = s.block;
    k.in = s.in;
    auto t = PeakTimes(LowerKey(k), hw, bpe);
    all.insert(all.end(), t.begin(), t.end());
  }
  space::KeySpec h;
  h.is_head = true;
  h.head = arch.head();
  h.in = sites.empty() ? space::InputShape(arch) : sites.back().out;
  auto t = PeakTimes(LowerKey(h), hw, bpe);
  all.insert(all.end(), t.begin(), t.end());
  return all;
}

namespace {

// Sum of squared log errors of a uniform (compute, bandwidth) pair.
double LogLoss(const std::vector<std::vector<PeakTime>>& nets, const std::vector<double>& ms, double ec,
               double eb) {
  Efficiency e;
  for (int c = 0; c < kNumOpClasses; ++c) e.compute[c] = ec, e.bandwidth[c] = eb;
  double loss = 0;
  for (size_t i = 0; i < nets.size(); ++i) {
    const double r = std::log(PriorMs(nets[i], e) / ms[i]);
    loss += r * r;
  }
  return loss;
}

}  // namespace

EfficiencyFit FitEfficiency(const std::vector<std::vector<PeakTime>>& nets, const std::vector<double>& ms) {
  EfficiencyFit fit;
  fit.fitted_on = static_cast<int>(std::min(nets.size(), ms.size()));
  if (fit.fitted_on == 0) return fit;
  // Log grid from 0.1% to 100% of the peaks, 8 steps per factor of 2, then
  // one refinement round around the best point.
  const int kSteps = 80;
  auto value = [](double lo, double hi, int i, int n) {
    return std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * i / n);
  };
  double best_c = 0.5, best_b = 0.5, best = 1e300;
  double lo_c = 1e-3, hi_c = 1, lo_b = 1e-3, hi_b = 1;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i <= kSteps; ++i) {
      const double ec = value(lo_c, hi_c, i, kSteps);
      if (fit.fitted_on < 3) {
        const double l = LogLoss(nets, ms, ec, ec);
        if (l < best) best = l, best_c = best_b = ec;
        continue;
      }
      for (int j = 0; j <= kSteps; ++j) {
        const double eb = value(lo_b, hi_b, j, kSteps);
        const double l = LogLoss(nets, ms, ec, eb);
        if (l < best) best = l, best_c = ec, best_b = eb;
      }
    }
    const double span = std::pow(1000.0, 2.0 / kSteps);  // two grid steps
    lo_c = std::max(1e-3, best_c / span), hi_c = std::min(1.0, best_c * span);
    lo_b = std::max(1e-3, best_b / span), hi_b = std::min(1.0, best_b * span);
  }
  for (int c = 0; c < kNumOpClasses; ++c) fit.eff.compute[c] = best_c, fit.eff.bandwidth[c] = best_b;
  fit.params = fit.fitted_on < 3 ? 1 : 2;
  return fit;
}

void SetEfficiency(const EfficiencyFit& fit, v1::Hardware* hw) {
  hw->clear_efficiency();
  if (fit.params == 0) return;
  auto* e = hw->add_efficiency();
  e->set_compute(fit.eff.compute[0]);
  e->set_bandwidth(fit.eff.bandwidth[0]);
  e->set_fitted_on(fit.fitted_on);
}

}  // namespace lutnas::latency
