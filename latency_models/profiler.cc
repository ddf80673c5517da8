#include "latency_models/profiler.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "base/rng.h"
#include "latency_models/builder.h"
#include "latency_models/rounds.h"

namespace lutnas::latency {
namespace {

using Clock = std::chrono::steady_clock;

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * (sorted.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

struct Workload {
  GraphNet net{nullptr};
  torch::Tensor input;
  std::vector<double> samples;
  bool failed = false;
  std::string error;
};

}  // namespace

void SetTorchThreads(int threads) {
  torch::set_num_threads(std::max(1, threads));
  static bool interop_set = false;  // may be set once per process
  if (!interop_set) {
    interop_set = true;
    try {
      torch::set_num_interop_threads(1);
    } catch (const std::exception&) {
    }
  }
}

Stats ComputeStats(std::vector<double> s) {
  Stats st;
  if (s.empty()) return st;
  std::sort(s.begin(), s.end());
  st.median_ms = Quantile(s, 0.5);
  st.iqr_ms = Quantile(s, 0.75) - Quantile(s, 0.25);
  st.p10_ms = Quantile(s, 0.1);
  st.p90_ms = Quantile(s, 0.9);
  st.samples = static_cast<int>(s.size());
  return st;
}

struct Profiler::Impl {
  MeasureOptions opts;
  Workload reference;
  base::Rng rng;

  bool thread_cpu_clock = false;  // threads 1 unless LUTNAS_CLOCK=wall

