// Issue 15: the schema extensions (hidden widths, squeeze-excite options,
// non-square input, feature-map heads, C3/C2f/SPPF), the new zoo models
// against torchvision / ultralytics figures, the mbv3 and detect spaces, and
// seeding a search from a zoo model.
#include <cmath>

#include "gtest/gtest.h"

#include "latency_models/cost.h"
#include "latency_models/lut.h"
#include "space/arch_ext.h"
#include "space/arch_util.h"
#include "space/space.h"
#include "space/space_seed.h"

namespace lutnas {
namespace {

v1::Architecture Zoo(const std::string& name) {
  auto arch = space::LoadArchitectureFile("models/" + name + ".json");
  EXPECT_TRUE(arch.ok()) << arch.status();
  EXPECT_TRUE(space::ValidateArchitecture(*arch).ok()) << name << ": " << space::ValidateArchitecture(*arch);
  return *arch;
}

// torchvision 0.14 (weights=None): sum of parameter numel, and MACs counted
// with forward hooks on every Conv2d (out elements x in/groups x kh x kw) and
// Linear (in x out) at the model's resolution (tests/python/test_zoo.py
// recomputes both from torchvision itself).
struct TvCase {
  const char* name;
  int64_t params;
  int64_t macs;
};

class TorchvisionZoo : public ::testing::TestWithParam<TvCase> {};

TEST_P(TorchvisionZoo, ParamsExactMacsWithinPointTwoPercent) {
  const auto& c = GetParam();
  const latency::NetworkCost nc = latency::AnalyzeNetwork(Zoo(c.name));
  EXPECT_EQ(nc.total.params, c.params) << c.name;
  EXPECT_NEAR(static_cast<double>(nc.total.macs), static_cast<double>(c.macs), c.macs * 0.002) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Issue15, TorchvisionZoo,
                         ::testing::Values(TvCase{"mobilenet_v3_large", 5483032, 216589760},
                                           TvCase{"mobilenet_v3_small", 2542856, 56510400},
                                           TvCase{"efficientnet_b0", 5288548, 385814752},
                                           TvCase{"efficientnet_b1", 7794184, 686802832},
                                           TvCase{"regnet_y_400mf", 4344144, 401842848},
                                           TvCase{"regnet_y_800mf", 6432512, 833856256}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(YoloTest, Yolov8nBackboneMatchesUltralyticsPerLayerParams) {
  // ultralytics' model summary of yolov8n.yaml, layers 0-9: Conv 464 | Conv
  // 4672 + C2f 7360 | Conv 18560 + C2f 49664 | Conv 73984 + C2f 197632 |
  // Conv 295424 + C2f 460288 | SPPF 164608 (a lutnas C2f with stride 2
  // includes its Conv).
  const latency::NetworkCost nc = latency::AnalyzeNetwork(Zoo("yolov8n_backbone"));
  const std::vector<int64_t> want = {464, 4672 + 7360, 18560 + 49664, 73984 + 197632, 295424 + 460288, 164608,
                                     0};
  ASSERT_EQ(nc.blocks.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(nc.blocks[i].cost.params, want[i]) << nc.blocks[i].where;
  EXPECT_EQ(nc.total.params, 1272656);
  EXPECT_EQ(nc.blocks.back().key, "fhead:s8-16-32@256x20x20");
}

TEST(YoloTest, FeatureHeadReturnsStride8_16_32MapsNonSquare) {
  v1::Architecture a = Zoo("yolov8n_backbone");
  a.set_height(384);
  ASSERT_TRUE(space::ValidateArchitecture(a).ok()) << space::ValidateArchitecture(a);
  const latency::Graph g = latency::LowerNetwork(space::Canonicalize(a));
  ASSERT_EQ(g.outputs.size(), 3u);
  EXPECT_EQ(g.values[g.outputs[0]], (space::Shape{64, 48, 80}));
  EXPECT_EQ(g.values[g.outputs[1]], (space::Shape{128, 24, 40}));
  EXPECT_EQ(g.values[g.outputs[2]], (space::Shape{256, 12, 20}));
  EXPECT_EQ(g.output, g.outputs[2]);
  EXPECT_NE(space::CanonicalEncoding(a).find("v1;r640;h384;i3"), std::string::npos);
  // Equal height and width are square: the same network as without height.
  v1::Architecture sq = Zoo("yolov8n_backbone"), plain = sq;
  plain.clear_height();
  EXPECT_EQ(space::ArchHash(space::Canonicalize(sq)), space::ArchHash(space::Canonicalize(plain)));
}

// ---- validation: every new field, errors naming it ----

struct BadCase {
  const char* what;
  std::string json;
  const char* error;  // substring
};

std::string Net(const std::string& block, const std::string& head = R"("head": {"num_classes": 10})",
                const std::string& extra = "") {
  return R"({"resolution": 64, )" + extra +
         R"("stem": [{"conv": {"out_channels": 16, "stride": 2}}], "stages": [{"blocks": [)" + block +
         "]}], " + head + "}";
}

TEST(ValidationTest, NewFieldsNameThemselves) {
  const std::vector<BadCase> cases = {
      {"hidden", Net(R"({"mbconv": {"out_channels": 16, "hidden_channels": 0}})"),
       "stages[0].blocks[0].mbconv.hidden_channels: must be in 1..16384, got 0"},
      {"hidden+exp", Net(R"({"mbconv": {"out_channels": 16, "hidden_channels": 48, "expansion": 3}})"),
       "stages[0].blocks[0].mbconv.hidden_channels: cannot be set together with expansion"},
      {"fused hidden", Net(R"({"fused_mbconv": {"out_channels": 16, "hidden_channels": -3}})"),
       "stages[0].blocks[0].fused_mbconv.hidden_channels: must be in 1..16384, got -3"},
      {"se ratio", Net(R"({"mbconv": {"out_channels": 16, "se_options": {"ratio": 1.5}}})"),
       "stages[0].blocks[0].mbconv.se_options.ratio: must be in (0, 1], got 1.5"},
      {"se divisor", Net(R"({"mbconv": {"out_channels": 16, "se_options": {"divisor": 0}}})"),
       "stages[0].blocks[0].mbconv.se_options.divisor: must be in 1..64, got 0"},
      {"se base", Net(R"({"mbconv": {"out_channels": 16, "se_options": {"base": 7}}})"),
       "stages[0].blocks[0].mbconv.se_options.base: unknown value 7"},
      {"se gate", Net(R"({"fused_mbconv": {"out_channels": 16, "se_options": {"gate": 9}}})"),
       "stages[0].blocks[0].fused_mbconv.se_options.gate: unknown value 9"},
      {"se act", Net(R"({"mbconv": {"out_channels": 16, "se_options": {"act": 42}}})"),
       "stages[0].blocks[0].mbconv.se_options.act: unknown activation 42"},
      {"bottleneck se", Net(R"({"bottleneck": {"out_channels": 32, "se": {"ratio": 0}}})"),
       "stages[0].blocks[0].bottleneck.se.ratio: must be in (0, 1], got 0"},
      {"c2f n", Net(R"({"c2f": {"out_channels": 32, "num_blocks": 17}})"),
       "stages[0].blocks[0].c2f.num_blocks: must be in 1..16, got 17"},
      {"c2f e", Net(R"({"c2f": {"out_channels": 32, "expansion": 0}})"),
       "stages[0].blocks[0].c2f.expansion: must be in (0, 1], got 0"},
      {"c2f e small", Net(R"({"c2f": {"out_channels": 1, "expansion": 0.5}})"),
       "stages[0].blocks[0].c2f.expansion: leaves no hidden channels of 1"},
      {"c3 stride", Net(R"({"c3": {"out_channels": 32, "stride": 3}})"),
       "stages[0].blocks[0].c3.stride: must be 1 or 2, got 3"},
      {"c3 out", Net(R"({"c3": {"out_channels": 0}})"),
       "stages[0].blocks[0].c3.out_channels: must be in 1..16384, got 0"},
      {"sppf kernel", Net(R"({"sppf": {"out_channels": 32, "kernel": 4}})"),
       "stages[0].blocks[0].sppf.kernel: must be 3, 5 or 7, got 4"},
      {"sppf act", Net(R"({"sppf": {"out_channels": 32, "act": 17}})"),
       "stages[0].blocks[0].sppf.act: unknown activation 17"},
      {"height",
       Net(R"({"conv": {"out_channels": 16}})", R"("head": {"num_classes": 10})", R"("height": 4, )"),
       "height: must be in 8..1024, got 4"},
      {"fs pow2",
       Net(R"({"conv": {"out_channels": 16, "stride": 2}})", R"("head": {"feature_strides": [2, 3]})"),
       "head.feature_strides[1]: must be a power of two in 1..1024, got 3"},
      {"fs order",
       Net(R"({"conv": {"out_channels": 16, "stride": 2}})", R"("head": {"feature_strides": [4, 2]})"),
       "head.feature_strides[1]: strides must increase strictly, got 2 after 4"},
      {"fs classes",
       Net(R"({"conv": {"out_channels": 16, "stride": 2}})",
           R"("head": {"feature_strides": [4], "num_classes": 10})"),
       "head.num_classes: must be 0 with feature_strides (no classifier), got 10"},
      {"fs unreached",
       Net(R"({"conv": {"out_channels": 16, "stride": 2}})", R"("head": {"feature_strides": [4, 8]})"),
       "head.feature_strides[1]: no block outputs stride 8 (the network reaches stride 4)"},
      {"fs last",
       Net(R"({"conv": {"out_channels": 16, "stride": 2}})", R"("head": {"feature_strides": [2]})"),
       "head.feature_strides[0]: the last stride must be the network's final stride 4"},
  };
  for (const auto& c : cases) {
    auto arch = space::ParseArchitectureJson(c.json);
    ASSERT_TRUE(arch.ok()) << c.what << ": " << arch.status();
    const absl::Status st = space::ValidateArchitecture(*arch);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(std::string(st.message()).find(c.error), std::string::npos)
        << c.what << ": got '" << st.message() << "'";
  }
}

// ---- canonical form, JSON and key round trips ----

const char* const kNewZoo[] = {"mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0",
                               "efficientnet_b1",    "regnet_y_400mf",     "regnet_y_800mf",
                               "yolov8n_backbone"};

TEST(RoundTripTest, JsonCanonicalFormAndKeys) {
  for (const char* name : kNewZoo) {
    const v1::Architecture a = Zoo(name);
    const v1::Architecture c = space::Canonicalize(a);
    EXPECT_EQ(space::CanonicalEncoding(a), space::CanonicalEncoding(c)) << name;
    EXPECT_EQ(space::CanonicalEncoding(space::Canonicalize(c)), space::CanonicalEncoding(c)) << name;
    // JSON out and back in: the same network, field for field.
    for (const v1::Architecture* x : {&a, &c}) {
      auto back = space::ParseArchitectureJson(space::ArchitectureToJson(*x));
      ASSERT_TRUE(back.ok()) << name << ": " << back.status();
      EXPECT_EQ(back->SerializeAsString(), x->SerializeAsString()) << name;
      EXPECT_EQ(space::ArchHash(*back), space::ArchHash(a)) << name;
    }
    // Every block key parses back to the same block; numeric keys agree.
    for (const auto& site : space::ListBlocks(c)) {
      const std::string key = space::BlockKey(site.block, site.in);
      auto ks = space::ParseKey(key);
      ASSERT_TRUE(ks.ok()) << name << " " << key << ": " << ks.status();
      EXPECT_EQ(space::BlockKey(ks->block, ks->in), key);
      EXPECT_EQ(latency::NumericKey(ks->block, ks->in), latency::NumericKey(site.block, site.in)) << key;
      EXPECT_EQ(latency::GraphCost(latency::LowerKey(*ks)).params,
                latency::GraphCost(latency::LowerBlock(site.block, site.in)).params)
          << key;
    }
    const auto sites = space::ListBlocks(c);
    const std::string hk = space::HeadKey(c.head(), sites.back().out);
    auto hks = space::ParseKey(hk);
    ASSERT_TRUE(hks.ok()) << hk << ": " << hks.status();
    EXPECT_EQ(space::HeadKey(hks->head, hks->in), hk);
  }
}

TEST(RoundTripTest, SeOptionsKeyTextAndDefaults) {
  v1::Block b;
  auto* m = b.mutable_mbconv();
  m->set_out_channels(40);
  m->set_hidden_channels(120);
  m->set_kernel(5);
  m->mutable_se_options()->set_base(v1::SE_INPUT);
  m->mutable_se_options()->set_divisor(1);
  m->mutable_se_options()->set_gate(v1::SE_SIGMOID);
  m->mutable_se_options()->set_act(v1::SILU);
  m->set_act(v1::SILU);
  EXPECT_EQ(space::EncodeBlock(b), "mbconv:o40,h120,k5,s1,se1,sein,sed1,sesig,sesilu,silu");
  // Default options are the old `se: true`: same key, same hash as before.
  v1::Block old, dflt;
  old.mutable_mbconv()->set_out_channels(40);
  old.mutable_mbconv()->set_se(true);
  dflt.mutable_mbconv()->set_out_channels(40);
  dflt.mutable_mbconv()->mutable_se_options()->set_ratio(0.25);
  EXPECT_EQ(space::EncodeBlock(dflt), space::EncodeBlock(old));
  EXPECT_EQ(space::EncodeBlock(old), "mbconv:o40,e6,k3,s1,se1,relu6");
  EXPECT_EQ(latency::NumericKey(space::CanonicalBlock(dflt), space::Shape{40, 8, 8}),
            latency::NumericKey(space::CanonicalBlock(old), space::Shape{40, 8, 8}));
  // EfficientNet's SE width comes from the input: 40 / 4 = 10 on 240 hidden.
  const latency::Graph g = latency::LowerBlock(b, space::Shape{40, 14, 14});
  int squeeze = 0;
  for (const auto& op : g.ops)
    if (op.kind == latency::OpKind::kConv && op.bias && op.cin == 120) squeeze = op.cout;
  EXPECT_EQ(squeeze, 10);
}

// ---- spaces ----

TEST(SpaceTest, Mbv3AndDetectSpacesLoadAndEnumerateParsableKeys) {
  for (const char* name : {"mbv3", "detect"}) {
    auto space = space::Space::Load(std::string("search/spaces/") + name + ".json");
    ASSERT_TRUE(space.ok()) << name << ": " << space.status();
    const auto keys = (*space)->EnumerateKeys();
    EXPECT_GT(keys.size(), 10u) << name;
    for (const auto& k : keys) {
      auto ks = space::ParseKey(k.key);
      ASSERT_TRUE(ks.ok()) << k.key << ": " << ks.status();
    }
    base::Rng rng(7);
    for (int i = 0; i < 50; ++i) {
      const v1::Architecture a = (*space)->ToArchitecture((*space)->Sample(rng));
      ASSERT_TRUE(space::ValidateArchitecture(a).ok()) << space::ValidateArchitecture(a);
      // Every block of a sample is a key of the table.
      for (const auto& site : space::ListBlocks(a)) {
        const std::string key = space::BlockKey(site.block, site.in);
        bool found = false;
        for (const auto& k : keys) found = found || k.key == key;
        EXPECT_TRUE(found) << name << ": " << key;
      }
    }
  }
}

TEST(SpaceTest, DetectSamplesAre640x384WithThreeFeatureMaps) {
  auto space = space::Space::Load("search/spaces/detect.json");
  ASSERT_TRUE(space.ok()) << space.status();
  base::Rng rng(3);
  const v1::Architecture a = (*space)->ToArchitecture((*space)->Sample(rng));
  const latency::Graph g = latency::LowerNetwork(space::Canonicalize(a));
  ASSERT_EQ(g.outputs.size(), 3u);
  EXPECT_EQ(g.values[0], (space::Shape{3, 384, 640}));
  EXPECT_EQ(g.values[g.outputs[0]].h, 48);
  EXPECT_EQ(g.values[g.outputs[1]].h, 24);
  EXPECT_EQ(g.values[g.outputs[2]].w, 20);
}

TEST(SpaceTest, BadNewSpaceFieldsNameThemselves) {
  auto sp = space::ParseSpaceJson(R"({"name": "x", "resolutions": [64], "height": 8,
      "stages": [{"block_types": ["MBCONV"], "width": {"values": [16]}, "depth": {"values": [1]}}],
      "head": {"num_classes": 10}})");
  ASSERT_TRUE(sp.ok());
  EXPECT_EQ(space::Space::Create(*sp).status().message(), "height: must be in 16..1024, got 8");
  sp = space::ParseSpaceJson(R"({"name": "x", "resolutions": [64],
      "stages": [{"block_types": ["MBCONV"], "width": {"values": [16]}, "depth": {"values": [1]},
                  "hidden_widths": true, "expansions": [5]}],
      "head": {"num_classes": 10}})");
  ASSERT_TRUE(sp.ok());
  EXPECT_EQ(space::Space::Create(*sp).status().message(),
            "stages[0].expansions: must be in 10..80 (tenths, with hidden_widths), got 5");
  sp = space::ParseSpaceJson(R"({"name": "x", "resolutions": [64],
      "stages": [{"block_types": ["C2F"], "width": {"values": [16]}, "depth": {"values": [1]},
                  "stride": 2}],
      "head": {"feature_strides": [8]}})");
  ASSERT_TRUE(sp.ok());
  EXPECT_EQ(space::Space::Create(*sp).status().message(),
            "head.feature_strides[0]: no block outputs stride 8 (the network reaches stride 2)");
}

// ---- seeding ----

TEST(SeedTest, MobileNetV3LargeIsAPointOfTheMbv3Space) {
  auto space = space::Space::Load("search/spaces/mbv3.json");
  ASSERT_TRUE(space.ok()) << space.status();
  const v1::Architecture mb = Zoo("mobilenet_v3_large");
  auto g = space::GenotypeOfArchitecture(**space, mb, "seed_architectures[0]");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(space::CanonicalEncoding((*space)->ToArchitecture(*g)), space::CanonicalEncoding(mb));
  EXPECT_EQ(latency::AnalyzeNetwork((*space)->ToArchitecture(*g)).total.params, 5483032);
}

TEST(SeedTest, ANetworkOutsideTheSpaceNamesTheBlock) {
  auto space = space::Space::Load("search/spaces/mbv3.json");
  ASSERT_TRUE(space.ok());
  v1::Architecture mb = Zoo("mobilenet_v3_large");
  mb.mutable_stages(2)->mutable_blocks(1)->mutable_mbconv()->set_hidden_channels(208);
  auto g = space::GenotypeOfArchitecture(**space, mb, "seed_architectures[1]");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(g.status().message())
                .find("seed_architectures[1].stages[2].blocks[1]: mbconv:o80,h208,k3,s1,se0,hswish"),
            std::string::npos)
      << g.status();
  auto v2 = space::GenotypeOfArchitecture(**space, Zoo("mobilenet_v2"), "seed_architectures[0]");
  ASSERT_FALSE(v2.ok());
  EXPECT_NE(std::string(v2.status().message()).find("seed_architectures[0].stem"), std::string::npos)
      << v2.status();
}

}  // namespace
}  // namespace lutnas
