// Client side of TableService.Export, used by lutnas-profile table --arch
// --server to fetch the table version it extends. Links grpc++.
#ifndef LUTNAS_TOOLS_DOWNLOAD_H_
#define LUTNAS_TOOLS_DOWNLOAD_H_

#include <string>

#include "absl/status/statusor.h"

#include "lutnas/v1/table.pb.h"

namespace lutnas::tools {

// The stored table of `hardware` (`version` 0: the latest). NOT_FOUND when
// the daemon has none. `token` (or $LUTNAS_TOKEN) is sent as a bearer token.
absl::StatusOr<v1::LatencyTable> DownloadTable(const std::string& target, const std::string& hardware,
                                               int64_t version = 0, const std::string& token = "");

// The registered hardware entry (NOT_FOUND when it is not registered).
absl::StatusOr<v1::Hardware> GetHardware(const std::string& target, const std::string& hardware,
                                         const std::string& token = "");

}  // namespace lutnas::tools

#endif  // LUTNAS_TOOLS_DOWNLOAD_H_
