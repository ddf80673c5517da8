// libFuzzer target: table file import (CSV, JSON and OFA YAML); an accepted
// table must survive a CSV round trip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "latency_models/table_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 1 << 16) return 0;
  const char* formats[] = {"csv", "json", "ofa"};
  const std::string format = formats[data[0] % 3];
  const std::string content(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string> unmapped;
  auto t = lutnas::latency::ParseTable(content, format, "fuzz-hw", &unmapped);
  if (!t.ok()) return 0;
  auto back = lutnas::latency::ParseTableCsv(lutnas::latency::WriteTableCsv(*t), "fuzz-hw");
  if (!back.ok() || back->entries_size() != t->entries_size()) __builtin_trap();
  return 0;
}
