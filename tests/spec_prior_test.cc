// Spec-only prior with fitted efficiencies, and tables of failed /
// cpu_fallback keys (a converter's report) in the predictor.
#include "latency_models/spec_prior.h"

#include <cmath>

#include "gtest/gtest.h"

#include "latency_models/lut.h"
#include "latency_models/table_io.h"
#include "space/arch_util.h"

namespace lutnas {
namespace {

v1::Hardware Npu() {
  v1::Hardware hw;
  hw.set_name("npu");
  hw.set_precision("int8");
  hw.set_peak_gops(6000);
  hw.set_bandwidth_gbs(33.8);
  return hw;
}

v1::Architecture Zoo(const char* name) {
  auto a = space::LoadArchitectureFile(std::string("models/") + name + ".json");
  EXPECT_TRUE(a.ok()) << a.status();
  return space::Canonicalize(*a);
}

TEST(SpecPriorTest, EfficiencyEntriesOverrideByClass) {
  v1::Hardware hw = Npu();
  bool any = true;
  auto e = latency::EfficiencyOf(hw, &any);
  EXPECT_FALSE(any);
  EXPECT_DOUBLE_EQ(e.compute[0], 0.5);
  auto* all = hw.add_efficiency();
  all->set_compute(0.2);
  all->set_bandwidth(0.3);
  auto* dw = hw.add_efficiency();
  dw->set_op_class("dwconv");
  dw->set_compute(0.05);
  dw->set_bandwidth(0.1);
  e = latency::EfficiencyOf(hw, &any);
  EXPECT_TRUE(any);
  EXPECT_DOUBLE_EQ(e.compute[static_cast<int>(latency::OpClass::kConv)], 0.2);
  EXPECT_DOUBLE_EQ(e.bandwidth[static_cast<int>(latency::OpClass::kOther)], 0.3);
  EXPECT_DOUBLE_EQ(e.compute[static_cast<int>(latency::OpClass::kDwConv)], 0.05);
  EXPECT_DOUBLE_EQ(e.bandwidth[static_cast<int>(latency::OpClass::kDwConv)], 0.1);
}

TEST(SpecPriorTest, PeakTimesAreTheRooflineAtFullPeak) {
  // conv 3x3, 16 -> 32 channels on 16x8x8, int8: 32*16*9*64 MACs.
  auto k = space::ParseKey("conv:o32,k3,s1,g1,relu@16x8x8");
  ASSERT_TRUE(k.ok()) << k.status();
  const auto t = latency::PeakTimes(latency::LowerKey(*k), Npu(), 1);
  ASSERT_EQ(t.size(), 1u);  // bn and relu are fused into the conv
  EXPECT_EQ(t[0].cls, latency::OpClass::kConv);
  EXPECT_NEAR(t[0].compute_ms, 2.0 * 32 * 16 * 9 * 64 / 6000e9 * 1e3, 1e-15);
  const double bytes = 32 * 16 * 9 + 16 * 64 + 32 * 64;  // weights + input + output
  EXPECT_NEAR(t[0].memory_ms, bytes / 33.8e9 * 1e3, 1e-15);
}

TEST(SpecPriorTest, FitRecoversKnownEfficiencies) {
  const v1::Hardware hw = Npu();
  std::vector<std::vector<latency::PeakTime>> nets;
  for (const char* n : {"mobilenet_v2", "resnet18", "resnet50", "shufflenet_v2_x1_0"})
    nets.push_back(latency::NetworkPeakTimes(Zoo(n), hw, 1));
  latency::Efficiency truth;
  for (int c = 0; c < latency::kNumOpClasses; ++c) truth.compute[c] = 0.12, truth.bandwidth[c] = 0.04;
  std::vector<double> ms;
  for (const auto& n : nets) ms.push_back(latency::PriorMs(n, truth));
  const auto fit = latency::FitEfficiency(nets, ms);
  EXPECT_EQ(fit.params, 2);
  EXPECT_EQ(fit.fitted_on, 4);
  // Compute is the weaker-determined factor (most ops are memory-bound).
  EXPECT_NEAR(fit.eff.compute[0], 0.12, 0.12 * 0.06);
  EXPECT_NEAR(fit.eff.bandwidth[0], 0.04, 0.04 * 0.03);
  for (size_t i = 0; i < nets.size(); ++i)
    EXPECT_NEAR(latency::PriorMs(nets[i], fit.eff), ms[i], 0.01 * ms[i]);
  // One figure: a single shared factor that reproduces it.
  const auto one = latency::FitEfficiency({nets[0]}, {ms[0]});
  EXPECT_EQ(one.params, 1);
  EXPECT_DOUBLE_EQ(one.eff.compute[0], one.eff.bandwidth[0]);
  EXPECT_NEAR(latency::PriorMs(nets[0], one.eff), ms[0], 0.02 * ms[0]);
  EXPECT_EQ(latency::FitEfficiency({}, {}).params, 0);
}

TEST(SpecPriorTest, PredictorUsesEfficienciesAndStaysFlagged) {
  v1::Hardware hw = Npu();
  auto* e = hw.add_efficiency();
  e->set_compute(0.1);
  e->set_bandwidth(0.05);
  auto p = latency::LatencyPredictor::Create(hw, nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  const auto arch = Zoo("mobilenet_v2");
  const auto pred = (*p)->Predict(arch, true);
  EXPECT_TRUE(pred.estimated_from_spec());
  EXPECT_EQ(pred.table_version(), 0);
  bool any;
  const double want =
      latency::PriorMs(latency::NetworkPeakTimes(arch, hw, 1), latency::EfficiencyOf(hw, &any));
  EXPECT_NEAR(pred.latency_ms(), want, 1e-9 * want);
  EXPECT_NEAR((*p)->PredictMs(arch), want, 1e-9 * want);
  for (const auto& b : pred.blocks()) EXPECT_EQ(b.source(), v1::SOURCE_ROOFLINE);
}

TEST(SpecPriorTest, FailedKeyMakesTheNetworkInfeasibleAndFallbackIsPenalised) {
  const v1::Hardware hw = Npu();
  const auto arch = Zoo("resnet18");
  const auto sites = space::ListBlocks(arch);
  auto spec = latency::LatencyPredictor::Create(hw, nullptr);
  ASSERT_TRUE(spec.ok());
  v1::LatencyTable t;
  t.mutable_info()->set_hardware("npu");
  t.mutable_info()->set_version(2);
  auto* fb = t.add_entries();
  fb->set_key(space::BlockKey(sites[1].block, sites[1].in));
  fb->set_status(v1::ENTRY_CPU_FALLBACK);
  fb->set_error("runs on the CPU: exSoftmax13");
  ASSERT_TRUE(space::ParseKey(fb->key()).ok()) << fb->key() << ": " << space::ParseKey(fb->key()).status();
  auto p = latency::LatencyPredictor::Create(hw, &t);  // no measured entry: spec for the rest
  ASSERT_TRUE(p.ok()) << p.status();
  const auto pred = (*p)->Predict(arch, true);
  EXPECT_TRUE(pred.estimated_from_spec());
  EXPECT_EQ(pred.table_version(), 2);
  const double base = (*spec)->Predict(arch, true).blocks(1).latency_ms();
  EXPECT_NEAR(pred.blocks(1).latency_ms(), 4.0 * base, 1e-9 * base);  // default penalty
  EXPECT_NEAR(pred.blocks(0).latency_ms(), (*spec)->Predict(arch, true).blocks(0).latency_ms(), 1e-12);

  auto* f = t.add_entries();
  f->set_key(space::BlockKey(sites[2].block, sites[2].in));
  f->set_status(v1::ENTRY_FAILED);
  f->set_error("E RKNN: unsupported op");
  auto q = latency::LatencyPredictor::Create(hw, &t);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(std::isinf((*q)->PredictMs(arch)));
  const auto qp = (*q)->Predict(arch, false);
  EXPECT_TRUE(std::isinf(qp.latency_ms()));
  EXPECT_DOUBLE_EQ(qp.measured_fraction(), 1.0);
  EXPECT_TRUE(std::isfinite((*q)->PredictMs(Zoo("mobilenet_v2"))));  // other networks unaffected

  // A timed cpu_fallback entry counts as measured.
  fb->set_median_ms(0.75);
  fb->set_samples(5);
  v1::Hardware pen = hw;
  pen.set_cpu_fallback_penalty(10);
  auto r = latency::LatencyPredictor::Create(pen, &t);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r.value()->Predict(arch, true).estimated_from_spec());
  EXPECT_DOUBLE_EQ(r.value()->Predict(arch, true).blocks(1).latency_ms(), 0.75);
}

TEST(SpecPriorTest, CpuFallbackRoundTripsThroughCsv) {
  v1::LatencyTable t;
  t.mutable_info()->set_hardware("rk3588-npu");
  auto* a = t.add_entries();
  a->set_key("conv:o16,k3,s1,g1,relu@3x64x64");
  a->set_status(v1::ENTRY_CPU_FALLBACK);
  a->set_error("runs on the CPU: exSoftmax13");
  auto* b = t.add_entries();
  b->set_key("conv:o32,k3,s1,g1,relu@3x64x64");
  b->set_status(v1::ENTRY_CPU_FALLBACK);
  b->set_median_ms(1.5);
  b->set_samples(3);
  b->set_error("runs on the CPU: Sigmoid");
  const std::string csv = latency::WriteTableCsv(t);
  EXPECT_NE(csv.find(",cpu_fallback,runs on the CPU: exSoftmax13"), std::string::npos) << csv;
  auto back = latency::ParseTableCsv(csv, "rk3588-npu");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->entries_size(), 2);
  EXPECT_EQ(back->entries(0).status(), v1::ENTRY_CPU_FALLBACK);
  EXPECT_EQ(back->entries(0).median_ms(), 0.0);
  EXPECT_EQ(back->entries(1).median_ms(), 1.5);
  EXPECT_EQ(back->entries(1).error(), "runs on the CPU: Sigmoid");
  auto bad = latency::ParseTableCsv(
      "# hardware: x\nkey,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
      "conv:o16,k3,s1,g1,relu@3x64x64,,,,,0,cpu_fallback,\n",
      "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()),
            "line 3: error: a cpu_fallback entry must name the operators");
}

}  // namespace
}  // namespace lutnas
