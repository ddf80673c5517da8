// Store's private state and the helpers its two source files share.
// Private to db/.
#ifndef LUTNAS_DB_STORE_IMPL_H_
#define LUTNAS_DB_STORE_IMPL_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/message_lite.h"

#include "db/sqlite.h"
#include "db/store.h"

namespace lutnas::db {

// The one connection and the mutex that serialises every use of it.
struct Store::Impl {
  Impl(std::string p, internal::Connection c) : path(std::move(p)), conn(std::move(c)) {}

  const std::string path;
  absl::Mutex mu;
  internal::Connection conn ABSL_GUARDED_BY(mu);
};

namespace internal {

// Milliseconds since the Unix epoch.
int64_t NowUnixMs();

// A user-supplied string for an error message: escaped and shortened.
std::string Quote(absl::string_view s);

// Parses a stored blob; DATA_LOSS naming `what` when it does not parse.
absl::Status ParseBlob(absl::string_view blob, absl::string_view what, google::protobuf::MessageLite* msg);

// Serializes for storage; INTERNAL when the message cannot be encoded.
absl::StatusOr<std::string> Serialize(const google::protobuf::MessageLite& msg, absl::string_view what);

}  // namespace internal
}  // namespace lutnas::db

#endif  // LUTNAS_DB_STORE_IMPL_H_
