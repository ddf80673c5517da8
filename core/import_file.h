// Reads a table-import file named in a request, confined to --import_dir.
// No handler can block on it: only regular files are read (FIFOs, devices
// and sockets are refused before any blocking open), the size is capped and
// the read has a deadline. Every path outside the directory gets the same
// answer whether or not it exists, so imports reveal nothing about the rest
// of the file system; a path with a NUL byte is refused (it would be cut).
#ifndef LUTNAS_CORE_IMPORT_FILE_H_
#define LUTNAS_CORE_IMPORT_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace lutnas::core {

struct ImportLimits {
  int64_t max_bytes = 64 << 20;  // --max_import_mb
  double deadline_s = 10;        // --import_deadline_s
};

// INVALID_ARGUMENT (NUL, empty, not a regular file), PERMISSION_DENIED
// (imports disabled, or outside --import_dir: one message for all such
// paths), NOT_FOUND (inside --import_dir but missing), RESOURCE_EXHAUSTED
// (larger than max_bytes), DEADLINE_EXCEEDED (read too slow). Errors name
// the request field "path".
absl::StatusOr<std::string> ReadImportFile(const std::string& import_dir, const std::string& path,
                                           const ImportLimits& limits);

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_IMPORT_FILE_H_
