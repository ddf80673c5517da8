#include "space/space.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

#include "space/arch_util.h"
#include "space/block_traits.h"
#include "space/keys.h"
#include "tests/block_golden.h"

namespace lutnas {
namespace {

v1::Architecture Parse(const std::string& json) {
  auto a = space::ParseArchitectureJson(json);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *a : v1::Architecture();
}

std::string ErrorOf(const std::string& json) {
  auto a = space::ParseArchitectureJson(json);
  if (!a.ok()) return std::string(a.status().message());
  auto st = space::ValidateArchitecture(*a);
  return st.ok() ? "" : std::string(st.message());
}

const char* kBase = R"({"resolution": 64, "stem": [{"conv": {"out_channels": 16, "stride": 2}}],
  "stages": [{"blocks": [%s]}], "head": {"num_classes": 10}})";

std::string WithBlock(const std::string& block) {
  char buf[1024];
  std::snprintf(buf, sizeof buf, kBase, block.c_str());
  return buf;
}

struct BadCase {
  const char* block;
  const char* message;
};

class ValidationTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ValidationTest, NamesFieldAndProblem) {
  EXPECT_EQ(ErrorOf(WithBlock(GetParam().block)), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Bad, ValidationTest,
    ::testing::Values(
        BadCase{R"({"conv": {"out_channels": -3}})",
                "stages[0].blocks[0].conv.out_channels: must be > 0, got -3"},
        BadCase{R"({"conv": {"out_channels": 16, "stride": 3}})",
                "stages[0].blocks[0].conv.stride: must be 1 or 2, got 3"},
        BadCase{R"({"conv": {"out_channels": 16, "kernel": 4}})",
                "stages[0].blocks[0].conv.kernel: must be 1, 3, 5 or 7, got 4"},
        BadCase{R"({"mbconv": {"out_channels": 16, "kernel": 1}})",
                "stages[0].blocks[0].mbconv.kernel: must be 3, 5 or 7, got 1"},
        BadCase{R"({"conv": {"out_channels": 24, "groups": 5}})",
                "stages[0].blocks[0].conv.groups: 5 does not divide in_channels 16 and out_channels 24"},
        BadCase{R"({"shuffle": {"out_channels": 15, "stride": 2}})",
                "stages[0].blocks[0].shuffle.out_channels: channel split needs an even width, got 15"},
        BadCase{R"({"shuffle": {"out_channels": 32}})",
                "stages[0].blocks[0].shuffle.out_channels: stride-1 unit needs out_channels == in_channels "
                "16, got 32"},
        BadCase{R"({"csp": {"out_channels": 32, "split_ratio": 1.5}})",
                "stages[0].blocks[0].csp.split_ratio: must be in (0, 1], got 1.5"},
        BadCase{R"({"osa": {"out_channels": 32, "stage_channels": 16, "residual": true}})",
                "stages[0].blocks[0].osa.residual: needs in_channels == out_channels and stride 1 (in 16, "
                "out 32, stride 1)"},
        BadCase{R"({"mbconv": {"out_channels": 16, "expansion": 0}})",
                "stages[0].blocks[0].mbconv.expansion: must be in 1..8, got 0"},
        BadCase{R"({})",
                "stages[0].blocks[0]: block has no type (set one of conv, repvgg, mbconv, fused_mbconv, "
                "shuffle, csp, osa, basic, bottleneck, pool, c3, c2f, sppf)"}));

TEST(ValidationTest, ArchitectureLevelErrors) {
  EXPECT_EQ(
      ErrorOf(R"({"resolution": 4, "stem": [{"conv": {"out_channels": 8}}], "head": {"num_classes": 1}})"),
      "resolution: must be in 8..1024, got 4");
  EXPECT_EQ(ErrorOf(R"({"resolution": 32, "head": {"num_classes": 1}})"),
            "stages: the network has no blocks");
  EXPECT_EQ(
      ErrorOf(R"({"resolution": 32, "stem": [{"conv": {"out_channels": 8}}], "head": {"num_classes": 0}})"),
      "head.num_classes: must be in 1..100000, got 0");
  EXPECT_EQ(ErrorOf(R"({"resolution": 32, "stages": [{"blocks": []}], "head": {"num_classes": 2}})"),
            "stages[0].blocks: a stage needs at least one block");
  EXPECT_NE(ErrorOf(R"({"resolution": "big"})").find("invalid JSON"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"resolutoin": 32})").find("invalid JSON"), std::string::npos);
  EXPECT_NE(ErrorOf("[[[[").find("invalid JSON"), std::string::npos);
}

TEST(CanonicalTest, EqualNetworksEncodeTheSame) {
  // Defaults spelled out vs left out, camelCase vs snake_case, stage split.
  const auto a = Parse(R"({"name": "a", "resolution": 64,
    "stem": [{"conv": {"out_channels": 16, "stride": 2}}],
    "stages": [{"blocks": [{"mbconv": {"out_channels": 16}}, {"mbconv": {"outChannels": 24, "stride": 2}}]}],
    "head": {"num_classes": 10}})");
  const auto b = Parse(R"({"name": "b", "resolution": 64, "in_channels": 3,
    "stem": [{"conv": {"out_channels": 16, "kernel": 3, "stride": 2, "groups": 1, "act": "RELU"}}],
    "stages": [{"blocks": [{"mbconv": {"out_channels": 16, "expansion": 6, "kernel": 3, "stride": 1, "act": "RELU6"}}]},
               {"blocks": [{"mbconv": {"out_channels": 24, "stride": 2, "se": false}}]}],
    "head": {"num_classes": 10, "act": "RELU"}})");
  EXPECT_EQ(space::CanonicalEncoding(a), space::CanonicalEncoding(b));
  EXPECT_EQ(space::ArchHash(a), space::ArchHash(b));
  EXPECT_EQ(space::CanonicalEncoding(a),
            "v1;r64;i3;conv:o16,k3,s2,g1,relu;mbconv:o16,e6,k3,s1,se0,relu6;"
            "mbconv:o24,e6,k3,s2,se0,relu6;head:c0,relu,f0,n10");
  // Pinned: the hash must never change across runs, compilers or platforms.
  EXPECT_EQ(space::ArchHash(a), "89e41c82be9a02d5");
  auto c = a;
  c.mutable_stages(0)->mutable_blocks(1)->mutable_mbconv()->set_kernel(5);
  EXPECT_NE(space::ArchHash(a), space::ArchHash(c));
}

