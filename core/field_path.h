// Field paths in error messages. A message starts with the path of the field
// it is about ("arch.stem[0].conv.out_channels: must be > 0, got -3"); a
// caller that knows where a callee's field sits adds the prefix at the call
// (InField(st, "spec.")). Nothing reads message text to decide anything.
#ifndef LUTNAS_CORE_FIELD_PATH_H_
#define LUTNAS_CORE_FIELD_PATH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace lutnas::core {

// The status with `prefix` before its message (same code); OK stays OK.
inline absl::Status InField(const absl::Status& s, absl::string_view prefix) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

template <typename T>
absl::StatusOr<T> InField(absl::StatusOr<T> v, absl::string_view prefix) {
  if (v.ok()) return v;
  return InField(v.status(), prefix);
}

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_FIELD_PATH_H_
