// The correction from a table's block sum to end-to-end latency
// (e2e = scale * sum + offset_ms): its one robust fit, its one safety check
// and the noise checks that decide whether a fit may be stored. Used by
// lutnas-profile (validate, measure, fit-correction, --write-correction),
// table files and uploads (table_io.cc), the store (db/store.cc) and the
// SetCorrection RPC. Plain functions, no state: safe from any thread.
// No torch, grpc or sqlite here (lutnas_correction links protos and absl).
//
// The table's range. A network is at least one block plus a head, so the
// smallest block sum a table can produce is its smallest measured block entry
// plus its smallest measured head entry (TableSumRange); a correction carries
// the range it was fitted and checked over (range_min_ms, range_max_ms: the
// space's smallest and largest sums when the profiler knows them). Checks use
// the smaller of the two floors, so a correction can only be stricter than
// the table requires, never looser.
#ifndef LUTNAS_LATENCY_MODELS_CORRECTION_H_
#define LUTNAS_LATENCY_MODELS_CORRECTION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

#include "lutnas/v1/table.pb.h"

namespace lutnas::latency {

// Plausible band of `scale`, and of the end-to-end / block-sum ratio at the
// range's smallest sum (scale + offset_ms / min_sum). A block sum measured in
// isolation misses fusion, caches and dispatch overhead; on the devices we
// know it is within 0.5x-2x of the end-to-end time. Outside 1/4x-4x a
// correction is a measurement error, not a device property.
inline constexpr double kMinCorrectionScale = 0.25;
inline constexpr double kMaxCorrectionScale = 4.0;
// A key-terms fit needs this many networks (4 coefficients); on every fitted
// network its prediction / block sum stays in [kMinCorrectionScale,
// kMaxCorrectionScale].
inline constexpr int kMinKeyTermSamples = 12;
// A type-factors fit (Correction.type_factors) needs this many networks, and
// a block type enters it only when it carries time in >= kMinTypeSamples of
// them; every factor stays in [kMinTypeFactor, kMaxTypeFactor].
inline constexpr int kMinTypeFactorSamples = 24;
inline constexpr int kMinTypeSamples = 5;
inline constexpr double kMinTypeFactor = 0.5;
inline constexpr double kMaxTypeFactor = 2.0;

// Block type of a table key: its text before ':' ("mbconv", "head", ...).
std::string KeyType(const std::string& key);
// Correction.type_factors[type], 1 when the type is absent.
double TypeFactor(const v1::Correction& c, const std::string& type);
// The smallest factor of a correction (1 without type factors, never above 1).
double MinTypeFactor(const v1::Correction& c);

// Block-sum range [min_ms, max_ms]; max_ms 0: unbounded above.
struct SumRange {
  double min_ms = 0;
  double max_ms = 0;
  double min_key_ms = 0;  // the table's smallest measured entry; 0 unknown
};
// A negative Correction.key_overhead_ms (a per-call cost the table counts once
// per key and a network once) may take at most this share of the table's
// smallest entry (every key keeps >= 1/4 of its time, the band's floor).
inline constexpr double kMaxKeyOverheadShare = 0.75;

// Smallest sum a network can get from a table's measured entries: smallest
// non-head entry + smallest head entry (max_ms 0: unknown). {0, 0} without
// measured entries.
SumRange TableSumRange(const v1::LatencyTable& t);
// The same from the two minima (the store computes them in SQL); <= 0: none.
SumRange SumRangeFromMinima(double min_block_ms, double min_head_ms);

// The fields alone (no range): finite, counts >= 0, scale 0 (unset) or in
// the band; `required`: scale 0 is an error too.
absl::Status CheckCorrectionFields(const v1::Correction& c, const std::string& field, bool required = false);

// The one check of a correction, on every path that stores one. Unset
// (scale 0) is fine. Otherwise: every number finite, counts >= 0, scale in
// the band, and the correction maps every sum of the range to > 0 with a
// ratio >= kMinCorrectionScale. `range` is the table's (TableSumRange); the
// correction's own range_min_ms, when set, narrows nothing: the smaller floor
// is used. `required`: scale 0 (unset) is an error too. Errors are
// INVALID_ARGUMENT "<field>.<name>: ...".
absl::Status CheckCorrection(const v1::Correction& c, const std::string& field, SumRange range = {},
                             bool required = false);

// Kendall's tau-b between two equally long series (ties handled).
double KendallTau(const std::vector<double>& a, const std::vector<double>& b);

// Limits of a fit's validation (documented in docs/measurement.md). The
// noise of the run itself (reference drift, a bimodal reference, the
// networks' spread) is reported as notes, never a refusal: a noisy machine
// is the normal case, and what counts is whether the fit reproduces (two
// disjoint halves), predicts networks it did not see (leave-one-out) and
// ranks them at least as well as MACs.
struct NoiseLimits {
  double max_reference_drift = 0.10;  // note above: max/min - 1 of the per-round reference
  double max_spread = 0.20;           // note above: median over networks of (p90 - p10) / median
  double max_half_rel_diff = 0.10;    // refusal above: scales fitted on two disjoint halves
  double bimodal_gap = 0.05;          // note: reference gap between two clusters / median
  int min_samples = 10;               // refusal below: networks a stored fit needs
  // Refusal "accuracy": leave-one-out share within +-10% below this, or a
  // leave-one-out MAPE above the raw sums' (the correction makes it worse).
  double min_loo_within_10pct = 0.5;
  // Measurements (lutnas-profile table): a key reproduces when the medians
  // of its two halves of rounds agree within this fraction (rounds.h).
  double key_tolerance = 0.05;
};

// A correction is applied in full up to kRangeSlack x the largest block sum
// it was fitted on (Correction.range_max_ms); beyond, every further ms of
// the sum counts at face value (slope 1, the raw table), continuing from
// the correction's value there, and the prediction says so
// (CorrectionOutOfRange). A scale or offset learned on small networks does
// not carry to networks many times larger (issue 27: fitted on sums
// 0.014-0.255 ms, a plain scale made 1.5-20 ms networks 35-55% low where the
// raw sums were -25%..+9%).
inline constexpr double kRangeSlack = 2.0;
// scale * sum + offset_ms with the range rule above (scale 0: the sum).
double ApplyCorrection(const v1::Correction& c, double sum);
// `sum` is beyond kRangeSlack x range_max_ms of a set correction.
bool CorrectionOutOfRange(const v1::Correction& c, double sum);
// What a prediction from a table with this correction must tell its user
// (empty: nothing): the fit stored although its validation failed
// (validation_flags, accepted_noisy), and the range rule applied at `sum`.
std::vector<std::string> CorrectionWarnings(const v1::Correction& c, double sum);

// One measured network.
struct FitSample {
  double sum_ms = 0;       // the table's block sum
  double measured_ms = 0;  // median end-to-end
  double spread = 0;       // (p90 - p10) / median of its repeats; 0 unknown
  double macs = 0, params = 0;
  std::string name;
  int keys = 0;  // table keys (blocks + head); 0 unknown
  // The block sum split by block type (KeyType); empty: unknown.
  std::map<std::string, double> type_ms;
};

struct FitInput {
  std::vector<FitSample> samples;
  SumRange range;                           // {0,0}: the samples' own range
  double reference_drift = -1;              // < 0: unknown
  std::vector<double> reference_rounds_ms;  // per-round reference (bimodality); may be empty
  uint64_t seed = 0;
  int64_t now_unix_ms = 0;    // 0: now
  bool accept_noisy = false;  // --accept-noisy
};

struct Refusal {
  std::string field, reason;
};

// Leave-one-out accuracy of one candidate model of the fit (model selection).
struct ModelScore {
  std::string method;
  double loo_mape = 0, loo_within_10pct = 0;
  bool chosen = false;
};

// The fit and every figure validate reports about it.
struct FitReport {
  v1::Correction correction;  // with provenance
  int samples = 0;
  // Out of sample (leave-one-out: each network corrected by a fit on the others).
  double within_10pct = 0, mape = 0;
  double within_10pct_raw = 0, mape_raw = 0;  // raw block sums
  // kendall_tau_lut ranks the leave-one-out corrected predictions (what a
  // user gets), kendall_tau_lut_raw the plain block sums.
  double kendall_tau_lut = 0, kendall_tau_macs = 0, kendall_tau_params = 0;
  double kendall_tau_lut_raw = 0;
  // The stored correction applied to every sample (the ranking a user gets
  // from it): the "ranking" check compares this with kendall_tau_macs.
  double kendall_tau_fit = 0;
  std::vector<ModelScore> models;  // every model considered, leave-one-out
  std::vector<Refusal> notes;      // run noise, informational (never blocks)
  std::vector<double> loo_ms;      // per sample, leave-one-out corrected prediction
  double median_spread = 0;        // 0: unknown
  double scale_half_a = 0, scale_half_b = 0, half_rel_diff = 0;
  std::vector<Refusal> refusals;  // why it may not be stored
  bool accept_noisy = false;      // --accept-noisy: validation refusals do not block storing
  // May be stored: no refusal, or only validation refusals (samples,
  // reproducibility, accuracy, ranking) and accept_noisy; then the stored
  // correction carries them (Correction.validation_flags) and every
  // prediction from it says so. A refusal of the correction itself
  // ("correction.*": unsafe) always blocks.
  bool accepted() const;
  // No refusal at all.
  bool passed() const { return refusals.empty(); }
};

// Validates FitInput numbers (finite, sums and times > 0, >= 3 samples);
// INVALID_ARGUMENT naming "samples[i].field".
absl::Status CheckFitInput(const FitInput& in);

// Robust fit on (sum, measured) pairs, safe over `range` (scale > 0, never
// 0: a Theil-Sen slope <= 0 or outside the band falls back to the ratio): Theil-Sen
// (median of pairwise slopes, median intercept) when it is safe over the
// range and beats a pure ratio out of sample by > 1 point of MAPE; otherwise
// the median ratio (offset 0). `method` "" picks; "theil-sen"/"ratio-median"
// force one. Returns scale/offset/fitted_on/mape_before/mape_after/method.
v1::Correction RobustFit(const std::vector<double>& sums, const std::vector<double>& measured, SumRange range,
                         const std::string& method = "");

// The correction's prediction for one network: scale * (sum' + keys *
// key_overhead_ms + params/1e6 * key_ms_per_mparam) + offset_ms, where sum'
// is sum_k type_factor * t_k (the plain sum without type factors or type_ms).
double CorrectedSample(const v1::Correction& c, const FitSample& s);

// Per-key terms (method "key-terms"): e2e = a*sum + b*Mparams + d*keys + e,
// least squares on relative errors, stored as scale a, key_ms_per_mparam b/a,
// key_overhead_ms d/a, offset e: the best of the column subsets whose fit is
// feasible (b >= 0) and safe (CheckCorrection over `range`, which bounds a
// negative d/a by the table's smallest entry, and every sample's
// prediction/sum in the band). Needs params and keys on every sample; scale
// 0 (unset) when no subset qualifies.
v1::Correction FitKeyTerms(const std::vector<FitSample>& samples, SumRange range);

// Per-block-type factors (method "type-factors"): the key-terms model with
// one more coefficient per block type, e2e = sum_T c_T * sum_T + b*Mparams +
// d*keys + e, each c_T = a * factor_T shrunk towards the shared a (ridge on
// the factors' deviations, its strength chosen by 5-fold cross-validation
// among a few values, "no type factors" included). A type enters when it
// carries time in >= kMinTypeSamples samples; every factor in
// [kMinTypeFactor, kMaxTypeFactor] and the fit safe as FitKeyTerms' are.
// Needs type_ms on every sample and >= kMinTypeFactorSamples; scale 0
// (unset) otherwise or when nothing qualifies.
v1::Correction FitTypeFactors(const std::vector<FitSample>& samples, SumRange range);

// Everything: fit, out-of-sample figures, reproducibility, noise and safety
// checks. Call CheckFitInput first. When every sample has params and keys and
// there are >= kMinKeyTermSamples, the key-terms fit replaces the plain one
// if it beats it out of sample (leave-one-out MAPE) by more than 0.5 point;
// with type_ms on every sample and >= kMinTypeFactorSamples, the
// type-factors fit then replaces the best so far on the same condition.
// The key-terms and type-factors least squares are Huber-weighted (IRLS on
// relative errors): a few networks measured during a disturbance do not
// pull the fit.
FitReport FitAndCheck(const FitInput& in, const NoiseLimits& limits = {});

// Noise refusals of one measured run: reference drift (max/min - 1; < 0
// unknown) above the limit, a bimodal per-round reference, a median network
// spread ((p90-p10)/median; 0 entries unknown) above the limit.
std::vector<Refusal> CheckRunNoise(double reference_drift, const std::vector<double>& rounds_ms,
                                   const std::vector<double>& spreads, const NoiseLimits& limits = {});

// A set of per-round reference times looks like two clusters.
bool BimodalReference(const std::vector<double>& rounds_ms, double gap);

// The JSON object fields shared by `validate --json` and `fit-correction
// --json` (no braces): samples ... refusals.
std::string FitReportJsonFields(const FitReport& r);
// A string's JSON text without the quotes.
std::string JsonEscape(const std::string& s);
// Human-readable lines: reproducibility and every refusal.
std::string FitReportText(const FitReport& r);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_CORRECTION_H_
