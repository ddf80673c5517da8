#include "core/limits.h"

#include "absl/strings/str_cat.h"

namespace lutnas::core {

absl::Status Gauge::Add(int64_t n, const std::string& what) {
  const int64_t now = value_.fetch_add(n) + n;
  if (now <= limit_) return absl::OkStatus();
  value_.fetch_sub(n);
  return absl::ResourceExhaustedError(absl::StrCat(flag_, ": ", what, " would make ", now, " ", unit_,
                                                   " in use, over the limit of ", limit_, " (lutnasd --",
                                                   flag_, "); retry later"));
}

}  // namespace lutnas::core
