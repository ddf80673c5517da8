#include "server/auth.h"

#include <grpcpp/security/auth_metadata_processor.h>

namespace lutnas::server {
namespace {

// Constant-time comparison: the token must not leak through timing.
bool SameToken(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() != b.size();
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

class TokenProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenProcessor(std::string token) : expected_("Bearer " + std::move(token)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& md, grpc::AuthContext*, OutputMetadata* consumed,
                       OutputMetadata*) override {
    auto path = md.find(":path");
    if (path != md.end() &&
        std::string(path->second.data(), path->second.size()).rfind("/grpc.health.v1.Health/", 0) == 0)
      return grpc::Status::OK;
    auto it = md.find("authorization");
    if (it == md.end())
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing bearer token (authorization metadata)");
    if (!SameToken(std::string(it->second.data(), it->second.size()), expected_))
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid bearer token");
    consumed->insert({"authorization", std::string(it->second.data(), it->second.size())});
    return grpc::Status::OK;
  }

 private:
  std::string expected_;
};

}  // namespace

void RequireBearerToken(const std::shared_ptr<grpc::ServerCredentials>& creds, const std::string& token) {
  creds->SetAuthMetadataProcessor(std::make_shared<TokenProcessor>(token));
}

}  // namespace lutnas::server
