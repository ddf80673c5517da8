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

  bool thread_cpu_clock = false;  // LUTNAS_CLOCK=thread-cpu (threads 1 only)

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
  // Samples one workload for one round: >= min_samples and >= min_round_ms.
  void Sample(Workload& w, double scale) {
    double spent = 0;
    for (int i = 0; i < opts.max_samples; ++i) {
      const double ms = TimeOnce(w);
      spent += ms;
      w.samples.push_back(ms * scale);
      if (i + 1 >= opts.min_samples && spent >= opts.min_round_ms) break;
    }
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
  if (const char* c = std::getenv("LUTNAS_CLOCK"); c && std::string(c) == "thread-cpu") {
    impl_->thread_cpu_clock = opts.threads <= 1;
    if (!impl_->thread_cpu_clock)
      std::fprintf(stderr, "warning: LUTNAS_CLOCK=thread-cpu needs --threads 1; using wall time\n");
  }
  impl_->rng.Seed(opts.seed);
  torch::set_num_threads(std::max(1, opts.threads));
  v1::Block ref;
  ref.mutable_conv()->set_out_channels(32);
  (void)impl_->Prepare(impl_->reference, LowerBlock(ref, space::Shape{32, 56, 56}));
}

Profiler::~Profiler() { delete impl_; }

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
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  std::vector<double> refs;
  std::vector<std::vector<int>> round_of(n);  // round of every sample
  const int rounds = std::max(1, impl_->opts.rounds);
  const double tol = impl_->opts.round_tolerance;
  auto run_round = [&](int r, int total) {
    refs.push_back(impl_->ReferenceRound());
    for (int i = n - 1; i > 0; --i) std::swap(order[i], order[impl_->rng.Uniform(i + 1)]);
    for (int idx : order) {
      Workload& w = ws[idx];
      if (w.failed) continue;
      auto st = TorchGuard([&] {
        const size_t before = w.samples.size();
        impl_->Sample(w, 1.0);
        for (size_t k = before; k < w.samples.size(); ++k) round_of[idx].push_back(r);
      });
      if (!st.ok()) {
        w.failed = true;
        w.error = std::string(st.message());
      }
    }
    if (std::getenv("LUTNAS_PROFILE_DEBUG"))
      std::fprintf(stderr, "round %d reference %.4f ms\n", r, refs.back());
    if (progress)
      progress(static_cast<int>(std::min<int64_t>((r + 1) * static_cast<int64_t>(n) / total, n)), n);
  };
  // Rounds off the median reference by more than tol (disturbed).
  auto disturbed = [&]() {
    const double med = ComputeStats(refs).median_ms;
    std::vector<bool> bad(refs.size(), false);
    for (size_t r = 0; r < refs.size(); ++r)
      bad[r] = tol > 0 && med > 0 && std::fabs(refs[r] / med - 1) > tol;
    return bad;
  };
  for (int r = 0; r < rounds; ++r) run_round(r, rounds);
  int extra = 0;
  for (;;) {
    const auto bad = disturbed();
    const int clean = static_cast<int>(std::count(bad.begin(), bad.end(), false));
    if (clean >= rounds || extra >= impl_->opts.max_extra_rounds) break;
    run_round(static_cast<int>(refs.size()), static_cast<int>(refs.size()) + 1);
    ++extra;
  }
  std::vector<bool> drop = disturbed();
  if (std::count(drop.begin(), drop.end(), false) < rounds) drop.assign(refs.size(), false);
  std::vector<double> kept;
  for (size_t r = 0; r < refs.size(); ++r)
    if (!drop[r]) kept.push_back(refs[r]);
  // Drift control: scale round r by target / reference_r.
  const double own = ComputeStats(kept).median_ms;
  const double target = reference_target_ms > 0 ? reference_target_ms : own;
  auto ratio = [](const std::vector<double>& v) {
    const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    return *mn > 0 ? *mx / *mn : 1.0;
  };
  if (drift) *drift = ratio(kept);
  if (rounds_out) {
    rounds_out->reference_ms = kept;
    rounds_out->planned = rounds;
    rounds_out->run = static_cast<int>(refs.size());
    rounds_out->dropped = static_cast<int>(refs.size() - kept.size());
    rounds_out->drift_all = ratio(refs);
  }
  std::vector<WorkloadResult> out(n);
  for (int i = 0; i < n; ++i) {
    out[i].failed = ws[i].failed;
    out[i].error = ws[i].error;
    if (ws[i].failed) continue;
    std::vector<double> corrected;
    std::vector<std::vector<double>> per_round(refs.size());
    for (size_t k = 0; k < ws[i].samples.size(); ++k) {
      const int r = round_of[i][k];
      if (drop[r]) continue;
      const double ref = refs[r];
      corrected.push_back(ws[i].samples[k] * (ref > 0 ? target / ref : 1.0));
      per_round[r].push_back(corrected.back());
    }
    out[i].stats = ComputeStats(corrected);
    std::vector<double> medians;
    for (auto& v : per_round)
      if (!v.empty()) medians.push_back(ComputeStats(v).median_ms);
    const Stats rs = ComputeStats(medians);
    out[i].round_spread = rs.median_ms > 0 ? (rs.p90_ms - rs.p10_ms) / rs.median_ms : 0;
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
                                  const NoiseLimits& limits, int retries) {
  CheckedMeasurement m;
  for (int attempt = 0; attempt <= std::max(0, retries); ++attempt) {
    m.rounds = RoundReport();
    m.results = prof.Measure(graphs, reference_target_ms, progress, &m.drift, &m.rounds);
    m.attempts = attempt + 1;
    std::vector<double> spreads;
    for (const auto& r : m.results)
      if (!r.failed) spreads.push_back(r.round_spread);
    m.noise = CheckRunNoise(m.drift - 1, m.rounds.reference_ms, {}, limits);
    // The keys' own spread (CheckRunNoise words it for networks).
    std::sort(spreads.begin(), spreads.end());
    const double med = spreads.empty() ? 0 : spreads[spreads.size() / 2];
    if (med > limits.max_spread)
      m.noise.push_back({"spread", absl::StrFormat("the median key's per-round medians spread "
                                                   "%.1f%% ((p90-p10)/median, limit %.0f%%)",
                                                   100 * med, 100 * limits.max_spread)});
    if (m.noise.empty()) break;
  }
  return m;
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
  return lim;
}

}  // namespace lutnas::latency
