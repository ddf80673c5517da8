// Bearer-token check on every call, as a gRPC AuthMetadataProcessor on the
// TLS credentials: a call without "authorization: Bearer <token>" fails with
// UNAUTHENTICATED before any service code runs. Health checks stay open.
#ifndef LUTNAS_SERVER_AUTH_H_
#define LUTNAS_SERVER_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace lutnas::server {

void RequireBearerToken(const std::shared_ptr<grpc::ServerCredentials>& creds, const std::string& token);

}  // namespace lutnas::server

#endif  // LUTNAS_SERVER_AUTH_H_
