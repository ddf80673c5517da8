// Latency-table files, key parsing and the LUT predictor.
#include "latency_models/lut.h"

#include <cmath>
#include <limits>
#include <map>

#include "gtest/gtest.h"

#include "latency_models/table_io.h"
#include "space/space.h"

namespace lutnas {
namespace {

// A table with a made-up but consistent latency for every key of a space:
// ms = 0.01 + MACs / 1e9 (so sums are easy to check).
v1::LatencyTable SyntheticTable(const space::Space& space, const std::string& hw) {
  v1::LatencyTable t;
  t.mutable_info()->set_hardware(hw);
  t.mutable_info()->set_version(3);
  for (const auto& k : space.EnumerateKeys()) {
    const latency::Cost c = latency::GraphCost(latency::LowerKey(k));
    auto* e = t.add_entries();
    e->set_key(k.key);
    e->set_median_ms(0.01 + c.macs / 1e9);
    e->set_iqr_ms(0.001);
    e->set_p10_ms(0.009 + c.macs / 1e9);
    e->set_p90_ms(0.011 + c.macs / 1e9);
    e->set_samples(45);
    e->set_status(v1::ENTRY_MEASURED);
  }
  return t;
}

std::shared_ptr<const space::Space> LoadSpace(const char* name) {
  auto sp = space::Space::Load(std::string("search/spaces/") + name + ".json");
  EXPECT_TRUE(sp.ok()) << sp.status();
  return *sp;
}

TEST(KeyTest, EveryEnumeratedKeyParsesBack) {
  for (const char* name : {"tiny", "edge", "mobile"}) {
    const auto sp = LoadSpace(name);
    for (const auto& k : sp->EnumerateKeys()) {
      auto parsed = space::ParseKey(k.key);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_EQ(parsed->is_head, k.is_head);
      EXPECT_EQ(parsed->in, k.in);
      EXPECT_EQ(
          k.is_head ? space::HeadKey(parsed->head, parsed->in) : space::BlockKey(parsed->block, parsed->in),
          k.key);
    }
  }
}

TEST(KeyTest, BadKeysAreRejectedWithReasons) {
  EXPECT_EQ(space::ParseKey("foo:o16@3x8x8").status().message(),
            "key 'foo:o16@3x8x8': unknown block type 'foo'");
  EXPECT_EQ(space::ParseKey("conv:o16,k3,s1,g1,relu").status().message(),
            "key 'conv:o16,k3,s1,g1,relu': missing '@CxHxW' input shape");
  EXPECT_EQ(space::ParseKey("conv:o16,k4,s1,g1,relu@3x8x8").status().message(),
            "key 'conv:o16,k4,s1,g1,relu@3x8x8': block.conv.kernel: must be 1, 3, 5 or 7, got 4");
  EXPECT_EQ(space::ParseKey("conv:o16,s1,k3,g1,relu@3x8x8").status().message(),
            "key 'conv:o16,s1,k3,g1,relu@3x8x8': not in canonical form");
  EXPECT_FALSE(space::ParseKey("conv:o16,k3,s1,g1,relu@3x8").ok());
  EXPECT_FALSE(space::ParseKey("conv:oNaN,k3,s1,g1,relu@3x8x8").ok());
}

TEST(TableIoTest, CsvRoundTripIsExact) {
  auto t = SyntheticTable(*LoadSpace("tiny"), "host-cpu");
  t.mutable_info()->set_backend("libtorch-cpu");
  t.mutable_info()->set_threads(1);
  t.mutable_info()->set_reference_ms(0.5771);
  t.mutable_info()->mutable_correction()->set_scale(1.1);
  t.mutable_info()->mutable_correction()->set_offset_ms(-0.002);  // safe over the table
  t.mutable_info()->mutable_correction()->set_fitted_on(30);
  t.mutable_info()->mutable_correction()->set_key_ms_per_mparam(0.25);
  auto* f = t.add_entries();
  f->set_key("conv:o16,k7,s1,g1,relu@3x64x64");
  f->set_status(v1::ENTRY_FAILED);
  f->set_error("unsupported operator: conv7x7");
  auto back = latency::ParseTableCsv(latency::WriteTableCsv(t), "host-cpu");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->entries_size(), t.entries_size());
  for (int i = 0; i < t.entries_size(); ++i) {
    EXPECT_EQ(back->entries(i).key(), t.entries(i).key());
    EXPECT_NEAR(back->entries(i).median_ms(), t.entries(i).median_ms(), 1e-9 * t.entries(i).median_ms());
    EXPECT_EQ(back->entries(i).status(), t.entries(i).status());
    EXPECT_EQ(back->entries(i).error(), t.entries(i).error());
  }
  EXPECT_EQ(back->info().backend(), "libtorch-cpu");
  EXPECT_DOUBLE_EQ(back->info().reference_ms(), 0.5771);
  EXPECT_DOUBLE_EQ(back->info().correction().scale(), 1.1);
  EXPECT_EQ(back->info().correction().fitted_on(), 30);
  EXPECT_DOUBLE_EQ(back->info().correction().key_ms_per_mparam(), 0.25);
  auto json = latency::ParseTableJson(latency::WriteTableJson(t), "host-cpu");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->SerializeAsString(), t.SerializeAsString());
}

