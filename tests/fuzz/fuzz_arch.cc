// libFuzzer target: architecture JSON -> parse, validate; valid ones are
// canonicalised, hashed, lowered and costed (nothing may crash or hang).
#include <cstddef>
#include <cstdint>
#include <string>

#include "latency_models/cost.h"
#include "space/arch_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  auto arch = lutnas::space::ParseArchitectureJson(std::string(reinterpret_cast<const char*>(data), size));
  if (!arch.ok()) return 0;
  if (!lutnas::space::ValidateArchitecture(*arch).ok()) return 0;
  const auto canon = lutnas::space::Canonicalize(*arch);
  if (lutnas::space::ArchHash(canon) != lutnas::space::ArchHash(*arch)) __builtin_trap();
  // Bound the work: huge-but-valid networks are fine, just not to cost here.
  const auto sites = lutnas::space::ListBlocks(canon);
  int64_t elems = 0;
  for (const auto& s : sites) elems += static_cast<int64_t>(s.out.c) * s.out.h * s.out.w;
  if (elems < (int64_t{1} << 28)) (void)lutnas::latency::AnalyzeNetwork(canon);
  return 0;
}