TEST(SpaceTest, ShippedSpacesLoadSampleAndEnumerate) {
  for (const char* name : {"tiny", "edge", "mobile"}) {
    auto sp = space::Space::Load(std::string("search/spaces/") + name + ".json");
    ASSERT_TRUE(sp.ok()) << name << ": " << sp.status();
    base::Rng rng(42);
    for (int i = 0; i < 200; ++i) {
      const space::Genotype g = (*sp)->Sample(rng);
      EXPECT_TRUE((*sp)->CheckGenotype(g).ok()) << name << " " << g.Encode();
      const auto arch = (*sp)->ToArchitecture(g);
      ASSERT_TRUE(space::ValidateArchitecture(arch).ok()) << name << " " << space::ValidateArchitecture(arch);
      auto back = space::Genotype::Decode(g.Encode());
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(*back, g);
    }
    const auto keys = (*sp)->EnumerateKeys();
    EXPECT_GT(keys.size(), 10u) << name;
    // Every block of every sample is a key the enumeration produced.
    std::set<std::string> all;
    for (const auto& k : keys) all.insert(k.key);
    for (int i = 0; i < 50; ++i) {
      const auto arch = (*sp)->ToArchitecture((*sp)->Sample(rng));
      for (const auto& site : space::ListBlocks(arch))
        EXPECT_TRUE(all.count(space::BlockKey(site.block, site.in))) << space::BlockKey(site.block, site.in);
      const space::Shape last = space::ListBlocks(arch).back().out;
      EXPECT_TRUE(all.count(space::HeadKey(arch.head(), last)));
    }
  }
}

TEST(SpaceTest, SamplingIsDeterministicForASeed) {
  auto sp = space::Space::Load("search/spaces/edge.json");
  ASSERT_TRUE(sp.ok()) << sp.status();
  base::Rng a(7), b(7);
  for (int i = 0; i < 20; ++i) EXPECT_EQ((*sp)->Sample(a), (*sp)->Sample(b));
}

