// bench_estimate: the estimator on its own, without a daemon or a
// measurement (bench/estimate_zoo.py does the end-to-end check).
//   bench_estimate --table EDGE.csv [--measured KEYS.csv] ARCH.json...
// Strips every key of the given architectures from EDGE (so each is
// estimated), predicts each architecture, and prints one JSON line per
// architecture: its block sum and, per block, the key, the estimate, its
// source and, when KEYS.csv (e.g. `lutnas-profile table --arch`'s merged
// output) measured the key, the measured time; then one line with the
// fitted per-op-class rates (BENCH_ESTIMATE_DEBUG=1: each coefficient on stderr).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "latency_models/lut.h"
#include "latency_models/table_io.h"

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lutnas;
  std::string table_path, measured_path;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--table" && i + 1 < argc)
      table_path = argv[++i];
    else if (a == "--measured" && i + 1 < argc)
      measured_path = argv[++i];
    else
      files.push_back(a);
  }
  if (table_path.empty() || files.empty()) {
    std::fprintf(stderr, "usage: bench_estimate --table EDGE.csv [--measured KEYS.csv] ARCH.json...\n");
    return 2;
  }
  auto table = latency::ParseTableCsv(Slurp(table_path), "");
  if (!table.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", table_path.c_str(),
                 std::string(table.status().message()).c_str());
    return 1;
  }
  std::map<std::string, double> measured;
  if (!measured_path.empty()) {
    auto m = latency::ParseTableCsv(Slurp(measured_path), "");
    if (!m.ok()) {
      std::fprintf(stderr, "error: %s: %s\n", measured_path.c_str(),
                   std::string(m.status().message()).c_str());
      return 1;
    }
    for (const auto& e : m->entries())
      if (e.status() == v1::ENTRY_MEASURED) measured[e.key()] = e.median_ms();
  }
  std::vector<v1::Architecture> archs;
  std::set<std::string> zoo;
  for (const auto& f : files) {
    auto arch = space::LoadArchitectureFile(f);
    if (!arch.ok()) {
      std::fprintf(stderr, "error: %s: %s\n", f.c_str(), std::string(arch.status().message()).c_str());
      return 1;
    }
    archs.push_back(space::Canonicalize(*arch));
    if (archs.back().name().empty()) archs.back().set_name(f);
    const auto sites = space::ListBlocks(archs.back());
    for (const auto& s : sites) zoo.insert(space::BlockKey(s.block, s.in));
    zoo.insert(space::HeadKey(archs.back().head(),
                              sites.empty() ? space::InputShape(archs.back()) : sites.back().out));
  }
  v1::LatencyTable stripped;
  *stripped.mutable_info() = table->info();
  stripped.mutable_info()->clear_correction();
  for (const auto& e : table->entries())
    if (!zoo.count(e.key())) *stripped.add_entries() = e;
  v1::Hardware hw;
  hw.set_name(table->info().hardware());
  auto pred = latency::LatencyPredictor::Create(hw, &stripped);
  if (!pred.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(pred.status().message()).c_str());
    return 1;
  }
  for (size_t i = 0; i < archs.size(); ++i) {
    const auto p = (*pred)->Predict(archs[i], true);
    std::printf("{\"name\": \"%s\", \"sum_ms\": %.6g, \"blocks\": [", files[i].c_str(), p.sum_ms());
    for (int b = 0; b < p.blocks_size(); ++b) {
      const auto& bl = p.blocks(b);
      auto it = measured.find(bl.key());
      std::printf("%s{\"key\": \"%s\", \"ms\": %.6g, \"source\": %d, \"measured_ms\": %.6g}", b ? ", " : "",
                  bl.key().c_str(), bl.latency_ms(), static_cast<int>(bl.source()),
                  it == measured.end() ? 0.0 : it->second);
    }
    std::printf("]}\n");
  }
  std::printf("{\"model\": \"%s\"}\n", (*pred)->op_model().Describe().c_str());
  if (std::getenv("BENCH_ESTIMATE_DEBUG"))
    for (int j = 0; j < latency::kNumOpFeatures; ++j)
      std::fprintf(stderr, "%s coef %g fitted %d\n", latency::OpFeatureName(j), (*pred)->op_model().coef()[j],
                   (*pred)->op_model().fitted(j));
  return 0;
}
