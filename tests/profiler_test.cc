// Profiler core: statistics, Kendall tau, and real (small) measurements.
#include "latency_models/profiler.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

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

// The table tools' noise check: with limits of 0 any real run is noisy
// (two rounds' reference times always differ), so it is measured again
// `retries` times and reported; with limits nothing reaches it is clean at once.
TEST(ProfilerTest, MeasureCheckedRemeasuresANoisyRunThenReportsIt) {
  latency::MeasureOptions o;
  o.rounds = 3;
  o.min_round_ms = 1;
  latency::Profiler p(o);
  v1::Block b;
  b.mutable_conv()->set_out_channels(8);
  const std::vector<latency::Graph> graphs = {latency::LowerBlock(b, space::Shape{8, 16, 16})};
  latency::NoiseLimits zero;
  zero.max_reference_drift = 0;
  zero.max_spread = 0;
  int calls = 0;
  const auto noisy = latency::MeasureChecked(
      p, graphs, 0, [&](int, int) { ++calls; }, zero, 2);
  EXPECT_EQ(noisy.attempts, 3);
  EXPECT_EQ(calls, 9);  // 3 rounds x 3 attempts
  ASSERT_FALSE(noisy.noise.empty());
  EXPECT_EQ(noisy.noise[0].field, "reference_drift");
  EXPECT_NE(noisy.noise[0].reason.find("(limit 0%)"), std::string::npos) << noisy.noise[0].reason;
  ASSERT_EQ(noisy.results.size(), 1u);
  EXPECT_GT(noisy.results[0].stats.median_ms, 0);
  EXPECT_EQ(noisy.rounds.reference_ms.size(), 3u);
  latency::NoiseLimits lax;
  lax.max_reference_drift = 1e9;
  lax.max_spread = 1e9;
  lax.bimodal_gap = 1e9;
  const auto clean = latency::MeasureChecked(p, graphs, 0, nullptr, lax, 2);
  EXPECT_EQ(clean.attempts, 1);
  EXPECT_TRUE(clean.noise.empty());
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
