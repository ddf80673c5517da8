// The one place absl::Status becomes grpc::Status (codes map one to one).
#ifndef LUTNAS_SERVER_GRPC_STATUS_H_
#define LUTNAS_SERVER_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace lutnas::server {

inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace lutnas::server

#endif  // LUTNAS_SERVER_GRPC_STATUS_H_
