#include "base/file.h"

#include <fstream>

#include "absl/strings/str_cat.h"

namespace lutnas::base {

absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::string data;
  char buf[65536];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    data.append(buf, f.gcount());
    if (data.size() > max_bytes)
      return absl::InvalidArgumentError(absl::StrCat(path, ": file larger than ", max_bytes, " bytes"));
  }
  return data;
}

}  // namespace lutnas::base
