// Issue 3 benchmark (b): in-process latency predictions per second for
// 20-block architectures on one core. Table: every key of the mobile space
// (synthetic latencies; lookup cost does not depend on the values), or a
// measured table file given as argv[1] with its space as argv[2].
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "base/file.h"
#include "latency_models/lut.h"
#include "latency_models/table_io.h"
#include "space/space.h"

using namespace lutnas;

int main(int argc, char** argv) {
  const std::string space_path = argc > 2 ? argv[2] : "search/spaces/mobile.json";
  auto space = space::Space::Load(space_path);
  if (!space.ok()) {
    std::fprintf(stderr, "%s\n", std::string(space.status().message()).c_str());
    return 1;
  }
  v1::LatencyTable table;
  if (argc > 1) {
    auto data = lutnas::base::ReadFileToString(argv[1], 64 << 20);
    std::vector<std::string> u;
    auto t = data.ok() ? latency::ParseTable(*data, "csv", "", &u)
                       : absl::StatusOr<v1::LatencyTable>(data.status());
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
      return 1;
    }
    table = *t;
  } else {
    table.mutable_info()->set_hardware("bench");
    double ms = 0.01;
    for (const auto& k : (*space)->EnumerateKeys()) {
      auto* e = table.add_entries();
      e->set_key(k.key);
      e->set_median_ms(ms += 0.001);
      e->set_samples(1);
      e->set_status(v1::ENTRY_MEASURED);
    }
  }
  v1::Hardware hw;
  hw.set_name(table.info().hardware());
  auto pred = latency::LatencyPredictor::Create(hw, &table);
  if (!pred.ok()) return 1;
  base::Rng rng(1);
  std::vector<v1::Architecture> archs;
  for (int i = 0; archs.size() < 1000 && i < 200000; ++i) {
    auto a = space::Canonicalize((*space)->ToArchitecture((*space)->Sample(rng)));
    if (space::ListBlocks(a).size() + 1 == 20 || argc > 1) archs.push_back(a);  // 19 blocks + head = 20 keys
  }
  std::printf("table: %d keys, %zu architectures of %zu keys each\n", table.entries_size(), archs.size(),
              space::ListBlocks(archs[0]).size() + 1);
  double sink = 0;
  auto run = [&](bool breakdown, int iters) {
    std::vector<double> rates;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int it = 0; it < iters; ++it)
        for (const auto& a : archs) sink += (*pred)->Predict(a, breakdown).latency_ms();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rates.push_back(iters * archs.size() / s);
    }
    std::sort(rates.begin(), rates.end());
    return std::make_pair(rates[2], std::make_pair(rates[0], rates[4]));
  };
  auto fast = run(false, 200);
  auto full = run(true, 5);
  std::printf("predictions/s (one core, median of 5 [min..max]):\n");
  std::printf("  total latency + coverage : %10.0f  [%.0f .. %.0f]\n", fast.first, fast.second.first,
              fast.second.second);
  std::printf("  with per-block breakdown : %10.0f  [%.0f .. %.0f]\n", full.first, full.second.first,
              full.second.second);
  std::printf("(checksum %.3f)\n", sink);
  return 0;
}
