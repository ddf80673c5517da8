// In-process speed of encoded batch prediction (core/encoded_predict.h)
// beside the proto path (Space::ToArchitecture + LatencyPredictor::PredictMs),
// on one core, with a table holding every key of the space.
//   build/bin/bench_encoded [search/spaces/tiny.json] [rows=1000000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/encoded_predict.h"
#include "latency_models/cost.h"
#include "latency_models/graph.h"

using namespace lutnas;

namespace {
double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "search/spaces/tiny.json";
  const size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1000000;
  auto space = space::Space::Load(path);
  if (!space.ok()) {
    std::fprintf(stderr, "%s\n", std::string(space.status().message()).c_str());
    return 1;
  }
  v1::LatencyTable table;
  table.mutable_info()->set_hardware("bench");
  for (const auto& k : (*space)->EnumerateKeys()) {
    auto* e = table.add_entries();
    e->set_key(k.key);
    e->set_median_ms(0.01 + latency::GraphCost(latency::LowerKey(k)).macs / 1e9);
    e->set_status(v1::ENTRY_MEASURED);
  }
  v1::Hardware hw;
  hw.set_name("bench");
  auto pred = latency::LatencyPredictor::Create(hw, &table);
  if (!pred.ok()) return 1;
  auto enc = std::make_shared<const core::SpaceEncoding>(*space);
  base::Rng rng(1);
  std::vector<uint8_t> rows;
  std::vector<space::Genotype> gs;
  const size_t nproto = std::min<size_t>(n, 100000);
  for (size_t i = 0; i < n; ++i) {
    space::Genotype g = (*space)->Sample(rng);
    std::vector<uint8_t> row;
    if (!enc->Encode(g, &row).ok()) return 1;
    rows.insert(rows.end(), row.begin(), row.end());
    if (i < nproto) gs.push_back(std::move(g));
  }
  std::vector<double> lat(n);
  std::vector<int64_t> p(n), m(n), b(n);
  std::vector<double> enc_rate, cost_rate, warm_rate, proto_rate;
  double sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    for (bool cost : {false, true}) {
      core::EncodedPredictor ep(enc, {*pred}, cost);  // a fresh stream: memo filled inside the timing
      for (bool warm : {false, true}) {
        if (warm && cost) continue;
        int invalid = 0;
        auto t0 = std::chrono::steady_clock::now();
        auto st = ep.Predict(rows.data(), n, 0, false, lat.data(), p.data(), m.data(), b.data(), &invalid);
        const double s = Seconds(t0);
        if (!st.ok()) {
          std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
          return 1;
        }
        (warm ? warm_rate : cost ? cost_rate : enc_rate).push_back(n / s);
        sink += lat[n / 2];
      }
    }
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& g : gs) sink += (*pred)->PredictMs((*space)->ToArchitecture(g, false));
    proto_rate.push_back(gs.size() / Seconds(t0));
  }
  auto show = [](const char* what, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::printf("  %-44s %12.0f  [%.0f .. %.0f]\n", what, v[v.size() / 2], v.front(), v.back());
  };
  std::printf("%s: %zu rows of %d choice bytes; networks/s on one core, median of 5 [min..max]:\n",
              (*space)->name().c_str(), n, enc->width());
  show("encoded rows -> latency (fresh stream)", enc_rate);
  show("encoded rows -> latency (memo warm)", warm_rate);
  show("encoded rows -> latency + params/MACs/bytes", cost_rate);
  show("genotype -> Architecture proto -> PredictMs", proto_rate);
  std::printf("(checksum %.3f)\n", sink);
  return 0;
}
