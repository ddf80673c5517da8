// Estimates for keys a latency table does not hold, built from the table
// itself (no constants): a per-op-class cost model is fitted to the table's
// measured entries, and a missing key is estimated as
//   model(key) * (measured / model) of its closest measured relatives,
// taken from the same block family (same type and settings, other widths or
// resolution) when the table has one, else from the same block type, else
// the model alone.
//
// The model. Every key is lowered to primitive ops (graph.h) and described by
// features whose coefficients are times per unit:
//   MACs of dense k>1 convs, of 1x1 convs, of depthwise convs, of grouped
//   convs and of linear layers (each its own throughput, ms per MMAC);
//   MiB moved by convs/linear (weights + input + output), by element-wise
//   passes (batch norm, relu/relu6, add, mul: as the eager runtime runs them,
//   unfused; hardswish/hardsigmoid are piecewise linear and count here too),
//   by silu and sigmoid (an exponential per element), by pooling (windowed pools read kernel^2 inputs per
//   output), by concat/shuffle; the number of ops (dispatch overhead) and one call per key.
// Fitted by non-negative least squares on relative error (each measured key
// weighs the same whatever its size), robustly (noisy entries weigh less). A feature no measured key
// exercises (e.g. max-pool in a table of a space without pools) borrows the nearest fitted rate (pool and
// copy bytes: element-wise bytes; a MAC class: the closest conv class), so it is never free and never a
// guess.
#ifndef LUTNAS_LATENCY_MODELS_ESTIMATOR_H_
#define LUTNAS_LATENCY_MODELS_ESTIMATOR_H_

#include <array>
#include <string>
#include <vector>

#include "latency_models/graph.h"

namespace lutnas::latency {

enum OpFeature {
  kFeatMacsDense = 0,  // MMACs, groups 1, kernel > 1
  kFeatMacsPointwise,  // MMACs, 1x1 convs
  kFeatMacsDepthwise,  // MMACs, one input channel per group
  kFeatMacsGrouped,    // MMACs, other grouped convs
  kFeatMacsLinear,     // MMACs, fully connected
  kFeatBytesConv,      // MiB read + written by conv/linear (with weights)
  kFeatBytesEltwise,   // MiB read + written by bn/relu/relu6/hardswish/add/mul
  kFeatBytesAct,       // MiB read + written by silu/sigmoid (an exp per element)
  kFeatBytesPool,      // MiB touched by pooling (window reads + output)
  kFeatBytesMove,      // MiB read + written by concat/shuffle
  kFeatOps,            // ops run (dispatch overhead)
  kFeatCall,           // 1 per key (module call)
  kNumOpFeatures,
};
const char* OpFeatureName(int f);

using OpFeatures = std::array<double, kNumOpFeatures>;

// Features of a lowered key (or network) at `bytes_per_element`.
OpFeatures GraphFeatures(const Graph& g, int bytes_per_element);

class OpClassModel {
 public:
  // Non-negative least squares on relative error over measured keys,
  // robust: entries weighted by 1/(1 + spread) (spread = IQR/median, may be
  // empty) and by Huber weights on their residuals.
  static OpClassModel Fit(const std::vector<OpFeatures>& x, const std::vector<double>& ms,
                          const std::vector<double>& spread = {});
  double Eval(const OpFeatures& f) const;
  const OpFeatures& coef() const { return coef_; }
  // Which coefficients came from the data (others were borrowed).
  bool fitted(int f) const { return fitted_[f]; }
  // One line: "dense conv 12.3 GMAC/s, dw conv 1.1 GMAC/s, eltwise 6.2 GB/s, ..."
  std::string Describe() const;

 private:
  OpFeatures coef_{};
  std::array<bool, kNumOpFeatures> fitted_{};
};

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_ESTIMATOR_H_