struct BadFile {
  const char* body;
  const char* message;
};

class BadTableTest : public ::testing::TestWithParam<BadFile> {};

TEST_P(BadTableTest, NamesLineAndField) {
  const std::string content = std::string("# hardware: host-cpu\n") + GetParam().body;
  auto t = latency::ParseTableCsv(content, "host-cpu");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(t.status().message()), GetParam().message);
}

const char* kHeader = "key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n";
const char* kRow = "conv:o16,k3,s2,g1,relu@3x64x64";

INSTANTIATE_TEST_SUITE_P(
    Csv, BadTableTest,
    ::testing::Values(BadFile{"key,median_ms,iqr_ms,p10_ms,p90_ms,status\n",
                              "line 2: header: missing column 'samples'"},
                      BadFile{"key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                              "conv:o16,k3,s2,g1,relu@3x64x64,nan,0,0,0,5,measured,\n",
                              "line 3: median_ms: must be a finite number > 0, got nan"},
                      BadFile{"key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                              "conv:o16,k3,s2,g1,relu@3x64x64,-0.5,0,0,0,5,measured,\n",
                              "line 3: median_ms: must be a finite number > 0, got -0.5"},
                      BadFile{"key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                              "conv:o16,k3,s2,g1,relu@3x64x64,0,0,0,0,5,measured,\n",
                              "line 3: median_ms: must be a finite number > 0, got 0"},
                      BadFile{"key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                              "conv:o16,k3,s2,g1,relu@3x64x64,0.1,0,0,0,5,measured,\n"
                              "conv:o16,k3,s2,g1,relu@3x64x64,0.2,0,0,0,5,measured,\n",
                              "line 4: key: duplicate of line 3"},
                      BadFile{"key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                              "warp:o16@3x64x64,0.1,0,0,0,5,measured,\n",
                              "line 3: key: key 'warp:o16@3x64x64': unknown block type 'warp'"},
                      BadFile{"key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                              "conv:o16,k3,s2,g1,relu@3x64x64,0.1,0,0,0,zero,measured,\n",
                              "line 3: samples: not an integer: 'zero'"},
                      BadFile{"key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                              "conv:o16,k3,s2,g1,relu@3x64x64,0.1,0,0,0,5,broken,\n",
                              "line 3: status: must be measured, failed or cpu_fallback, got 'broken'"},
                      BadFile{"key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                              "conv:o16,k3,s2,g1,relu@3x64x64,0.1,0,0\n",
                              "line 3: line: expected 8 columns, got 4"}));

TEST(TableIoTest, ForeignHardwareIsRejected) {
  const std::string content =
      std::string("# hardware: rk3588-npu\n") + kHeader + kRow + ",0.1,0,0,0,5,measured,\n";
  auto t = latency::ParseTableCsv(content, "host-cpu");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "hardware: the file is for 'rk3588-npu', not 'host-cpu'");
}

