// Reading whole files with a size cap, for every layer above.
#ifndef LUTNAS_BASE_FILE_H_
#define LUTNAS_BASE_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace lutnas::base {

inline constexpr size_t kDefaultMaxFileBytes = 4 << 20;

// The file's bytes; NOT_FOUND when it cannot be opened, INVALID_ARGUMENT
// (naming the path and the cap) when it is larger than max_bytes.
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             size_t max_bytes = kDefaultMaxFileBytes);

}  // namespace lutnas::base

#endif  // LUTNAS_BASE_FILE_H_
