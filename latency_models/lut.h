// Latency prediction for one hardware from its measured table (or, with no
// table, from the device's published peak compute and bandwidth).
// prediction = correction(stem + sum of blocks + head). A key missing from
// the table is estimated and flagged: SOURCE_INTERPOLATED scales the nearest
// measured key of the same block family (same type, kernel, stride, ...,
// other channels or resolution) by a cost model fitted to the table;
// SOURCE_ROOFLINE uses that fitted model alone (or the spec roofline when
// there is no table). Immutable after Create: safe to share across threads.
#ifndef LUTNAS_LATENCY_MODELS_LUT_H_
#define LUTNAS_LATENCY_MODELS_LUT_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "latency_models/cost.h"
#include "lutnas/v1/table.pb.h"
#include "search/space/space.h"

namespace lutnas {

// 64-bit key of a canonical block on an input shape, computed from fields
// without building strings (the fast path of prediction).
uint64_t NumericKey(const v1::Block& canonical, const Shape& in);
uint64_t NumericHeadKey(const v1::Head& head, const Shape& in);

// Output shape of a canonical, valid block, without validation or strings.
Shape FastOutShape(const v1::Block& b, const Shape& in);

int BytesPerElement(const std::string& precision);  // fp32 4, fp16 2, int8 1

class LatencyPredictor {
 public:
  // `table` may be null: then predictions come from the hardware spec
  // (FAILED_PRECONDITION when it has no peak_gops/bandwidth_gbs).
  static absl::StatusOr<std::shared_ptr<const LatencyPredictor>> Create(
      const v1::Hardware& hw, const v1::LatencyTable* table);

  const v1::Hardware& hardware() const { return hw_; }
  int64_t table_version() const { return version_; }
  bool has_table() const { return version_ > 0; }

  // Whole network: `arch` must be valid and canonical (Canonicalize()).
  v1::Prediction Predict(const v1::Architecture& arch, bool breakdown) const;
  // Corrected end-to-end latency only (Predict(arch, false).latency_ms()
  // without building a Prediction): the search's hot path.
  double PredictMs(const v1::Architecture& arch) const;
  // The table's correction applied to a plain block sum (PredictMs ==
  // CorrectedMs(SumLatency)): for callers that sum memoised block latencies.
  double CorrectedMs(double sum) const { return Corrected(sum); }
  // Plain sum of block latencies (no correction).
  double SumLatency(const v1::Architecture& arch, double* measured_ms) const;
  // One key (block or head).
  double KeyLatency(const KeySpec& key, v1::LatencySource* source) const;

  // The fitted cost model: ms = a * MMACs + b * MiB moved + c.
  struct CostModel {
    double ms_per_mmac = 0, ms_per_mib = 0, ms_fixed = 0;
    double Eval(const Cost& c) const;
  };
  const CostModel& cost_model() const { return model_; }

 private:
  struct Measured {
    double ms;
    Cost cost;
    std::string family;
  };
  LatencyPredictor() = default;
  double Lookup(uint64_t nkey, const std::string* key_or_null,
                const std::function<KeySpec()>& spec,
                v1::LatencySource* src) const;
  double Estimate(const KeySpec& key, v1::LatencySource* src) const;
  double Corrected(double sum) const;

  v1::Hardware hw_;
  int64_t version_ = 0;
  v1::Correction correction_;
  int bpe_ = 4;
  std::unordered_map<uint64_t, double> measured_;
  std::unordered_map<std::string, std::vector<Measured>> families_;
  CostModel model_;
  bool spec_only_ = false;
  // Estimates are memoised: the same missing key is asked for again and again.
  mutable std::mutex mu_;
  mutable std::unordered_map<uint64_t, std::pair<double, v1::LatencySource>> estimates_;
};

// Family of a key: the block text with channel counts and the input shape
// removed ("mbconv:o*,e6,k3,s2,se0,relu6"): keys that differ only in width
// or resolution, which interpolation may scale between.
std::string KeyFamily(const std::string& key);

// Least-squares fit e2e = scale * sum + offset over measured networks.
v1::Correction FitCorrection(const std::vector<double>& sums,
                             const std::vector<double>& measured);

}  // namespace lutnas

#endif  // LUTNAS_LATENCY_MODELS_LUT_H_