TEST(PredictorTest, FullTableIsFullyMeasuredAndSumsBlocks) {
  const auto sp = LoadSpace("tiny");
  const auto table = SyntheticTable(*sp, "host-cpu");
  v1::Hardware hw;
  hw.set_name("host-cpu");
  auto p = latency::LatencyPredictor::Create(hw, &table);
  ASSERT_TRUE(p.ok()) << p.status();
  base::Rng rng(5);
  for (int i = 0; i < 50; ++i) {
    const auto arch = space::Canonicalize(sp->ToArchitecture(sp->Sample(rng)));
    const auto pred = (*p)->Predict(arch, true);
    EXPECT_EQ(pred.table_version(), 3);
    EXPECT_DOUBLE_EQ(pred.measured_fraction(), 1.0);
    EXPECT_FALSE(pred.estimated_from_spec());
    const auto nc = latency::AnalyzeNetwork(arch);
    EXPECT_NEAR(pred.sum_ms(), 0.01 * nc.blocks.size() + nc.total.macs / 1e9, 1e-9);
    EXPECT_EQ(pred.blocks_size(), static_cast<int>(nc.blocks.size()));
    for (const auto& b : pred.blocks()) EXPECT_EQ(b.source(), v1::SOURCE_MEASURED);
    // The fast path agrees with the breakdown.
    EXPECT_NEAR((*p)->Predict(arch, false).sum_ms(), pred.sum_ms(), 1e-12);
  }
}

TEST(PredictorTest, MissingKeysAreEstimatedAndFlagged) {
  const auto sp = LoadSpace("tiny");
  auto table = SyntheticTable(*sp, "host-cpu");
  // Drop every key at 96 px input: they must be interpolated from 64 px ones.
  v1::LatencyTable partial;
  *partial.mutable_info() = table.info();
  for (const auto& e : table.entries())
    if (e.key().find("@3x96x96") == std::string::npos && e.key().find("x24x24") == std::string::npos)
      *partial.add_entries() = e;
  v1::Hardware hw;
  hw.set_name("host-cpu");
  auto p = latency::LatencyPredictor::Create(hw, &partial);
  ASSERT_TRUE(p.ok());
  auto full = latency::LatencyPredictor::Create(hw, &table);
  base::Rng rng(9);
  int checked = 0;
  for (int i = 0; i < 100 && checked < 10; ++i) {
    const auto g = sp->Sample(rng);
    if (g.resolution != 96) continue;
    const auto arch = space::Canonicalize(sp->ToArchitecture(g));
    const auto pred = (*p)->Predict(arch, true);
    EXPECT_LT(pred.measured_fraction(), 1.0);
    EXPECT_GT(pred.measured_fraction(), 0.0);
    EXPECT_EQ(pred.blocks(0).source(), v1::SOURCE_INTERPOLATED);
    // The synthetic latency is linear in MACs, so interpolation is close.
    EXPECT_NEAR(pred.sum_ms(), (*full)->Predict(arch, false).sum_ms(), 0.15 * pred.sum_ms());
    ++checked;
  }
  EXPECT_EQ(checked, 10);
}

