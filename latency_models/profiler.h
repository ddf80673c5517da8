// The measurement core of lutnas-profile (torch stays in profiler.cc).
// Methodology (docs/measurement.md): fixed thread count; every workload is
// built once and warmed up; measurement runs in interleaved rounds (every
// workload once per round, in a fresh seeded order) so slow machine drift
// spreads over all of them; a fixed reference workload is timed at the start
// of every round and each round's samples are scaled by reference/target to
// cancel drift; statistics are robust (median, IQR, p10/p90) and keep the
// sample count. Not thread-safe: one Profiler per process.
#ifndef LUTNAS_LATENCY_MODELS_PROFILER_H_
#define LUTNAS_LATENCY_MODELS_PROFILER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "latency_models/correction.h"
#include "latency_models/graph.h"
#include "lutnas/v1/table.pb.h"

namespace lutnas::latency {

struct MeasureOptions {
  int threads = 1;          // intra-op threads (fixed for the whole run)
  int rounds = 9;           // interleaved rounds
  int min_samples = 3;      // per workload per round
  double min_round_ms = 3;  // per workload per round: sample at least this long
  int max_samples = 40;     // per workload per round
  int warmup = 3;           // untimed runs per workload before round 1
  uint64_t seed = 1;        // order of workloads within rounds
  // Re-measuring disturbed rounds: a round whose reference time is more than
  // `round_tolerance` off the median round's is disturbed; up to
  // `max_extra_rounds` more rounds are run to replace such rounds, and they
  // are dropped once `rounds` clean rounds exist (else all rounds are kept
  // and the drift says so). 0: off.
  double round_tolerance = 0;
  int max_extra_rounds = 0;
};

// What happened to the rounds of one Measure call.
struct RoundReport {
  std::vector<double> reference_ms;  // per kept round
  int planned = 0, run = 0, dropped = 0;
  double drift_all = 1;  // max/min over every round run (kept or not)
};

struct Stats {
  double median_ms = 0, iqr_ms = 0, p10_ms = 0, p90_ms = 0;
  int samples = 0;
};
Stats ComputeStats(std::vector<double> samples);

// KendallTau: latency_models/correction.h.

struct WorkloadResult {
  Stats stats;
  bool failed = false;
  std::string error;  // why a workload could not run
  // (p90 - p10) / median of the per-round medians: how much the median of
  // one round varies from round to round (the noise a median still carries).
  double round_spread = 0;
};

// A table entry for `key` from its measurement: measured with its
// statistics, or failed with the reason.
v1::LatencyEntry EntryOf(const std::string& key, const WorkloadResult& r);

// Fixes LibTorch's intra-op (and inter-op) thread counts for this process.
void SetTorchThreads(int threads);

class Profiler {
 public:
  explicit Profiler(const MeasureOptions& opts);
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Median time of the reference workload (a fixed 3x3 conv), measured now.
  absl::StatusOr<double> MeasureReference();

  // Measures lowered graphs with batch 1. `reference_target_ms` > 0 scales
  // every round to that reference time (drift control across runs and
  // chunks); 0 uses this call's own median reference. `progress(done,total)`
  // is called as workloads finish their rounds. `drift` (optional) gets the
  // max/min ratio of the per-round reference times of the kept rounds;
  // `rounds` (optional) the per-round detail.
  std::vector<WorkloadResult> Measure(const std::vector<Graph>& graphs, double reference_target_ms,
                                      const std::function<void(int, int)>& progress, double* drift = nullptr,
                                      RoundReport* rounds = nullptr);

 private:
  struct Impl;
  Impl* impl_;
};

// One Measure call checked for noise as validate and measure check theirs
// (CheckRunNoise in correction.h: reference drift across the kept rounds, a
// bimodal reference, and the median key's round-to-round spread above
// `limits`), measured again up to `retries` times while it stays noisy.
// `noise` holds the last attempt's findings: empty when it came out clean.
struct CheckedMeasurement {
  std::vector<WorkloadResult> results;  // of the last attempt
  double drift = 1;                     // its max/min reference ratio
  RoundReport rounds;
  std::vector<Refusal> noise;
  int attempts = 0;
};
CheckedMeasurement MeasureChecked(Profiler& prof, const std::vector<Graph>& graphs,
                                  double reference_target_ms, const std::function<void(int, int)>& progress,
                                  const NoiseLimits& limits, int retries);

// Noise limits for the table tools: NoiseLimits' defaults, or
// LUTNAS_TABLE_MAX_DRIFT / LUTNAS_TABLE_MAX_SPREAD (fractions, e.g. 0.05)
// when set to a number >= 0; *error names a malformed one.
NoiseLimits TableNoiseLimits(std::string* error);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_PROFILER_H_
