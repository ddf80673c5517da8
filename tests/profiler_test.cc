// Profiler core: statistics, Kendall tau, and real (small) measurements.
#include "latency_models/profiler.h"

#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>

#include "gtest/gtest.h"

#include "base/rng.h"
#include "latency_models/rounds.h"

namespace lutnas {
namespace {

TEST(StatsTest, RobustStatistics) {
  const latency::Stats s = latency::ComputeStats({5, 1, 3, 2, 4, 100});
  EXPECT_DOUBLE_EQ(s.median_ms, 3.5);
  EXPECT_EQ(s.samples, 6);
  EXPECT_DOUBLE_EQ(s.iqr_ms, 4.75 - 2.25);
  EXPECT_LT(s.p10_ms, s.median_ms);
  EXPECT_GT(s.p90_ms, s.median_ms);
  EXPECT_EQ(latency::ComputeStats({}).samples, 0);
}

TEST(StatsTest, KendallTau) {
  EXPECT_DOUBLE_EQ(latency::KendallTau({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(latency::KendallTau({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_NEAR(latency::KendallTau({1, 2, 3, 4}, {1, 3, 2, 4}), 2.0 / 3.0, 1e-12);
}

TEST(ProfilerTest, MeasuresRealBlocksAndOrdersThemByWork) {
  latency::MeasureOptions o;
  o.rounds = 3;
  o.min_round_ms = 1;
  latency::Profiler p(o);
  v1::Block small, big;
  small.mutable_conv()->set_out_channels(8);
  big.mutable_conv()->set_out_channels(64);
  std::vector<latency::Graph> graphs = {latency::LowerBlock(small, space::Shape{8, 16, 16}),
                                        latency::LowerBlock(big, space::Shape{64, 56, 56})};
  int calls = 0;
  double drift = 0;
  auto res = p.Measure(
      graphs, 0, [&](int, int) { ++calls; }, &drift);
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(calls, 3);
  EXPECT_GE(drift, 1.0);
  for (const auto& r : res) {
    EXPECT_FALSE(r.failed) << r.error;
    EXPECT_GE(r.stats.samples, 9);
    EXPECT_GT(r.stats.median_ms, 0);
    EXPECT_LE(r.stats.p10_ms, r.stats.median_ms);
  }
  // 64x more MACs (and then some) must take clearly longer, whatever the noise.
  EXPECT_GT(res[1].stats.median_ms, 5 * res[0].stats.median_ms);
}

TEST(ProfilerTest, AWorkloadThatCannotRunIsReportedAsFailed) {
  latency::MeasureOptions o;
  o.rounds = 1;
  latency::Profiler p(o);
  v1::Block b;
  b.mutable_conv()->set_out_channels(8);
  latency::Graph g = latency::LowerBlock(b, space::Shape{8, 16, 16});
  g.ops[0].cin = 5;  // weights for 5 channels, input has 8: LibTorch throws
  auto res = p.Measure({g}, 0, nullptr);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0].failed);
  EXPECT_NE(res[0].error.find("libtorch"), std::string::npos) << res[0].error;
}

// MeasureChecked names exactly the workloads whose halves did not
// reproduce (whatever this machine's noise makes of them), never the run
// for its reference's drift.
TEST(ProfilerTest, MeasureCheckedNamesOnlyWhatDidNotReproduce) {
  latency::MeasureOptions o;
  o.rounds = 4;
  o.min_round_ms = 1;
  o.max_extra_rounds = 2;
  latency::Profiler p(o);
  v1::Block b;
  b.mutable_conv()->set_out_channels(8);
  const std::vector<latency::Graph> graphs = {latency::LowerBlock(b, space::Shape{8, 16, 16}),
                                              latency::LowerBlock(b, space::Shape{8, 32, 32})};
  int calls = 0;
  const auto m = latency::MeasureChecked(
      p, graphs, 0, [&](int, int) { ++calls; }, latency::NoiseLimits(), 2);
  EXPECT_EQ(m.attempts, 1);
  EXPECT_EQ(calls, 4);  // base rounds only
  ASSERT_EQ(m.results.size(), 2u);
  size_t named = 0;
  for (size_t i = 0; i < m.results.size(); ++i) {
    EXPECT_GT(m.results[i].stats.median_ms, 0);
    EXPECT_GE(m.results[i].rounds, 4);
    if (!m.results[i].reproducible) {
      ASSERT_LT(named, m.noise.size());
      EXPECT_EQ(m.noise[named].field, "keys[" + std::to_string(i) + "]");
      EXPECT_NE(m.noise[named++].reason.find("did not reproduce"), std::string::npos);
    }
  }
  EXPECT_EQ(named, m.noise.size());
  EXPECT_EQ(static_cast<int>(m.rounds.reference_ms.size()), m.rounds.run);
  EXPECT_GE(m.rounds.run, 4);
}

// A synthetic machine behind the rounds' timing seam: workload i takes
// true_ms[i] (the reference 1 ms) times the machine's slowdown at the
// current synthetic time, times a small seeded jitter; a workload may add
// its own time-dependent factor. Time advances by what each run takes.
struct SyntheticMachine {
  std::vector<double> true_ms;
  std::function<double(double)> slowdown = [](double) { return 1.0; };
  std::function<double(int, double)> own = [](int, double) { return 1.0; };
  double jitter = 0.01;
  double t = 0;
  base::Rng rng{11};
  latency::RoundTimer Timer() {
    latency::RoundTimer timer;
    timer.time_once = [this](int i) {
      const double base = i < 0 ? 1.0 : true_ms[i];
      const double ms = base * slowdown(t) * own(i, t) * (1 + jitter * (2 * rng.Uniform01() - 1));
      t += ms / 1e3;
      return ms;
    };
    timer.now_s = [this] { return t; };
    return timer;
  }
};

std::vector<double> Keys(int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(0.05 * std::pow(1.25, i));  // 0.05 .. ~4 ms
  return v;
}

latency::RoundsOptions Opts() {
  latency::RoundsOptions o;
  o.rounds = 9;
  o.min_round_ms = 3;
  o.max_extra_rounds = 9;
  return o;
}

// The machine alternates between full speed and 1.45x slower every 0.35 s
// (a neighbour's build starting and stopping), and creeps 20% slower over
// the run: the reference drifts far beyond what the old check refused
// (10%), yet every key is recovered within 3% and reproduces.
TEST(RoundsTest, ADriftingClockIsCancelledRoundByRound) {
  SyntheticMachine m;
  m.true_ms = Keys(20);
  m.slowdown = [](double t) {
    return (1 + 0.2 * std::min(t / 3.0, 1.0)) * (std::fmod(t, 0.7) < 0.35 ? 1.0 : 1.45);
  };
  const latency::RoundsResult r =
      latency::MeasureRounds(20, Opts(), /*reference_target_ms=*/1.0, m.Timer(), nullptr);
  EXPECT_GT(r.reference_drift, 1.3);  // the old check refused this run
  EXPECT_GT(r.round_drift, 1.3);      // and the rounds' speeds saw it
  EXPECT_EQ(r.unreproducible, 0);
  ASSERT_EQ(r.keys.size(), 20u);
  for (int k = 0; k < 20; ++k) {
    EXPECT_TRUE(r.keys[k].reproducible) << k << ": " << r.keys[k].half_rel_diff;
    EXPECT_NEAR(r.keys[k].median_ms / m.true_ms[k], 1.0, 0.03) << k;
    EXPECT_LE(r.keys[k].p10_ms, r.keys[k].median_ms);
    EXPECT_GE(r.keys[k].p90_ms, r.keys[k].median_ms);
  }
}

// Quiet machine: nothing drifts, nothing is re-measured or refused (a
// safeguard that always fires protects nothing).
TEST(RoundsTest, AQuietClockRefusesNothing) {
  SyntheticMachine m;
  m.true_ms = Keys(12);
  const latency::RoundsResult r = latency::MeasureRounds(12, Opts(), 0, m.Timer(), nullptr);
  EXPECT_EQ(r.unreproducible, 0);
  EXPECT_EQ(r.extra, 0);
  for (int k = 0; k < 12; ++k) EXPECT_NEAR(r.keys[k].median_ms / m.true_ms[k], 1.0, 0.02) << k;
}

// One key keeps slowing down relative to the others (throttling of the
// unit it uses): it gets extra rounds within the time cap, still does not
// reproduce, and is the only one named (a safeguard that never fires
// protects nothing either).
TEST(RoundsTest, AKeyThatDoesNotReproduceIsNamedAlone) {
  SyntheticMachine m;
  m.true_ms = Keys(16);
  m.slowdown = [](double t) { return std::fmod(t, 0.5) < 0.25 ? 1.0 : 1.3; };
  m.own = [](int i, double t) { return i == 3 ? 1 + 1.5 * t : 1.0; };
  latency::RoundsOptions o = Opts();
  const double t_before = m.t;
  int progress_calls = 0;
  const latency::RoundsResult r =
      latency::MeasureRounds(16, o, 0, m.Timer(), [&](int, int) { ++progress_calls; });
  EXPECT_EQ(progress_calls, 9);
  EXPECT_EQ(r.unreproducible, 1);
  EXPECT_FALSE(r.keys[3].reproducible);
  EXPECT_GT(r.keys[3].half_b_ms, r.keys[3].half_a_ms * 1.05);
  for (int k = 0; k < 16; ++k)
    if (k != 3) EXPECT_TRUE(r.keys[k].reproducible) << k << ": " << r.keys[k].half_rel_diff;
  EXPECT_GT(r.extra, 0);  // it was given more rounds
  EXPECT_LE(r.extra, o.max_extra_rounds);
  EXPECT_GT(r.keys[3].rounds, 9);
  (void)t_before;
}

// The time cap: extra rounds stop once they have taken extra_time_factor x
// the base rounds' time (plus the one round that crossed it).
TEST(RoundsTest, ExtraRoundsStopAtTheTimeCap) {
  auto machine = [] {
    SyntheticMachine m;
    m.true_ms = Keys(16);
    m.own = [](int i, double t) { return i == 3 ? 1 + 1.5 * t : 1.0; };
    return m;
  };
  latency::RoundsOptions o = Opts();
  o.max_extra_rounds = 0;
  SyntheticMachine base = machine();
  latency::MeasureRounds(16, o, 0, base.Timer(), nullptr);
  o.max_extra_rounds = 1000;
  o.extra_time_factor = 0.2;
  SyntheticMachine capped = machine();
  const latency::RoundsResult r = latency::MeasureRounds(16, o, 0, capped.Timer(), nullptr);
  EXPECT_FALSE(r.keys[3].reproducible);
  EXPECT_GT(r.extra, 0);
  EXPECT_LT(r.extra, 1000);
  EXPECT_LE(capped.t, base.t * (1 + 0.2) + 0.05 * base.t);
}

// A workload that fails is reported failed and timed no more.
TEST(RoundsTest, AFailingWorkloadIsFailedNotTimedAgain) {
  int calls1 = 0;
  latency::RoundTimer timer;
  timer.time_once = [&](int i) {
    if (i == 1) return ++calls1, -1.0;
    return i < 0 ? 1.0 : 2.0;
  };
  double t = 0;
  timer.now_s = [&] { return t += 0.001; };
  const latency::RoundsResult r = latency::MeasureRounds(2, Opts(), 0, timer, nullptr);
  EXPECT_FALSE(r.keys[0].failed);
  EXPECT_TRUE(r.keys[1].failed);
  EXPECT_EQ(calls1, 1);
  EXPECT_DOUBLE_EQ(r.keys[0].median_ms, 2.0);
}

TEST(ProfilerTest, TableNoiseLimitsFromTheEnvironment) {
  std::string err;
  unsetenv("LUTNAS_TABLE_MAX_DRIFT");
  unsetenv("LUTNAS_TABLE_MAX_SPREAD");
  latency::NoiseLimits d = latency::TableNoiseLimits(&err);
  EXPECT_EQ(err, "");
  EXPECT_EQ(d.max_reference_drift, latency::NoiseLimits().max_reference_drift);
  setenv("LUTNAS_TABLE_MAX_DRIFT", "0.05", 1);
  setenv("LUTNAS_TABLE_MAX_SPREAD", "0", 1);
  d = latency::TableNoiseLimits(&err);
  EXPECT_EQ(err, "");
  EXPECT_DOUBLE_EQ(d.max_reference_drift, 0.05);
  EXPECT_DOUBLE_EQ(d.max_spread, 0.0);
  setenv("LUTNAS_TABLE_MAX_SPREAD", "-1", 1);
  latency::TableNoiseLimits(&err);
  EXPECT_EQ(err, "LUTNAS_TABLE_MAX_SPREAD: must be a fraction >= 0 (e.g. 0.05), got '-1'");
  unsetenv("LUTNAS_TABLE_MAX_DRIFT");
  unsetenv("LUTNAS_TABLE_MAX_SPREAD");
}

}  // namespace
}  // namespace lutnas