TEST(PredictorTest, SpecOnlyHardwareSaysEstimatedFromSpec) {
  v1::Hardware hw;
  hw.set_name("rk3588-npu");
  hw.set_peak_gops(6000);
  hw.set_bandwidth_gbs(30);
  auto p = latency::LatencyPredictor::Create(hw, nullptr);
  ASSERT_TRUE(p.ok());
  auto arch = space::LoadArchitectureFile("models/mobilenet_v2.json");
  ASSERT_TRUE(arch.ok());
  const auto pred = (*p)->Predict(space::Canonicalize(*arch), true);
  EXPECT_TRUE(pred.estimated_from_spec());
  EXPECT_EQ(pred.table_version(), 0);
  EXPECT_EQ(pred.measured_fraction(), 0.0);
  EXPECT_GT(pred.latency_ms(), 0.0);
  for (const auto& b : pred.blocks()) EXPECT_EQ(b.source(), v1::SOURCE_ROOFLINE);
  hw.clear_peak_gops();
  auto none = latency::LatencyPredictor::Create(hw, nullptr);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PredictorTest, CorrectionIsFittedAndApplied) {
  const std::vector<double> sums = {1, 2, 3, 4, 5};
  std::vector<double> meas;
  for (double s : sums) meas.push_back(1.2 * s + 0.3);
  const auto c = latency::FitCorrection(sums, meas);
  EXPECT_NEAR(c.scale(), 1.2, 1e-9);
  EXPECT_NEAR(c.offset_ms(), 0.3, 1e-9);
  EXPECT_EQ(c.fitted_on(), 5);
  EXPECT_NEAR(c.mape_after(), 0.0, 1e-9);
  EXPECT_GT(c.mape_before(), 0.1);
  const auto sp = LoadSpace("tiny");
  auto table = SyntheticTable(*sp, "host-cpu");
  *table.mutable_info()->mutable_correction() = c;
  v1::Hardware hw;
  hw.set_name("host-cpu");
  auto p = latency::LatencyPredictor::Create(hw, &table);
  base::Rng rng(1);
  const auto pred = (*p)->Predict(space::Canonicalize(sp->ToArchitecture(sp->Sample(rng))), false);
  EXPECT_NEAR(pred.latency_ms(), 1.2 * pred.sum_ms() + 0.3, 1e-9);
}

}  // namespace
}  // namespace lutnas

