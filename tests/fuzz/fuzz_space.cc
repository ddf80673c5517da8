// libFuzzer target: search-space JSON -> parse, Create; valid spaces are
// sampled, and small ones enumerated, with every sample validated.
#include <cstddef>
#include <cstdint>
#include <string>

#include "space/space.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  auto proto = lutnas::space::ParseSpaceJson(std::string(reinterpret_cast<const char*>(data), size));
  if (!proto.ok()) return 0;
  auto space = lutnas::space::Space::Create(*proto);
  if (!space.ok()) return 0;
  lutnas::base::Rng rng(size);
  for (int i = 0; i < 4; ++i) {
    auto g = (*space)->Sample(rng);
    if (!(*space)->CheckGenotype(g).ok()) __builtin_trap();
    auto arch = (*space)->ToArchitecture(g);
    if (!lutnas::space::ValidateArchitecture(arch).ok()) __builtin_trap();
  }
  double combos = 1;
  for (int i = 0; i < (*space)->num_stages(); ++i) {
    const auto& s = (*space)->stage(i);
    combos *= s.types.size() * s.widths.size() * s.kernels.size() * s.expansions.size();
  }
  if (combos * (*space)->resolutions().size() < 5000) {
    for (const auto& k : (*space)->EnumerateKeys())
      if (!lutnas::space::ParseKey(k.key).ok()) __builtin_trap();
  }
  return 0;
}
