// lutnas-inspect ARCH.json [--json] [--bytes N]: validates an architecture
// and prints its per-block cost table (MACs, params, memory access cost).
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "latency_models/cost.h"
#include "search/space/arch_util.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: lutnas-inspect ARCH.json [--json] [--bytes N]\n"
               "  --bytes N  bytes per element for memory access cost (default 4 = fp32)\n");
  return 2;
}

std::string Shape3(const lutnas::Shape& s) { return s.ToString(); }

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  bool json = false;
  int bytes = 4;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    else if (!std::strcmp(argv[i], "--bytes") && i + 1 < argc) bytes = std::atoi(argv[++i]);
    else if (argv[i][0] == '-') return Usage();
    else path = argv[i];
  }
  if (path.empty() || bytes < 1 || bytes > 8) return Usage();
  auto arch = lutnas::LoadArchitectureFile(path);
  if (!arch.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(arch.status().message()).c_str());
    return 1;
  }
  if (auto st = lutnas::ValidateArchitecture(*arch); !st.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", path.c_str(), std::string(st.message()).c_str());
    return 1;
  }
  const auto nc = lutnas::AnalyzeNetwork(*arch, bytes);
  const std::string hash = lutnas::ArchHash(*arch);
  if (json) {
    std::string out = absl::StrFormat(
        "{\"name\": \"%s\", \"hash\": \"%s\", \"resolution\": %d, \"params\": %d, "
        "\"macs\": %d, \"mac_bytes\": %d, \"activations\": %d, "
        "\"bytes_per_element\": %d, \"blocks\": [",
        arch->name(), hash, arch->resolution(), nc.total.params, nc.total.macs,
        nc.total.mac_bytes, nc.total.activations, bytes);
    for (size_t i = 0; i < nc.blocks.size(); ++i) {
      const auto& b = nc.blocks[i];
      absl::StrAppendFormat(
          &out,
          "%s\n  {\"where\": \"%s\", \"type\": \"%s\", \"key\": \"%s\", \"in\": \"%s\", "
          "\"out\": \"%s\", \"params\": %d, \"macs\": %d, \"mac_bytes\": %d, "
          "\"activations\": %d}",
          i ? "," : "", b.where, b.type, b.key, Shape3(b.in), Shape3(b.out),
          b.cost.params, b.cost.macs, b.cost.mac_bytes, b.cost.activations);
    }
    out += "\n]}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%s  (hash %s, %dx%d input)\n", arch->name().c_str(), hash.c_str(),
              arch->resolution(), arch->resolution());
  std::printf("%-22s %-12s %-14s %-14s %12s %12s %12s\n", "where", "type", "in", "out",
              "params", "MMACs", "MAC KiB");
  for (const auto& b : nc.blocks)
    std::printf("%-22s %-12s %-14s %-14s %12lld %12.3f %12.1f\n", b.where.c_str(),
                b.type.c_str(), Shape3(b.in).c_str(), Shape3(b.out).c_str(),
                static_cast<long long>(b.cost.params), b.cost.macs / 1e6,
                b.cost.mac_bytes / 1024.0);
  std::printf("%-22s %-12s %-14s %-14s %12lld %12.3f %12.1f\n", "total", "", "", "",
              static_cast<long long>(nc.total.params), nc.total.macs / 1e6,
              nc.total.mac_bytes / 1024.0);
  std::printf("params %lld  MACs %.1f M  memory access %.2f MiB (%d B/elem)  activations %.2f M\n",
              static_cast<long long>(nc.total.params), nc.total.macs / 1e6,
              nc.total.mac_bytes / 1048576.0, bytes, nc.total.activations / 1e6);
  return 0;
}