namespace lutnas {
namespace {

// Per-key terms (issue 11): every key costs its entry + key_overhead_ms +
// key_ms_per_mparam x its Mparams, then scale and offset; sum_ms stays the
// plain sum, and the hot path (PredictMs, KeyLatency) agrees with Predict.
TEST(PredictorTest, PerKeyTermsGoIntoLatencyNotIntoSum) {
  const auto sp = LoadSpace("tiny");
  auto table = SyntheticTable(*sp, "host-cpu");
  v1::Hardware hw;
  hw.set_name("host-cpu");
  auto plain = latency::LatencyPredictor::Create(hw, &table);
  ASSERT_TRUE(plain.ok());
  auto* c = table.mutable_info()->mutable_correction();
  c->set_scale(1.1);
  c->set_offset_ms(0.05);
  c->set_key_ms_per_mparam(0.2);
  c->set_key_overhead_ms(-0.001);
  auto p = latency::LatencyPredictor::Create(hw, &table);
  ASSERT_TRUE(p.ok());
  base::Rng rng(3);
  for (int i = 0; i < 20; ++i) {
    const auto arch = space::Canonicalize(sp->ToArchitecture(sp->Sample(rng)));
    const auto base = (*plain)->Predict(arch, true);
    const auto fast = (*p)->Predict(arch, false);
    const auto full = (*p)->Predict(arch, true);
    const auto net = latency::AnalyzeNetwork(arch);
    const int keys = full.blocks_size();
    const double want = 1.1 * (base.sum_ms() + keys * -0.001 + 0.2 * net.total.params / 1e6) + 0.05;
    EXPECT_NEAR(fast.sum_ms(), base.sum_ms(), 1e-9) << i;  // the table's entries alone
    EXPECT_NEAR(full.sum_ms(), base.sum_ms(), 1e-9) << i;
    EXPECT_NEAR(fast.latency_ms(), want, 1e-9) << i;
    EXPECT_NEAR(full.latency_ms(), want, 1e-9) << i;
    EXPECT_EQ((*p)->PredictMs(arch), fast.latency_ms()) << i;  // the search's path, bit-identical
    for (int b = 0; b < keys; ++b)
      EXPECT_NEAR(full.blocks(b).latency_ms(), base.blocks(b).latency_ms(), 1e-12) << i;
  }
}

// Block-type factors (issue 11): a key of type T costs f_T x its entry (plus
// the per-key terms), then scale and offset; sum_ms and the breakdown stay
// the table's entries, and the hot path agrees with Predict. The factors
// survive the CSV table file.
TEST(PredictorTest, TypeFactorsGoIntoLatencyNotIntoSum) {
  const auto sp = LoadSpace("tiny");
  auto table = SyntheticTable(*sp, "host-cpu");
  v1::Hardware hw;
  hw.set_name("host-cpu");
  auto plain = latency::LatencyPredictor::Create(hw, &table);
  ASSERT_TRUE(plain.ok());
  auto* c = table.mutable_info()->mutable_correction();
  c->set_scale(1.1);
  c->set_offset_ms(0.05);
  c->set_key_overhead_ms(0.001);
  (*c->mutable_type_factors())["conv"] = 1.5;
  (*c->mutable_type_factors())["head"] = 0.75;
  auto p = latency::LatencyPredictor::Create(hw, &table);
  ASSERT_TRUE(p.ok());
  base::Rng rng(4);
  int with_conv = 0;
  for (int i = 0; i < 20; ++i) {
    const auto arch = space::Canonicalize(sp->ToArchitecture(sp->Sample(rng)));
    const auto base = (*plain)->Predict(arch, true);
    const auto fast = (*p)->Predict(arch, false);
    const auto full = (*p)->Predict(arch, true);
    double want = 0;
    for (const auto& b : base.blocks()) {
      const std::string type = b.key().substr(0, b.key().find(':'));
      with_conv += type == "conv";
      want += (type == "conv" ? 1.5 : type == "head" ? 0.75 : 1.0) * b.latency_ms() + 0.001;
    }
    want = 1.1 * want + 0.05;
    EXPECT_NEAR(fast.sum_ms(), base.sum_ms(), 1e-9) << i;
    EXPECT_NEAR(full.sum_ms(), base.sum_ms(), 1e-9) << i;
    EXPECT_NEAR(fast.latency_ms(), want, 1e-9) << i;
    EXPECT_NEAR(full.latency_ms(), want, 1e-9) << i;
    EXPECT_EQ((*p)->PredictMs(arch), fast.latency_ms()) << i;
    ASSERT_EQ(full.blocks_size(), base.blocks_size());
    for (int b = 0; b < full.blocks_size(); ++b)
      EXPECT_NEAR(full.blocks(b).latency_ms(), base.blocks(b).latency_ms(), 1e-12) << i;
  }
  EXPECT_GT(with_conv, 0);
  const std::string csv = latency::WriteTableCsv(table);
  EXPECT_NE(csv.find(" factor.conv=1.5 factor.head=0.75"), std::string::npos) << csv.substr(0, 600);
  auto back = latency::ParseTableCsv(csv, "host-cpu");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->info().correction().type_factors().at("conv"), 1.5);
  EXPECT_EQ(back->info().correction().type_factors().at("head"), 0.75);
  EXPECT_TRUE(latency::ValidateTable(*back).ok());
  // A factor outside the band in a file is refused (as uploads and the store
  // check tables) with the field's name.
  std::string bad = csv;
  bad.replace(bad.find("factor.conv=1.5"), 15, "factor.conv=9");
  auto parsed = latency::ParseTableCsv(bad, "host-cpu");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const absl::Status refused = latency::ValidateTable(*parsed);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("correction.type_factors: [conv]: 9 is outside [0.5, 2]"),
            std::string::npos)
      << refused;
}
TEST(TableIoTest, QuotedKeysAreAccepted) {
  auto t = latency::ParseTableCsv(
      "# hardware: host-cpu\nkey,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
      "\"conv:o16,k3,s2,g1,relu@3x64x64\",0.125,0,0,0,5,measured,\n"
      "\"conv:o16,k3,s2,g1,relu@3x96x96\",,,,,0,failed,\"said \"\"no\"\", twice\"\n",
      "host-cpu");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->entries_size(), 2);
  EXPECT_EQ(t->entries(0).key(), "conv:o16,k3,s2,g1,relu@3x64x64");
  EXPECT_EQ(t->entries(1).error(), "said \"no\", twice");
}

}  // namespace
}  // namespace lutnas

