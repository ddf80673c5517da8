// Regression tests of the reliability issue's findings that live below the
// daemon: overflow-safe cost arithmetic (finding 5) and ordered percentiles
// in table entries (finding 9). Each failed before its fix.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "latency_models/checked_math.h"
#include "latency_models/cost.h"
#include "latency_models/table_io.h"
#include "space/arch_util.h"
#include "space/space.h"

namespace lutnas {
namespace {

TEST(CheckedMath, SaturatesInsteadOfWrapping) {
  const int64_t big = int64_t{1} << 40;
  EXPECT_EQ(latency::SatMul(big, big), latency::kCostOverflow);
  EXPECT_EQ(latency::SatMul(3, 7), 21);
  EXPECT_EQ(latency::SatMul(0, latency::kCostOverflow), 0);
  EXPECT_EQ(latency::SatMul(latency::kCostOverflow, 2), latency::kCostOverflow);
  EXPECT_EQ(latency::SatAdd(latency::kCostOverflow - 1, 5), latency::kCostOverflow);
  EXPECT_EQ(latency::SatAdd(40, 2), 42);
  latency::Cost a, b;
  a.macs = latency::kCostOverflow - 10;
  b.macs = 100;
  a += b;
  EXPECT_EQ(a.macs, latency::kCostOverflow);  // was negative: wrapped
}

// 100 fused-MBConv blocks of 16384 channels, expansion 8, kernel 7, at
// 1024 px: each block is about 1.1e17 MACs, so the network's MACs do not fit
// in int64 although every field is within the validator's limits.
v1::Architecture Huge() {
  v1::Architecture a;
  a.set_name("huge");
  a.set_resolution(1024);
  auto* stem = a.add_stem()->mutable_conv();
  stem->set_out_channels(16384);
  stem->set_kernel(3);
  stem->set_stride(1);
  auto* st = a.add_stages();
  for (int i = 0; i < 100; ++i) {
    auto* m = st->add_blocks()->mutable_fused_mbconv();
    m->set_out_channels(16384);
    m->set_expansion(8);
    m->set_kernel(7);
    m->set_stride(1);
  }
  a.mutable_head()->set_num_classes(10);
  return a;
}

TEST(CostOverflow, HugeNetworkSaturatesAndIsRefused) {
  const v1::Architecture a = Huge();
  ASSERT_TRUE(space::ValidateArchitecture(a).ok());
  const latency::NetworkCost nc = latency::AnalyzeNetwork(a);
  EXPECT_EQ(nc.total.macs, latency::kCostOverflow);  // before the fix: -3919538586839252992-like values
  EXPECT_GT(nc.total.params, 0);
  const absl::Status st = latency::CheckCostsFit(a);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("macs"), std::string::npos) << st.message();
}

TEST(CostOverflow, NormalNetworkFitsAndIsExact) {
  v1::Architecture a = Huge();
  a.set_resolution(64);
  auto* st = a.mutable_stages(0);
  st->mutable_blocks()->DeleteSubrange(3, st->blocks_size() - 3);
  for (auto& b : *st->mutable_blocks()) {
    b.mutable_fused_mbconv()->set_out_channels(32);
    b.mutable_fused_mbconv()->set_expansion(3);
  }
  a.mutable_stem(0)->mutable_conv()->set_out_channels(16);
  EXPECT_TRUE(latency::CheckCostsFit(a).ok());
  const latency::NetworkCost nc = latency::AnalyzeNetwork(a);
  EXPECT_GT(nc.total.macs, 0);
  EXPECT_LT(nc.total.macs, int64_t{1} << 40);
}

v1::LatencyEntry Entry(double p10, double median, double p90) {
  v1::LatencyEntry e;
  e.set_key("conv:k3:s1:c16:relu@16x32x32");
  e.set_median_ms(median);
  e.set_p10_ms(p10);
  e.set_p90_ms(p90);
  e.set_samples(10);
  e.set_status(v1::ENTRY_MEASURED);
  return e;
}

TEST(TableEntries, PercentilesMustBeOrdered) {
  v1::LatencyEntry e = Entry(0.9, 1.0, 1.2);
  // A key the parser accepts: one of a real block.
  v1::Block b;
  b.mutable_conv()->set_out_channels(16);
  b.mutable_conv()->set_kernel(3);
  e.set_key(space::BlockKey(b, space::Shape{16, 32, 32}));
  ASSERT_TRUE(latency::ValidateEntry(e, "entries[0]").ok())
      << latency::ValidateEntry(e, "entries[0]").message();
  v1::LatencyEntry bad = e;
  bad.set_p10_ms(1.5);
  bad.set_p90_ms(0.5);  // p10 > median > p90: accepted before the fix
  auto st = latency::ValidateEntry(bad, "entries[0]");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("entries[0]: p10_ms"), std::string::npos) << st.message();
  bad = e;
  bad.set_p90_ms(0.8);
  st = latency::ValidateEntry(bad, "entries[0]");
  EXPECT_NE(st.message().find("p90_ms"), std::string::npos) << st.message();
  bad = e;
  bad.set_p10_ms(0);
  bad.set_p90_ms(0);  // unknown percentiles stay allowed
  EXPECT_TRUE(latency::ValidateEntry(bad, "entries[0]").ok());
}

}  // namespace
}  // namespace lutnas
