// Profiler core: statistics, Kendall tau, and real (small) measurements.
#include <cmath>

#include "gtest/gtest.h"
#include "latency_models/profiler.h"

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
  std::vector<latency::Graph> graphs = {latency::LowerBlock(small, space::Shape{8, 16, 16}), latency::LowerBlock(big, space::Shape{64, 56, 56})};
  int calls = 0;
  double drift = 0;
  auto res = p.Measure(graphs, 0, [&](int, int) { ++calls; }, &drift);
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

}  // namespace
}  // namespace lutnas
