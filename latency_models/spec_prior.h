// The spec-only latency prior of a device that has no table: each primitive
// op of a key is timed on a roofline of the device's published peaks
// (peak_gops, bandwidth_gbs) scaled by the attained fractions in
// Hardware.efficiency (per operator class), and those fractions are fitted to
// published end-to-end figures (Hardware.published) with a leave-one-out check
// (`lutnas-inspect priors`, `lutnas hardware check-priors`).
// A device without efficiency entries keeps the plain 50% block roofline.
// Plain functions on immutable inputs: safe from any thread.
#ifndef LUTNAS_LATENCY_MODELS_SPEC_PRIOR_H_
#define LUTNAS_LATENCY_MODELS_SPEC_PRIOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "latency_models/graph.h"
#include "lutnas/v1/table.pb.h"
#include "space/space.h"

namespace lutnas::latency {

enum class OpClass { kConv = 0, kDwConv = 1, kOther = 2 };
constexpr int kNumOpClasses = 3;
const char* OpClassName(OpClass c);  // "conv", "dwconv", "other"

// One op's time at 100% of the peaks (ms).
struct PeakTime {
  OpClass cls;
  double compute_ms = 0, memory_ms = 0;
};

// Attained fractions per op class (index = OpClass).
struct Efficiency {
  double compute[kNumOpClasses] = {0.5, 0.5, 0.5};
  double bandwidth[kNumOpClasses] = {0.5, 0.5, 0.5};
};

// hw.efficiency as fractions ("" applies to every class, a named class
// overrides it); `has_any` false when the entry has none.
Efficiency EfficiencyOf(const v1::Hardware& hw, bool* has_any);

// Every op of `g` at full peaks (hw must have peak_gops and bandwidth_gbs > 0).
std::vector<PeakTime> PeakTimes(const Graph& g, const v1::Hardware& hw, int bytes_per_element);
// Sum over ops of max(compute / e.compute, memory / e.bandwidth).
double PriorMs(const std::vector<PeakTime>& ops, const Efficiency& e);
// One key on the device (the predictor's spec-only estimate).
double SpecPriorKeyMs(const space::KeySpec& key, const v1::Hardware& hw, const Efficiency& e, int bpe);

// The ops of a whole network, key by key as the predictor sums them.
std::vector<PeakTime> NetworkPeakTimes(const v1::Architecture& canonical, const v1::Hardware& hw,
                                       int bytes_per_element);

// Least-squares fit in log space of the efficiencies to published figures
// (nets[i] timed at full peaks, measured_ms[i] its published latency).
// 0 figures: the 50% default; 1-2: one shared factor (compute = bandwidth,
// every class); >= 3: compute and bandwidth separately (every class). Per-class
// factors need figures that separate the classes; none of the shipped devices
// has them (docs/hardware.md).
struct EfficiencyFit {
  Efficiency eff;
  int params = 0;  // 0, 1 or 2
  int fitted_on = 0;
};
EfficiencyFit FitEfficiency(const std::vector<std::vector<PeakTime>>& nets,
                            const std::vector<double>& measured_ms);

// The fit written back as Hardware.efficiency entries (one "" entry).
void SetEfficiency(const EfficiencyFit& fit, v1::Hardware* hw);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_SPEC_PRIOR_H_
