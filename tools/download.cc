#include "tools/download.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>

#include "absl/strings/str_cat.h"

#include "lutnas/v1/service.grpc.pb.h"

namespace lutnas::tools {
namespace {

void Prepare(grpc::ClientContext* ctx, const std::string& token) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  const char* env_token = std::getenv("LUTNAS_TOKEN");
  const std::string tok = !token.empty() ? token : (env_token ? env_token : "");
  if (!tok.empty()) ctx->AddMetadata("authorization", "Bearer " + tok);
}

absl::Status FromGrpc(const grpc::Status& st, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                      absl::StrCat(what, ": ", st.error_message()));
}

}  // namespace

absl::StatusOr<v1::LatencyTable> DownloadTable(const std::string& target, const std::string& hardware,
                                               int64_t version, const std::string& token) {
  auto stub = v1::TableService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  Prepare(&ctx, token);
  v1::ExportTableRequest req;
  req.set_hardware(hardware);
  req.set_version(version);
  auto reader = stub->Export(&ctx, req);
  v1::LatencyTable t;
  v1::ExportTableChunk chunk;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first) *t.mutable_info() = chunk.info();
    first = false;
    for (auto& e : *chunk.mutable_entries()) *t.add_entries() = std::move(e);
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) return FromGrpc(st, absl::StrCat("export of ", hardware, "'s table from ", target));
  return t;
}

absl::StatusOr<v1::Hardware> GetHardware(const std::string& target, const std::string& hardware,
                                         const std::string& token) {
  auto stub = v1::HardwareService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  Prepare(&ctx, token);
  v1::GetHardwareRequest req;
  req.set_name(hardware);
  v1::Hardware hw;
  grpc::Status st = stub->Get(&ctx, req, &hw);
  if (!st.ok()) return FromGrpc(st, absl::StrCat("hardware '", hardware, "' on ", target));
  return hw;
}

}  // namespace lutnas::tools
