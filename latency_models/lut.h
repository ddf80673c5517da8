// Latency prediction for one hardware from its measured table (or, with no
// table, from the device's published peak compute and bandwidth).
// prediction = correction(stem + sum of blocks + head). A key missing from
// the table is estimated from the table and flagged (estimator.h,
// docs/measurement.md): a per-op-class cost model fitted to the measured
// keys, scaled by the measured/model ratio of the closest measured keys of
// the same family or else block type (SOURCE_INTERPOLATED), or the model
// alone (SOURCE_COST_MODEL); with no table, the spec roofline
// (SOURCE_ROOFLINE). Immutable after Create: safe to share across threads.
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
#include "latency_models/estimator.h"
#include "latency_models/spec_prior.h"
#include "lutnas/v1/table.pb.h"
#include "space/space.h"

namespace lutnas::latency {

// 64-bit key of a canonical block on an input shape, computed from fields
// without building strings (the fast path of prediction).
uint64_t NumericKey(const v1::Block& canonical, const space::Shape& in);
uint64_t NumericHeadKey(const v1::Head& head, const space::Shape& in);

// Output shape of a canonical, valid block, without validation or strings.
space::Shape FastOutShape(const v1::Block& b, const space::Shape& in);

int BytesPerElement(const std::string& precision);  // fp32 4, fp16 2, int8 1

// Every table key of a valid, canonical network in order: stem and stage
// blocks, then the head. `where` (optional) gets each one's place
// ("stages[1].blocks[0]", "head").
std::vector<space::KeySpec> NetworkKeyList(const v1::Architecture& arch,
                                           std::vector<std::string>* where = nullptr);

class LatencyPredictor {
 public:
  // `table` may be null: then predictions come from the hardware spec
  // (FAILED_PRECONDITION when it has no peak_gops/bandwidth_gbs).
  static absl::StatusOr<std::shared_ptr<const LatencyPredictor>> Create(const v1::Hardware& hw,
                                                                        const v1::LatencyTable* table);

  const v1::Hardware& hardware() const { return hw_; }
  int64_t table_version() const { return version_; }
  bool has_table() const { return version_ > 0; }
  // The table's correction (scale 0: none).
  const v1::Correction& correction() const { return correction_; }

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
  double KeyLatency(const space::KeySpec& key, v1::LatencySource* source) const;

  // How a key missing from the table is estimated (memoised).
  struct Estimated {
    double ms = 0;
    v1::LatencySource source = v1::LATENCY_SOURCE_UNSPECIFIED;
    std::string method;     // in words
    std::string basis_key;  // closest measured key scaled from ("" if none)
  };
  Estimated Explain(const space::KeySpec& key) const;
  // Fills p's estimated_keys, missing_keys and low_confidence for `arch`
  // (canonical). Predict(arch, true) does it already; call it after
  // Predict(arch, false) when the answer goes to a user. places=false leaves
  // each key's `where` empty (occurrences still counts them): the compact
  // report of a batch.
  void AddEstimates(const v1::Architecture& arch, v1::Prediction* p, bool places = true) const;
  // The same with places=false on a network's keys from NetworkKeyList
  // (computed once for many hardware).
  void AddEstimates(const std::vector<space::KeySpec>& keys, v1::Prediction* p) const;
  // The per-op-class model estimates are built on (see estimator.h).
  const OpClassModel& op_model() const { return op_model_; }

  // The spec-only roofline's rates (and a plain fit ms = a * MMACs + b * MiB
  // moved + c, no longer used for estimates: see op_model()).
  struct CostModel {
    double ms_per_mmac = 0, ms_per_mib = 0, ms_fixed = 0;
    double Eval(const Cost& c) const;
  };

 private:
  // AddEstimates' work; `where` null: places counted, not listed.
  void AddEstimatesOf(const std::vector<space::KeySpec>& keys, const std::vector<std::string>* where,
                      v1::Prediction* p) const;
  struct Measured {
    double ms;
    Cost cost;
    std::string family;  // the key
    OpFeatures feats{};
  };
  LatencyPredictor() = default;
  double Lookup(uint64_t nkey, const std::string* key_or_null, const std::function<space::KeySpec()>& spec,
                v1::LatencySource* src) const;
  Estimated Estimate(const space::KeySpec& key) const;
  Estimated EstimateKey(const space::KeySpec& key) const;
  double Corrected(double sum) const;
  // The correction's per-key terms (Correction.key_overhead_ms,
  // key_ms_per_mparam): of one key with `params` weights, of one key. 0
  // without them.
  bool HasKeyTerms() const;
  double KeyTermMs(int64_t params) const;
  double KeyTermOf(const space::KeySpec& key) const;
  // The correction's block-type factors (Correction.type_factors): of a type,
  // of a key; 1 without them.
  bool HasTypeFactors() const;
  double FactorOfType(const std::string& type) const;
  double FactorOf(const space::KeySpec& key) const;
  // A key's table entry alone from its latency (KeyLatency: the correction's
  // per-key terms and factor folded in), and the sum of a network's entries.
  double EntryOf(const space::KeySpec& key, double latency_ms) const;
  double EntrySum(const v1::Architecture& arch) const;

  v1::Hardware hw_;
  int64_t version_ = 0;
  v1::Correction correction_;
  int bpe_ = 4;
  std::unordered_map<uint64_t, double> measured_;
  std::unordered_map<std::string, std::vector<Measured>> families_;
  std::unordered_map<std::string, std::vector<Measured>> types_;  // by block type
  CostModel model_;
  OpClassModel op_model_;
  bool spec_only_ = false;
  // Spec-only prior with fitted efficiencies (latency_models/spec_prior.h).
  bool spec_efficiency_ = false;
  Efficiency efficiency_;
  // Keys stored as cpu_fallback without a timing: estimate x penalty.
  std::unordered_map<uint64_t, double> fallback_penalty_;
  // Estimates are memoised: the same missing key is asked for again and again.
  mutable std::mutex mu_;
  mutable std::unordered_map<uint64_t, Estimated> estimates_;
};

// Family of a key: the block text with channel counts and the input shape
// removed ("mbconv:o*,e6,k3,s2,se0,relu6"): keys that differ only in width
// or resolution, which interpolation may scale between.
std::string KeyFamily(const std::string& key);

// Fit e2e = scale * sum + offset over measured networks: RobustFit
// (latency_models/correction.h) with the samples' own range; unset below 3.
v1::Correction FitCorrection(const std::vector<double>& sums, const std::vector<double>& measured);

// Predictions with less than this share of sum_ms measured are flagged
// low_confidence (table.proto explains the figure).
constexpr double kLowConfidenceMeasuredFraction = 0.8;

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_LUT_H_
