// Space-layer throughput (issue 12, the block traits table): per shipped space, 1000 sampled
// networks through ValidateArchitecture and Canonicalize + ArchHash, and every key of the space
// through ParseKey. Thread-CPU time, median and spread (min..max) of 7 repetitions; run from the
// repository root:  build/bin/bench_space [SPACE.json ...]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "space/arch_util.h"
#include "space/space.h"

using namespace lutnas;

namespace {

double ThreadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Median and range of 7 runs of `fn`, each over `n` items, in microseconds per item.
template <typename Fn>
void Report(const char* what, int n, Fn fn) {
  std::vector<double> us;
  for (int rep = 0; rep < 7; ++rep) {
    const double t0 = ThreadSeconds();
    fn();
    us.push_back((ThreadSeconds() - t0) * 1e6 / n);
  }
  std::sort(us.begin(), us.end());
  std::printf("  %-28s %8.2f us/item  (min %.2f, max %.2f; n=%d)\n", what, us[3], us[0], us[6], n);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files(argv + 1, argv + argc);
  if (files.empty())
    files = {"search/spaces/detect.json", "search/spaces/edge.json", "search/spaces/mbv3.json",
             "search/spaces/mobile.json", "search/spaces/tiny.json"};
  size_t sink = 0;
  for (const std::string& file : files) {
    auto sp = space::Space::Load(file);
    if (!sp.ok()) {
      std::fprintf(stderr, "%s\n", std::string(sp.status().message()).c_str());
      return 1;
    }
    base::Rng rng(1);
    std::vector<v1::Architecture> raw, canon;
    for (int i = 0; i < 1000; ++i) {
      raw.push_back((*sp)->ToArchitecture((*sp)->Sample(rng), false));
      canon.push_back(space::Canonicalize(raw.back()));
    }
    const auto keys = (*sp)->EnumerateKeys();
    std::printf("%s: %zu keys, %zu blocks in the first network\n", file.c_str(), keys.size(),
                space::ListBlocks(canon[0]).size());
    Report("ValidateArchitecture", 1000, [&] {
      for (const auto& a : raw) sink += space::ValidateArchitecture(a).ok();
    });
    Report("Canonicalize + ArchHash", 1000, [&] {
      for (const auto& a : raw) sink += space::ArchHash(space::Canonicalize(a)).size();
    });
    Report("ParseKey (every key)", static_cast<int>(keys.size()), [&] {
      for (const auto& k : keys) sink += space::ParseKey(k.key).ok();
    });
  }
  return sink == 0;
}
