// Encoded batch prediction (core/encoded_predict.h): bit-identical to
// the proto path on every shipped space, with tables partly missing (estimates)
// and with a correction, and invalid rows rejected with the slot named.
#include "core/encoded_predict.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "latency_models/cost.h"
#include "latency_models/graph.h"
#include "latency_models/lut.h"
#include "space/space.h"

namespace lutnas::jobs {
namespace {

// Measured-looking table for every key of a space; keep_every > 1 drops
// keys (they are then estimated); a correction is set.
v1::LatencyTable Table(const space::Space& space, const std::string& hw, int keep_every) {
  v1::LatencyTable t;
  t.mutable_info()->set_hardware(hw);
  t.mutable_info()->set_version(2);
  t.mutable_info()->mutable_correction()->set_scale(1.25);
  t.mutable_info()->mutable_correction()->set_offset_ms(0.3);
  int i = 0;
  for (const auto& k : space.EnumerateKeys()) {
    if (i++ % keep_every != 0 && !k.is_head) continue;
    const latency::Cost c = latency::GraphCost(latency::LowerKey(k));
    auto* e = t.add_entries();
    e->set_key(k.key);
    e->set_median_ms(0.013 + c.macs / 7e8 + c.mac_bytes / 3e9);
    e->set_samples(31);
    e->set_status(v1::ENTRY_MEASURED);
  }
  return t;
}

class EncodedPredictTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EncodedPredictTest, MatchesTheProtoPathExactly) {
  auto sp = space::Space::Load(std::string("search/spaces/") + GetParam() + ".json");
  ASSERT_TRUE(sp.ok()) << sp.status();
  auto enc = std::make_shared<const core::SpaceEncoding>(*sp);
  v1::Hardware a, b;
  a.set_name("a");
  b.set_name("b");
  const auto ta = Table(**sp, "a", 1), tb = Table(**sp, "b", 3);
  auto pa = latency::LatencyPredictor::Create(a, &ta), pb = latency::LatencyPredictor::Create(b, &tb);
  ASSERT_TRUE(pa.ok() && pb.ok());
  core::EncodedPredictor pred(enc, {*pa, *pb}, /*cost=*/true);
  base::Rng rng(17);
  const int n = 400;
  std::vector<uint8_t> rows;
  std::vector<space::Genotype> gs;
  for (int i = 0; i < n; ++i) {
    gs.push_back((*sp)->Sample(rng));
    std::vector<uint8_t> row;
    ASSERT_TRUE(enc->Encode(gs.back(), &row).ok());
    space::Genotype back;
    ASSERT_TRUE(enc->Decode(row.data(), &back).ok());
    ASSERT_TRUE(back == gs.back()) << gs.back().Encode() << " vs " << back.Encode();
    rows.insert(rows.end(), row.begin(), row.end());
  }
  std::vector<double> lat(n * 2);
  std::vector<int64_t> params(n), macs(n), bytes(n);
  int invalid = -1;
  ASSERT_TRUE(
      pred.Predict(rows.data(), n, 0, false, lat.data(), params.data(), macs.data(), bytes.data(), &invalid)
          .ok());
  EXPECT_EQ(invalid, 0);
  for (int i = 0; i < n; ++i) {
    const auto arch = space::Canonicalize((*sp)->ToArchitecture(gs[i], false));
    EXPECT_EQ(lat[2 * i], (*pa)->PredictMs(arch)) << i;      // bit-identical, not near
    EXPECT_EQ(lat[2 * i + 1], (*pb)->PredictMs(arch)) << i;  // with estimated keys
    const auto nc = latency::AnalyzeNetwork(arch);
    EXPECT_EQ(params[i], nc.total.params) << i;
    EXPECT_EQ(macs[i], nc.total.macs) << i;
    EXPECT_EQ(bytes[i], nc.total.mac_bytes) << i;
  }
}

// Every shipped space (a new space or a new kind of choice must keep the two paths equal).
std::vector<std::string> ShippedSpaces() {
  std::vector<std::string> names;
  if (DIR* d = opendir("search/spaces")) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.substr(n.size() - 5) == ".json") names.push_back(n.substr(0, n.size() - 5));
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(EncodedPredict, ShippedSpacesAreFound) {
  const auto names = ShippedSpaces();
  for (const char* n : {"tiny", "edge", "mobile"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
}

INSTANTIATE_TEST_SUITE_P(Spaces, EncodedPredictTest, ::testing::ValuesIn(ShippedSpaces()));

TEST(EncodedPredict, InvalidRowsNameTheSlotOrAreSkipped) {
  auto sp = space::Space::Load("search/spaces/tiny.json");
  ASSERT_TRUE(sp.ok());
  auto enc = std::make_shared<const core::SpaceEncoding>(*sp);
  v1::Hardware hw;
  hw.set_name("a");
  const auto t = Table(**sp, "a", 1);
  auto p = latency::LatencyPredictor::Create(hw, &t);
  ASSERT_TRUE(p.ok());
  core::EncodedPredictor pred(enc, {*p}, false);
  base::Rng rng(3);
  std::vector<uint8_t> good;
  ASSERT_TRUE(enc->Encode((*sp)->Sample(rng), &good).ok());
  std::vector<uint8_t> rows = good;
  std::vector<uint8_t> bad = good;
  bad[0] = 7;  // two resolutions in tiny
  rows.insert(rows.end(), bad.begin(), bad.end());
  double lat[2];
  int invalid = 0;
  auto st = pred.Predict(rows.data(), 2, 1000, false, lat, nullptr, nullptr, nullptr, &invalid);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(st.message()), "choices: row 1001: resolution: index 7 out of range (2 choices)");
  ASSERT_TRUE(pred.Predict(rows.data(), 2, 0, true, lat, nullptr, nullptr, nullptr, &invalid).ok());
  EXPECT_EQ(invalid, 1);
  EXPECT_TRUE(std::isfinite(lat[0]));
  EXPECT_TRUE(std::isnan(lat[1]));
  // An ignored-but-present slot must still be in range.
  const auto d = enc->Describe();
  int slot = -1;
  for (int i = 0; i < d.slots_size(); ++i)
    if (d.slots(i).name() == "stages[2].blocks[0].kernel") slot = i;
  ASSERT_GE(slot, 0);
  EXPECT_EQ(d.slots(slot).choices(), 2);
  bad = good;
  bad[slot] = 2;
  st = pred.Predict(bad.data(), 1, 0, false, lat, nullptr, nullptr, nullptr, &invalid);
  EXPECT_EQ(std::string(st.message()),
            "choices: row 0: stages[2].blocks[0].kernel: index 2 out of range (2 choices)");
}

}  // namespace
}  // namespace lutnas::jobs