namespace lutnas {
namespace {

// Written by hand in the published format of Once-for-All's ProxylessNAS
// lookup tables (block style), plus one flow-style entry.
const char* kOfaYaml = R"(Conv-input:224x224x3-output:112x112x32:
  count: 50
  mean: 3.2
  var: 0.04
expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:3-stride:1-idskip:0:
  count: 50
  mean: 2.5
  var: 0.01
expanded_conv-input:112x112x16-output:56x56x24-expand:6-kernel:3-stride:2-idskip:0:
  count: 50
  mean: 6.1
  var: 0.09
expanded_conv-input:56x56x24-output:56x56x24-expand:3-kernel:5-stride:1-idskip:1: {count: 50, mean: 4.4, var: 0.02}
expanded_conv-input:56x56x24-output:56x56x24-expand:3-kernel:5-stride:1-idskip:0:
  count: 50
  mean: 4.0
  var: 0.02
MaxPool-input:56x56x24-output:28x28x24:
  count: 50
  mean: 0.3
  var: 0.0
Conv_1-input:7x7x320-output:7x7x1280:
  count: 50
  mean: 1.5
  var: 0.01
AvgPool2D-input:7x7x1280-output:1x1x1280:
  count: 50
  mean: 0.1
  var: 0.0
Logits-input:1x1x1280-output:1000:
  count: 50
  mean: 0.9
  var: 0.01
)";

TEST(OfaImportTest, MapsKeysAndReportsTheRest) {
  std::vector<std::string> unmapped;
  auto t = latency::ParseTable(kOfaYaml, "ofa", "rk3588-npu", &unmapped);
  ASSERT_TRUE(t.ok()) << t.status();
  std::map<std::string, double> got;
  for (const auto& e : t->entries()) got[e.key()] = e.median_ms();
  EXPECT_EQ(got.size(), 5u);
  EXPECT_DOUBLE_EQ(got["conv:o32,k3,s2,g1,relu6@3x224x224"], 3.2);
  EXPECT_DOUBLE_EQ(got["mbconv:o16,e1,k3,s1,se0,relu6@32x112x112"], 2.5);
  EXPECT_DOUBLE_EQ(got["mbconv:o24,e6,k3,s2,se0,relu6@16x112x112"], 6.1);
  EXPECT_DOUBLE_EQ(got["mbconv:o24,e3,k5,s1,se0,relu6@24x56x56"], 4.4);
  EXPECT_DOUBLE_EQ(got["head:c1280,relu6,f0,n1000@320x7x7"], 1.5 + 0.1 + 0.9);
  // A stride-1 same-width block without its skip, and a max pool: no lutnas block.
  EXPECT_EQ(unmapped,
            (std::vector<std::string>{
                "MaxPool-input:56x56x24-output:28x28x24",
                "expanded_conv-input:56x56x24-output:56x56x24-expand:3-kernel:5-stride:1-idskip:0"}));
  EXPECT_EQ(t->info().source(), "import:ofa");
  // The imported table predicts MobileNetV2's first blocks as measured.
  v1::Hardware hw;
  hw.set_name("rk3588-npu");
  auto p = latency::LatencyPredictor::Create(hw, &*t);
  ASSERT_TRUE(p.ok());
  // Round trip through lutnas's own CSV keeps every mapped entry.
  auto back = latency::ParseTableCsv(latency::WriteTableCsv(*t), "rk3588-npu");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->entries_size(), t->entries_size());
}

TEST(OfaImportTest, BadYamlNamesTheLine) {
  std::vector<std::string> u;
  auto t = latency::ParseTable("Conv-input:224x224x3-output:112x112x32:\n  count: 50\n  mean: nope\n", "ofa",
                               "x", &u);
  EXPECT_EQ(t.status().message(), "line 3: mean: not a number: 'nope'");
  t = latency::ParseTable("Conv-input:224x224x3-output:112x112x32:\n  count: 50\n  mean: -1\n", "ofa", "x",
                          &u);
  EXPECT_EQ(t.status().message(),
            "line 1: mean: must be a finite number > 0 for 'Conv-input:224x224x3-output:112x112x32'");
}

}  // namespace
}  // namespace lutnas