  double TimeOnce(Workload& w) {
    torch::NoGradGuard ng;
    if (thread_cpu_clock) {
      // CPU time of this thread: with one intra-op thread all work runs
      // here, and time spent preempted on an oversubscribed host is left out.
      timespec a, b;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
      auto y = w.net->forward(w.input);
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
      (void)y;
      return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    }
    const auto t0 = Clock::now();
    auto y = w.net->forward(w.input);
    const auto t1 = Clock::now();
    (void)y;
    return std::chrono::duration<double, std::milli>(t1 - t0).count();
  }
  absl::Status Prepare(Workload& w, const Graph& g) {
    return TorchGuard([&] {
      torch::NoGradGuard ng;
      w.net = GraphNet(g);
      w.net->eval();
      const space::Shape& in = g.values[0];
      w.input = torch::randn({1, in.c, in.h, in.w});
      for (int i = 0; i < opts.warmup; ++i) w.net->forward(w.input);
    });
  }
  double ReferenceRound() {
    std::vector<double> s;
    for (int i = 0; i < 7; ++i) s.push_back(TimeOnce(reference));
    return ComputeStats(s).median_ms;
  }
};

Profiler::Profiler(const MeasureOptions& opts) : impl_(new Impl) {
#ifdef __GLIBC__
  // Keep freed tensor memory in the heap instead of returning it to the OS:
  // otherwise outputs above glibc's mmap threshold are mapped and faulted in
  // on every run and timings flip between two modes (seen: 0.6 vs 1.1 ms for
  // the same conv). Inference engines keep their buffers; so do we.
  // glibc caps M_MMAP_THRESHOLD at 32 MiB on 64-bit (HEAP_MAX/2) and
  // ignores a larger value, leaving the 128 KiB default in force (and
  // M_TRIM_THRESHOLD turns its dynamic raising off): every tensor above
  // 128 KiB was then mapped and faulted in on every run.
  if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1)
    std::fprintf(stderr, "warning: mallopt(M_MMAP_THRESHOLD) refused\n");
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  impl_->opts = opts;
  // The clock: with one thread, the measuring thread's CPU time by default
  // (time spent preempted by other processes is the host's noise, not the
  // network's: on a 2-core box at load 10 a 0.5 ms network read 0.4-10.6 ms
  // p10-p90 on the wall clock, 0.44-0.61 ms on this one); LUTNAS_CLOCK=wall
  // forces the wall clock. More threads: the wall clock.
  const char* c = std::getenv("LUTNAS_CLOCK");
  const std::string clock = c && *c ? c : (opts.threads <= 1 ? "thread-cpu" : "wall");
  impl_->thread_cpu_clock = clock == "thread-cpu" && opts.threads <= 1;
  if (clock == "thread-cpu" && opts.threads > 1)
    std::fprintf(stderr, "warning: LUTNAS_CLOCK=thread-cpu needs --threads 1; using wall time\n");
  impl_->rng.Seed(opts.seed);
  torch::set_num_threads(std::max(1, opts.threads));
  v1::Block ref;
  ref.mutable_conv()->set_out_channels(32);
  (void)impl_->Prepare(impl_->reference, LowerBlock(ref, space::Shape{32, 56, 56}));
}

Profiler::~Profiler() { delete impl_; }

const char* Profiler::clock() const { return impl_->thread_cpu_clock ? "thread-cpu" : "wall"; }

absl::StatusOr<double> Profiler::MeasureReference() {
  std::vector<double> s;
  for (int r = 0; r < 5; ++r) s.push_back(impl_->ReferenceRound());
  return ComputeStats(s).median_ms;
}

std::vector<WorkloadResult> Profiler::Measure(const std::vector<Graph>& graphs, double reference_target_ms,
                                              const std::function<void(int, int)>& progress, double* drift,
                                              RoundReport* rounds_out) {
  const int n = static_cast<int>(graphs.size());
  std::vector<Workload> ws(n);
  for (int i = 0; i < n; ++i) {
    auto st = impl_->Prepare(ws[i], graphs[i]);
    if (!st.ok()) {
      ws[i].failed = true;
      ws[i].error = std::string(st.message());
    }
  }
  const MeasureOptions& mo = impl_->opts;
  RoundsOptions ro;
  ro.rounds = std::max(1, mo.rounds);
  ro.min_samples = mo.min_samples;
  ro.min_round_ms = mo.min_round_ms;
  ro.max_samples = mo.max_samples;
  ro.seed = impl_->rng.Next();
  ro.key_tolerance = mo.key_tolerance;
  ro.max_extra_rounds = mo.max_extra_rounds;
  ro.extra_time_factor = mo.extra_time_factor;
  RoundTimer timer;
  timer.time_once = [&](int i) -> double {
    Workload& w = i < 0 ? impl_->reference : ws[i];
    if (w.failed) return -1;
    double ms = -1;
    auto st = TorchGuard([&] { ms = impl_->TimeOnce(w); });
    if (!st.ok()) {
      w.failed = true;
      w.error = std::string(st.message());
      return -1;
    }
    return ms;
  };
  const RoundsResult rr = MeasureRounds(n, ro, reference_target_ms, timer, progress);
  if (std::getenv("LUTNAS_PROFILE_DEBUG"))
    for (size_t r = 0; r < rr.reference_ms.size(); ++r)
      std::fprintf(stderr, "round %zu reference %.4f ms speed %.3f\n", r, rr.reference_ms[r],
                   rr.round_speed[r]);
  if (drift) *drift = rr.reference_drift;
  if (rounds_out) {
    rounds_out->reference_ms = rr.reference_ms;
    rounds_out->round_speed = rr.round_speed;
    rounds_out->planned = rr.planned;
    rounds_out->run = static_cast<int>(rr.reference_ms.size());
    rounds_out->dropped = 0;
    rounds_out->drift_all = rr.reference_drift;
    rounds_out->round_drift = rr.round_drift;
    rounds_out->unreproducible = rr.unreproducible;
  }
  std::vector<WorkloadResult> out(n);
  for (int i = 0; i < n; ++i) {
    const KeyEstimate& e = rr.keys[i];
    out[i].failed = ws[i].failed || e.failed;
    out[i].error = ws[i].error.empty() && out[i].failed ? "no successful run" : ws[i].error;
    if (out[i].failed) continue;
    out[i].stats.median_ms = e.median_ms;
    out[i].stats.iqr_ms = e.iqr_ms;
    out[i].stats.p10_ms = e.p10_ms;
    out[i].stats.p90_ms = e.p90_ms;
    out[i].stats.samples = e.samples;
    out[i].round_spread = e.round_spread;
    out[i].half_a_ms = e.half_a_ms;
    out[i].half_b_ms = e.half_b_ms;
    out[i].half_rel_diff = e.half_rel_diff;
    out[i].interval_rel = e.interval_rel;
    out[i].halves_agree = e.halves_agree;
    out[i].reproducible = e.reproducible;
    out[i].rounds = e.rounds;
  }
  return out;
}

v1::LatencyEntry EntryOf(const std::string& key, const WorkloadResult& r) {
  v1::LatencyEntry e;
  e.set_key(key);
  if (r.failed) {
    e.set_status(v1::ENTRY_FAILED);
    e.set_error(r.error.empty() ? "failed" : r.error);
  } else {
    e.set_status(v1::ENTRY_MEASURED);
    e.set_median_ms(r.stats.median_ms);
    e.set_iqr_ms(r.stats.iqr_ms);
    e.set_p10_ms(r.stats.p10_ms);
    e.set_p90_ms(r.stats.p90_ms);
    e.set_samples(r.stats.samples);
  }
  return e;
}

CheckedMeasurement MeasureChecked(Profiler& prof, const std::vector<Graph>& graphs,
                                  double reference_target_ms, const std::function<void(int, int)>& progress,
                                  const NoiseLimits& /*limits*/, int /*retries*/) {
  CheckedMeasurement m;
  m.results = prof.Measure(graphs, reference_target_ms, progress, &m.drift, &m.rounds);
  m.attempts = 1;
  for (size_t i = 0; i < m.results.size(); ++i) {
    const auto& r = m.results[i];
    if (r.failed || r.reproducible) continue;
    m.noise.push_back({absl::StrCat("keys[", i, "]"), UnreproducibleReason(r)});
  }
  return m;
}

std::string UnreproducibleReason(const WorkloadResult& r) {
  return absl::StrFormat(
      "did not reproduce: its first and second half of %d rounds gave %.4g and %.4g ms "
      "(%.1f%% apart), median +-%.1f%% (95%%)",
      r.rounds, r.half_a_ms, r.half_b_ms, 100 * r.half_rel_diff, 100 * r.interval_rel);
}

NoiseLimits TableNoiseLimits(std::string* error) {
  NoiseLimits lim;
  error->clear();
  auto read = [&](const char* name, double* to) {
    const char* v = std::getenv(name);
    if (!v || !*v) return;
    char* end = nullptr;
    const double x = std::strtod(v, &end);
    if (end == v || *end != '\0' || !(x >= 0) || !std::isfinite(x))
      *error = absl::StrCat(name, ": must be a fraction >= 0 (e.g. 0.05), got '", v, "'");
    else
      *to = x;
  };
  read("LUTNAS_TABLE_MAX_DRIFT", &lim.max_reference_drift);
  read("LUTNAS_TABLE_MAX_SPREAD", &lim.max_spread);
  read("LUTNAS_TABLE_KEY_TOLERANCE", &lim.key_tolerance);
  return lim;
}

}  // namespace lutnas::latency
