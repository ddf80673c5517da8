// The measurement core of lutnas-profile (torch stays in profiler.cc).
// Methodology (docs/measurement.md): fixed thread count; every workload is
// built once and warmed up; measurement runs in interleaved rounds with a
// reference workload, each round's speed estimated from all its workloads
// and cancelled, keys judged by whether their two halves of rounds
// reproduce, extra rounds for those that do not (latency_models/rounds.h,
// the torch-free statistics behind a timing seam); statistics are robust
// (median, IQR, p10/p90) and keep the sample count. Not thread-safe: one
// Profiler per process.
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
  // Keys whose two halves of rounds differ by more than `key_tolerance` get
  // up to `max_extra_rounds` extra rounds, within `extra_time_factor` x the
  // base rounds' time (RoundsOptions). 0: none.
  int max_extra_rounds = 0;
  double key_tolerance = 0.05;
  double extra_time_factor = 1.0;
  // Unused since rounds are no longer dropped (each round's speed is
  // estimated and cancelled instead); kept for callers that set it.
  double round_tolerance = 0;
};

// What happened to the rounds of one Measure call.
struct RoundReport {
  std::vector<double> reference_ms;       // per round run
  std::vector<double> round_speed;        // each round's time factor, from all its workloads
  int planned = 0, run = 0, dropped = 0;  // dropped: always 0 (rounds are corrected, not dropped)
  double drift_all = 1;                   // max/min of the reference over every round
  double round_drift = 1;                 // max/min of round_speed
  int unreproducible = 0;                 // workloads whose halves did not agree
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
  // Split-half reproducibility: medians of its first and second half of
  // rounds, their difference / median, and whether that is within
  // MeasureOptions.key_tolerance (after any extra rounds).
  double half_a_ms = 0, half_b_ms = 0, half_rel_diff = 0;
  double interval_rel = 0;  // 95% interval of the median, +- relative
  bool reproducible = true;
  bool halves_agree = true;  // its halves agree (reproducible also needs a narrow interval)
  int rounds = 0;
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

  // "thread-cpu" (the default with 1 thread: the measuring thread's CPU
  // time, preemption left out) or "wall" (more threads, or LUTNAS_CLOCK=wall).
  const char* clock() const;

  // Median time of the reference workload (a fixed 3x3 conv), measured now.
  absl::StatusOr<double> MeasureReference();

  // Measures lowered graphs with batch 1 (MeasureRounds in rounds.h).
  // `reference_target_ms` > 0 expresses every time in the units of a run
  // whose reference took that long (drift control across runs and chunks);
  // 0 uses this call's own reference. `progress(done,total)` is called as
  // workloads finish their base rounds. `drift` (optional) gets the max/min
  // ratio of the per-round reference times (information: the rounds'
  // speed is cancelled); `rounds` (optional) the per-round detail.
  std::vector<WorkloadResult> Measure(const std::vector<Graph>& graphs, double reference_target_ms,
                                      const std::function<void(int, int)>& progress, double* drift = nullptr,
                                      RoundReport* rounds = nullptr);

 private:
  struct Impl;
  Impl* impl_;
};

// One Measure call and what did not reproduce: `noise` names every
// workload whose halves still differ by more than the key tolerance after
// its extra rounds ("keys[i]"), empty when every workload reproduced. The
// reference's drift is no longer a reason (rounds are corrected); `limits`
// and `retries` are kept for callers and unused.
struct CheckedMeasurement {
  std::vector<WorkloadResult> results;
  double drift = 1;  // max/min reference ratio (information)
  RoundReport rounds;
  std::vector<Refusal> noise;
  int attempts = 0;
};
CheckedMeasurement MeasureChecked(Profiler& prof, const std::vector<Graph>& graphs,
                                  double reference_target_ms, const std::function<void(int, int)>& progress,
                                  const NoiseLimits& limits, int retries);

// "did not reproduce: its first and second half of R rounds gave A and B ms (D% apart)".
std::string UnreproducibleReason(const WorkloadResult& r);

// Noise limits for the table tools: NoiseLimits' defaults, or
// LUTNAS_TABLE_MAX_DRIFT / LUTNAS_TABLE_MAX_SPREAD (notes only now) and
// LUTNAS_TABLE_KEY_TOLERANCE (the split-half tolerance a key must reproduce
// within; fractions, e.g. 0.05) when set to a number >= 0; *error names a
// malformed one.
NoiseLimits TableNoiseLimits(std::string* error);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_PROFILER_H_
