// Model zoo figures against torchvision's published parameter counts and the
// standard MAC figures (conv + linear multiply-accumulates).
#include "latency_models/cost.h"

#include <cmath>

#include "gtest/gtest.h"

#include "space/arch_util.h"

namespace lutnas {
namespace {

latency::NetworkCost Load(const std::string& name) {
  auto arch = space::LoadArchitectureFile("models/" + name + ".json");
  EXPECT_TRUE(arch.ok()) << arch.status();
  EXPECT_TRUE(space::ValidateArchitecture(*arch).ok()) << space::ValidateArchitecture(*arch);
  return latency::AnalyzeNetwork(*arch);
}

struct ZooCase {
  const char* name;
  int64_t params;
  double mmacs;  // 0: not checked
};

class ZooTest : public ::testing::TestWithParam<ZooCase> {};

TEST_P(ZooTest, MatchesPublishedFigures) {
  const auto& c = GetParam();
  const latency::NetworkCost nc = Load(c.name);
  EXPECT_EQ(nc.total.params, c.params) << c.name;
  if (c.mmacs > 0) EXPECT_NEAR(nc.total.macs / 1e6, c.mmacs, c.mmacs * 0.002) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Torchvision, ZooTest,
                         ::testing::Values(ZooCase{"mobilenet_v2", 3504872, 300.8},
                                           ZooCase{"resnet50", 25557032, 4089.2},
                                           ZooCase{"resnet18", 11689512, 1814.1},
                                           ZooCase{"shufflenet_v2_x1_0", 2278604, 0}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CostTest, BlocksSumToTotalAndHeadIsLast) {
  const latency::NetworkCost nc = Load("mobilenet_v2");
  latency::Cost sum;
  for (const auto& b : nc.blocks) sum += b.cost;
  EXPECT_EQ(sum.params, nc.total.params);
  EXPECT_EQ(sum.macs, nc.total.macs);
  EXPECT_EQ(sum.mac_bytes, nc.total.mac_bytes);
  EXPECT_EQ(nc.blocks.back().where, "head");
  EXPECT_EQ(nc.blocks.size(), 1u + 17u + 1u);
  EXPECT_EQ(nc.blocks[0].key, "conv:o32,k3,s2,g1,relu6@3x224x224");
}

TEST(CostTest, MemoryAccessOfAPlainConv) {
  // 3x3 conv 16->32 on 16x8x8, stride 1, fp32: weights 4608 + bn folded.
  v1::Block b;
  b.mutable_conv()->set_out_channels(32);
  const latency::Graph g = latency::LowerBlock(b, space::Shape{16, 8, 8});
  const latency::Cost c = latency::GraphCost(g, 4);
  EXPECT_EQ(c.macs, 32LL * 16 * 9 * 64);
  EXPECT_EQ(c.params, 32 * 16 * 9 + 64);
  // weights + bn params (read with the fused conv) + input + output
  EXPECT_EQ(c.mac_bytes, (32 * 16 * 9 + 16 * 64 + 32 * 64) * 4);
}

TEST(CostTest, DepthwiseHasLowerIntensityThanDense) {
  // The MAC argument of the design doc: depthwise moves more bytes per MAC.
  v1::Block dw, dense;
  dw.mutable_conv()->set_out_channels(64);
  dw.mutable_conv()->set_groups(64);
  dense.mutable_conv()->set_out_channels(64);
  const latency::Cost a = latency::GraphCost(latency::LowerBlock(dw, space::Shape{64, 28, 28}), 4);
  const latency::Cost b = latency::GraphCost(latency::LowerBlock(dense, space::Shape{64, 28, 28}), 4);
  EXPECT_GT(static_cast<double>(a.mac_bytes) / a.macs, 20 * static_cast<double>(b.mac_bytes) / b.macs);
}

}  // namespace
}  // namespace lutnas
