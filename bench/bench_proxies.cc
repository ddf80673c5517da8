// Issue 4 benchmark (b): proxy-scored candidates per second, one thread,
// batch 8, at 64 and 224 px, for random architectures of a space (each
// network built, initialised and run for real; the cache is bypassed by
// using distinct architectures).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "latency_models/profiler.h"
#include "latency_models/proxies.h"
#include "space/space.h"

using namespace lutnas;

int main(int argc, char** argv) {
  const std::string space_path = argc > 1 ? argv[1] : "search/spaces/tiny.json";
  const int n = argc > 2 ? std::atoi(argv[2]) : 20;
  auto space = space::Space::Load(space_path);
  if (!space.ok()) return 1;
  latency::SetTorchThreads(1);
  base::Rng rng(3);
  std::vector<v1::Architecture> archs;
  std::set<std::string> seen;
  while (static_cast<int>(archs.size()) < n) {
    auto a = (*space)->ToArchitecture((*space)->Sample(rng));
    if (seen.insert(space::ArchHash(a)).second) archs.push_back(a);
  }
  std::printf("space %s, %d distinct architectures, batch 8, 1 thread\n", (*space)->name().c_str(), n);
  for (int res : {64, 224}) {
    for (int kind = 0; kind < 2; ++kind) {
      latency::ProxyOptions o;
      o.resolution = res;
      o.batch = 8;
      std::vector<double> per;
      for (const auto& a : archs) {
        const auto t0 = std::chrono::steady_clock::now();
        auto s = kind == 0 ? latency::ZenScore(a, o) : latency::NaswotScore(a, o);
        per.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (!s.ok()) {
          std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
          return 1;
        }
      }
      std::sort(per.begin(), per.end());
      double total = 0;
      for (double x : per) total += x;
      std::printf("  %-7s %3d px: %6.1f candidates/s (median %.1f ms, p10 %.1f, p90 %.1f per candidate)\n",
                  kind == 0 ? "Zen" : "NASWOT", res, n / total, per[n / 2] * 1e3, per[n / 10] * 1e3,
                  per[n * 9 / 10] * 1e3);
    }
  }
  return 0;
}
