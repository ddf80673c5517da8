// Client side of TableService.Upload, used by lutnas-profile --server.
// Links grpc++ (only this file and server/ do).
#ifndef LUTNAS_TOOLS_UPLOAD_H_
#define LUTNAS_TOOLS_UPLOAD_H_

#include <string>

#include "absl/status/statusor.h"

#include "lutnas/v1/table.pb.h"

namespace lutnas::tools {

// Streams `table` to the daemon at `target` in batches; returns the stored
// version's info. `token` is sent as a bearer token when non-empty.
absl::StatusOr<v1::TableInfo> UploadTable(const std::string& target, const v1::LatencyTable& table,
                                          const std::string& token = "");

}  // namespace lutnas::tools

#endif  // LUTNAS_TOOLS_UPLOAD_H_
