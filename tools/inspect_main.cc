// lutnas-inspect: costs and code without a daemon.
//   lutnas-inspect ARCH.json [--json] [--bytes N] [--pytorch]
//       validates an architecture, prints its per-block cost table (MACs,
//       params, memory access cost), or its PyTorch code
//   lutnas-inspect --space SPACE.json --keys     every latency-table key
//   lutnas-inspect --keys FILE|- [--bytes N]     JSON line of costs per key
//   lutnas-inspect --key KEY --pytorch           PyTorch code of one key
//   lutnas-inspect key-grammar                   the key grammar as JSON (from the
//       block traits table; clients/python/lutnas/key_grammar.json is its output)
//   lutnas-inspect --space SPACE.json --sample N [--seed S]
//       N distinct random networks of the space (canonical), as a JSON array
//       of {"hash", "arch"}, drawn as lutnas-profile validate draws them
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "base/rng.h"
#include "latency_models/cost.h"
#include "latency_models/export_pytorch.h"
#include "space/arch_util.h"
#include "space/space.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: lutnas-inspect ARCH.json [--json] [--bytes N] [--pytorch]\n"
               "       lutnas-inspect --space SPACE.json --keys\n"
               "       lutnas-inspect --keys FILE|- [--bytes N]\n"
               "       lutnas-inspect --key KEY --pytorch\n"
               "       lutnas-inspect --space SPACE.json --sample N [--seed S]\n"
               "       lutnas-inspect key-grammar\n"
               "  --bytes N  bytes per element for memory access cost (default 4 = fp32)\n");
  return 2;
}

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
  return 1;
}

// One JSON line of costs per key read from `in`.
int KeyCosts(std::istream& in, int bytes) {
  std::string key;
  while (std::getline(in, key)) {
    if (key.empty() || key[0] == '#') continue;
    auto k = lutnas::space::ParseKey(key);
    if (!k.ok()) return Fail(k.status());
    const lutnas::latency::Graph g = lutnas::latency::LowerKey(*k);
    const lutnas::latency::Cost c = lutnas::latency::GraphCost(g, bytes);
    const lutnas::space::Shape out = g.values[g.output];
    std::printf(
        "{\"key\": \"%s\", \"type\": \"%s\", \"in\": [%d, %d, %d], \"out\": [%d, %d, %d], "
        "\"params\": %lld, \"macs\": %lld, \"mac_bytes\": %lld, \"activations\": %lld}\n",
        key.c_str(), k->is_head ? "head" : key.substr(0, key.find(':')).c_str(), k->in.c, k->in.h, k->in.w,
        out.c, out.h, out.w, static_cast<long long>(c.params), static_cast<long long>(c.macs),
        static_cast<long long>(c.mac_bytes), static_cast<long long>(c.activations));
  }
  return 0;
}

std::string Shape3(const lutnas::space::Shape& s) { return s.ToString(); }

