// Interleaved measurement rounds and their statistics, with the timing
// behind a seam (no torch here: the profiler plugs LibTorch in, tests a
// synthetic clock). Method (docs/measurement.md, "Noise"):
//  - every workload is timed once per round, in a fresh seeded order, with a
//    fixed reference workload at the start of each round;
//  - each round's speed is estimated from ALL its workloads and the
//    reference together (a two-way robust fit of log time = key + round,
//    Tukey's median polish), so a round run while the machine was slower
//    is scaled back, key by key, without trusting one noisy reference;
//  - a key's estimate is the median over rounds of its round-corrected
//    round medians; the whole run is then expressed in the time units of a
//    target reference (the table's), from the reference's own polished
//    estimate;
//  - a key is judged by whether it reproduces: its median's 95% interval
//    must be within `key_tolerance`, and the medians of its first and
//    second halves of rounds (chronological: a re-measurement later in the
//    run) must agree within `key_tolerance` or within chance (3 standard
//    errors of their difference). Keys that do not get extra
//    rounds (with a few reproducible anchor keys, so the round effect stays
//    well estimated), within a time cap; those that still do not reproduce
//    are reported as such (never the whole run refused for the reference's
//    drift).
// Not thread-safe; one call at a time.
#ifndef LUTNAS_LATENCY_MODELS_ROUNDS_H_
#define LUTNAS_LATENCY_MODELS_ROUNDS_H_

#include <cstdint>
#include <functional>
#include <vector>

namespace lutnas::latency {

struct RoundsOptions {
  int rounds = 9;             // base rounds (every workload)
  int min_samples = 3;        // per workload per round
  double min_round_ms = 3;    // per workload per round: sample at least this long
  int max_samples = 40;       // per workload per round
  int reference_samples = 7;  // reference runs per round (their median)
  uint64_t seed = 1;          // order of workloads within rounds
  // A key reproduces when its interval is within this fraction of its
  // estimate and its two halves agree (KeyEstimate.reproducible).
  double key_tolerance = 0.05;
  // Extra rounds for keys that do not reproduce yet: at most this many, and
  // they stop once they have taken `extra_time_factor` x the base rounds'
  // time (the time cap). 0: none.
  int max_extra_rounds = 0;
  double extra_time_factor = 1.0;
  int anchors = 6;  // reproducible keys re-timed in each extra round
};

// The timing seam: time_once(i) runs workload i once (i == -1: the
// reference) and returns its time in ms; a negative or non-finite value
// marks workload i failed (not timed again). now_s: a monotonic clock in
// seconds for the time cap (null: std::chrono::steady_clock).
struct RoundTimer {
  std::function<double(int)> time_once;
  std::function<double()> now_s;
};

struct KeyEstimate {
  bool failed = false;
  double median_ms = 0;                       // in the target's time units
  double p10_ms = 0, p90_ms = 0, iqr_ms = 0;  // of the round-corrected samples
  int samples = 0;
  int rounds = 0;                       // rounds it was timed in
  double half_a_ms = 0, half_b_ms = 0;  // medians of its first / second half of rounds
  double half_rel_diff = 0;             // |a - b| / median
  // 95% interval of the median, relative (+-): 2 x 1.2533 x MAD-sigma of its
  // round-corrected round medians / sqrt(rounds).
  double interval_rel = 0;
  // interval_rel <= key_tolerance, and its halves differ by no more than
  // key_tolerance or 3 standard errors of their difference (< 4 rounds:
  // unknown, true).
  bool reproducible = true;
  bool halves_agree = true;  // the second condition alone
  double round_spread = 0;   // (p90 - p10) / median of its corrected round medians
};

struct RoundsResult {
  std::vector<KeyEstimate> keys;
  std::vector<double> reference_ms;  // raw median reference time of every round run
  std::vector<double> round_speed;   // each round's time factor vs the typical round (exp of its effect)
  double reference_estimate_ms = 0;  // the reference in the typical round (polished)
  double scale = 1;                  // applied to every key: target / reference_estimate_ms
  int planned = 0, extra = 0;        // base rounds, extra rounds run
  double reference_drift = 1;        // max/min of reference_ms (information, not a verdict)
  double round_drift = 1;            // max/min of round_speed
  int unreproducible = 0;            // keys with reproducible == false
};

// Runs the rounds over workloads 0..n-1 and estimates every key.
// `reference_target_ms` > 0: results in the time units of a run whose
// reference took that long; 0: this run's own. progress(done, n) after each
// base round.
RoundsResult MeasureRounds(int n, const RoundsOptions& opts, double reference_target_ms,
                           const RoundTimer& timer, const std::function<void(int, int)>& progress);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_ROUNDS_H_