TEST(SpaceTest, BadSpacesNameTheField) {
  auto err = [](const std::string& json) {
    auto p = space::ParseSpaceJson(json);
    if (!p.ok()) return std::string(p.status().message());
    auto s = space::Space::Create(*p);
    return s.ok() ? std::string() : std::string(s.status().message());
  };
  EXPECT_EQ(err(R"({"resolutions": [], "stages": []})"), "resolutions: at least one resolution is needed");
  EXPECT_EQ(
      err(R"({"resolutions": [64], "head": {"num_classes": 10}, "stages": [{"block_types": [], "width": {"values": [16]}, "depth": {"values": [1]}}]})"),
      "stages[0].block_types: at least one block type is needed");
  EXPECT_EQ(
      err(R"({"resolutions": [64], "head": {"num_classes": 10}, "stages": [{"block_types": ["MBCONV"], "width": {"min": 32, "max": 16}, "depth": {"values": [1]}}]})"),
      "stages[0].width: max 16 < min 32");
  // A head the architecture validator would refuse (found by fuzz_space).
  EXPECT_EQ(
      err(R"({"resolutions": [64], "head": {"conv_channels": 96280, "num_classes": 10}, "stages": [{"block_types": ["MBCONV"], "width": {"values": [16]}, "depth": {"values": [1]}}]})"),
      "head.conv_channels: must be in 0..16384, got 96280");
  // Only stride-1 ShuffleNet units, yet the width changes: contradictory.
  EXPECT_EQ(
      err(R"({"resolutions": [64], "stem": [{"conv": {"out_channels": 16}}], "head": {"num_classes": 10}, "stages": [{"block_types": ["SHUFFLE"], "width": {"values": [32]}, "depth": {"values": [1]}, "stride": 1}]})"),
      "stages[0]: no allowed block type can go from 16 to 32 channels (first block)");
}

}  // namespace
}  // namespace lutnas