// N distinct random networks of a space as a JSON array (validate-external).
int SampleNetworks(const lutnas::space::Space& space, int n, uint64_t seed) {
  lutnas::base::Rng rng(seed);
  std::set<std::string> seen;
  std::string out = "[";
  int got = 0;
  for (int tries = 0; got < n && tries < n * 50; ++tries) {
    auto arch = lutnas::space::Canonicalize(space.ToArchitecture(space.Sample(rng)));
    const std::string hash = lutnas::space::ArchHash(arch);
    if (!seen.insert(hash).second) continue;
    absl::StrAppend(&out, got ? ",\n" : "\n", "{\"hash\": \"", hash,
                    "\", \"arch\": ", lutnas::space::ArchitectureToJson(arch), "}");
    ++got;
  }
  out += "\n]\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && !std::strcmp(argv[1], "key-grammar")) {
    std::fputs(lutnas::space::KeyGrammarJson().c_str(), stdout);
    return 0;
  }
  std::string path, space, keys, key;
  bool json = false, pytorch = false, list_keys = false;
  int bytes = 4, sample = 0;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json"))
      json = true;
    else if (!std::strcmp(argv[i], "--pytorch"))
      pytorch = true;
    else if (!std::strcmp(argv[i], "--bytes") && i + 1 < argc)
      bytes = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--space") && i + 1 < argc)
      space = argv[++i];
    else if (!std::strcmp(argv[i], "--key") && i + 1 < argc)
      key = argv[++i];
    else if (!std::strcmp(argv[i], "--sample") && i + 1 < argc)
      sample = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--keys")) {
      if (i + 1 < argc && argv[i + 1][0] != '-')
        keys = argv[++i];
      else if (i + 1 < argc && !std::strcmp(argv[i + 1], "-"))
        keys = argv[++i];
      else
        list_keys = true;
    } else if (argv[i][0] == '-')
      return Usage();
    else
      path = argv[i];
  }
  if (bytes < 1 || bytes > 8 || sample < 0 || sample > 100000) return Usage();
  if (!space.empty()) {
    auto sp = lutnas::space::Space::Load(space);
    if (!sp.ok()) return Fail(sp.status());
    if (sample > 0) return SampleNetworks(**sp, sample, seed);
    for (const auto& k : (*sp)->EnumerateKeys()) std::printf("%s\n", k.key.c_str());
    return 0;
  }
  if (!keys.empty()) {
    if (keys == "-") return KeyCosts(std::cin, bytes);
    std::ifstream f(keys);
    if (!f) return Fail(absl::NotFoundError(keys + ": cannot open file"));
    return KeyCosts(f, bytes);
  }
  if (!key.empty()) {
    const std::string code = lutnas::latency::ExportKeyPyTorch(key);
    if (code.empty()) return Fail(lutnas::space::ParseKey(key).status());
    std::fputs(code.c_str(), stdout);
    return 0;
  }
  if (path.empty() || list_keys) return Usage();
  auto arch = lutnas::space::LoadArchitectureFile(path);
  if (!arch.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(arch.status().message()).c_str());
    return 1;
  }
  if (auto st = lutnas::space::ValidateArchitecture(*arch); !st.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", path.c_str(), std::string(st.message()).c_str());
    return 1;
  }
  if (pytorch) {
    std::fputs(lutnas::latency::ExportPyTorch(*arch).c_str(), stdout);
    return 0;
  }
  const auto nc = lutnas::latency::AnalyzeNetwork(*arch, bytes);
  const std::string hash = lutnas::space::ArchHash(*arch);
  if (json) {
    std::string out = absl::StrFormat(
        "{\"name\": \"%s\", \"hash\": \"%s\", \"resolution\": %d, \"params\": %d, "
        "\"macs\": %d, \"mac_bytes\": %d, \"activations\": %d, "
        "\"bytes_per_element\": %d, \"blocks\": [",
        arch->name(), hash, arch->resolution(), nc.total.params, nc.total.macs, nc.total.mac_bytes,
        nc.total.activations, bytes);
    for (size_t i = 0; i < nc.blocks.size(); ++i) {
      const auto& b = nc.blocks[i];
      absl::StrAppendFormat(&out,
                            "%s\n  {\"where\": \"%s\", \"type\": \"%s\", \"key\": \"%s\", \"in\": \"%s\", "
                            "\"out\": \"%s\", \"params\": %d, \"macs\": %d, \"mac_bytes\": %d, "
                            "\"activations\": %d}",
                            i ? "," : "", b.where, b.type, b.key, Shape3(b.in), Shape3(b.out), b.cost.params,
                            b.cost.macs, b.cost.mac_bytes, b.cost.activations);
    }
    out += "\n]}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%s  (hash %s, %dx%d input)\n", arch->name().c_str(), hash.c_str(), arch->resolution(),
              lutnas::space::InputShape(*arch).h);  // width x height
  std::printf("%-22s %-12s %-14s %-14s %12s %12s %12s\n", "where", "type", "in", "out", "params", "MMACs",
              "MAC KiB");
  for (const auto& b : nc.blocks)
    std::printf("%-22s %-12s %-14s %-14s %12lld %12.3f %12.1f\n", b.where.c_str(), b.type.c_str(),
                Shape3(b.in).c_str(), Shape3(b.out).c_str(), static_cast<long long>(b.cost.params),
                b.cost.macs / 1e6, b.cost.mac_bytes / 1024.0);
  std::printf("%-22s %-12s %-14s %-14s %12lld %12.3f %12.1f\n", "total", "", "", "",
              static_cast<long long>(nc.total.params), nc.total.macs / 1e6, nc.total.mac_bytes / 1024.0);
  std::printf("params %lld  MACs %.1f M  memory access %.2f MiB (%d B/elem)  activations %.2f M\n",
              static_cast<long long>(nc.total.params), nc.total.macs / 1e6, nc.total.mac_bytes / 1048576.0,
              bytes, nc.total.activations / 1e6);
  return 0;
}