namespace lutnas {
namespace {

// Space::Fits is a fast, string-free check; it must agree with validation.
TEST(SpaceTest, FitsAgreesWithValidation) {
  auto sp = space::Space::Load("search/spaces/edge.json");
  ASSERT_TRUE(sp.ok());
  int checked = 0;
  for (int t = v1::CONV; t <= v1::BOTTLENECK; ++t)
    for (int k : {1, 3, 5, 7})
      for (int e : {1, 4})
        for (int in_c : {15, 16, 32})
          for (int out_c : {16, 17, 32})
            for (int s : {1, 2}) {
              space::BlockGene g = (*sp)->NormalizeGene({static_cast<v1::BlockType>(t), k, e});
              auto b = (*sp)->MakeBlock(0, g, in_c, out_c, s);
              space::Shape out;
              const bool valid =
                  b.ok() && space::ValidateBlock(*b, space::Shape{in_c, 32, 32}, "", &out).ok();
              EXPECT_EQ((*sp)->Fits(0, g, in_c, out_c, s), valid)
                  << space::BlockTypeName(g.type) << " k" << k << " e" << e << " " << in_c << "->" << out_c
                  << " s" << s;
              if (b.ok())
                EXPECT_EQ(space::EncodeBlock(*b),
                          space::EncodeBlock(space::CanonicalBlock(*b)));  // canonical already
              ++checked;
            }
  EXPECT_EQ(checked, 9 * 4 * 2 * 3 * 3 * 2);
}

// --- Traits table (issue 12): one row per block type, one key codec.

const std::vector<std::string> kShippedSpaces = {"search/spaces/detect.json", "search/spaces/edge.json",
                                                 "search/spaces/mbv3.json", "search/spaces/mobile.json",
                                                 "search/spaces/tiny.json"};

// tests/data/block_golden.txt is the report of the code before the table: 6000 random blocks
// (validation message or output shape, key text, canonical bytes, parses of the key and of
// mutated keys) and every key and 200 sampled hashes of each shipped space. Same report now.
TEST(BlockTraits, SameReportAsBeforeTheTable) {
  std::ifstream f("tests/data/block_golden.txt");
  ASSERT_TRUE(f) << "run from the repository root";
  std::stringstream want;
  want << f.rdbuf();
  const std::string full = golden::BlockReport(12, 6000, kShippedSpaces);
  const std::string got = golden::Compact(full);
  if (got == want.str()) return;
  std::vector<std::string> w = absl::StrSplit(want.str(), '\n'), g = absl::StrSplit(got, '\n'),
                           lines = absl::StrSplit(full, '\n', absl::SkipEmpty());
  for (size_t i = 0; i < std::min(w.size(), g.size()); ++i)
    if (w[i] != g[i]) FAIL() << "line " << i + 1 << " differs; now: " << (i < lines.size() ? lines[i] : g[i]);
  FAIL() << "report has " << g.size() << " lines, golden " << w.size();
}

TEST(BlockTraits, EveryTypeHasOneRow) {
  const auto* oneof = v1::Block::descriptor()->FindOneofByName("kind");
  ASSERT_EQ(static_cast<int>(space::AllBlockTraits().size()), oneof->field_count());
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto& row = space::AllBlockTraits()[i];
    EXPECT_EQ(row.name, oneof->field(i)->name());
    v1::Block b;
    b.GetReflection()->MutableMessage(&b, oneof->field(i));
    EXPECT_EQ(space::TraitsOf(b), &row) << row.name;
    EXPECT_EQ(space::TraitsByName(row.name), &row);
  }
  const auto* types = v1::BlockType_descriptor();
  for (int i = 0; i < types->value_count(); ++i) {
    const auto t = static_cast<v1::BlockType>(types->value(i)->number());
    if (t == v1::BLOCK_TYPE_UNSPECIFIED) continue;
    const space::BlockTraits* row = space::TraitsOf(t);
    ASSERT_NE(row, nullptr) << types->value(i)->name() << " has no row";
    EXPECT_STREQ(space::BlockTypeName(t), row->name);
  }
  EXPECT_EQ(space::TraitsOf(v1::Block()), nullptr);
  EXPECT_STREQ(space::BlockTypeName(v1::BLOCK_TYPE_UNSPECIFIED), "unknown");
}

TEST(BlockTraits, DefaultsComeFromTheRow) {
  v1::Block b;
  b.mutable_mbconv()->set_out_channels(24);
  EXPECT_EQ(space::EncodeBlock(b), "mbconv:o24,e6,k3,s1,se0,relu6");
  b.mutable_mbconv()->set_hidden_channels(72);
  EXPECT_EQ(space::EncodeBlock(b), "mbconv:o24,h72,k3,s1,se0,relu6");
  v1::Block p;
  p.mutable_pool();
  EXPECT_EQ(space::EncodeBlock(p), "pool:max,k3,s2");
  EXPECT_EQ(space::OutShape(p, space::Shape{8, 16, 16}), (space::Shape{8, 8, 8}));
  v1::Block r;
  r.mutable_bottleneck()->set_out_channels(64);
  EXPECT_EQ(space::CanonicalBlock(r).bottleneck().mid_channels(), 16);
  EXPECT_EQ(space::EncodeBlock(r), "bottleneck:o64,m16,s1,g1,relu");
  space::Shape out;
  EXPECT_EQ(space::ValidateBlock(v1::Block(), space::Shape{3, 8, 8}, "stem[0]", &out).message(),
            "stem[0]: block has no type (set one of conv, repvgg, mbconv, fused_mbconv, shuffle, csp, osa, "
            "basic, bottleneck, pool, c3, c2f, sppf)");
}

TEST(Keys, EveryShippedKeyRoundTrips) {
  for (const std::string& file : kShippedSpaces) {
    auto sp = space::Space::Load(file);
    ASSERT_TRUE(sp.ok()) << sp.status();
    const auto keys = (*sp)->EnumerateKeys();
    ASSERT_GT(keys.size(), 40u) << file;
    for (const auto& k : keys) {
      auto ks = space::ParseKey(k.key);
      ASSERT_TRUE(ks.ok()) << file << ": " << ks.status();
      EXPECT_EQ(ks->is_head ? space::HeadKey(ks->head, ks->in) : space::BlockKey(ks->block, ks->in), k.key);
      if (!ks->is_head) EXPECT_EQ(ks->block.SerializeAsString(), k.block.SerializeAsString()) << k.key;
    }
  }
}

TEST(Keys, GrammarListsEveryRowAndItsTokensInKeyOrder) {
  const std::string g = space::KeyGrammarJson();
  for (const auto& row : space::AllBlockTraits())
    EXPECT_NE(g.find(absl::StrCat("{\"type\": \"", row.name, "\"")), std::string::npos) << row.name;
  EXPECT_NE(g.find("\"activations\": [\"relu\", \"relu6\", \"hswish\", \"silu\", \"id\"]"),
            std::string::npos);
  const size_t conv = g.find("{\"type\": \"conv\"");
  const size_t o = g.find("\"key\": \"o\"", conv), k = g.find("\"key\": \"k\"", conv),
               s = g.find("\"key\": \"s\"", conv), gr = g.find("\"key\": \"g\"", conv),
               act = g.find("\"kind\": \"act\"", conv);
  EXPECT_TRUE(o < k && k < s && s < gr && gr < act) << g.substr(conv, 400);
}

}  // namespace
}  // namespace lutnas
