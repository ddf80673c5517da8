#include "tools/upload.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>

#include "absl/strings/str_cat.h"

#include "lutnas/v1/service.grpc.pb.h"

namespace lutnas::tools {

absl::StatusOr<v1::TableInfo> UploadTable(const std::string& target, const v1::LatencyTable& table,
                                          const std::string& token) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = v1::TableService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  const char* env_token = std::getenv("LUTNAS_TOKEN");
  const std::string tok = !token.empty() ? token : (env_token ? env_token : "");
  if (!tok.empty()) ctx.AddMetadata("authorization", "Bearer " + tok);
  v1::TableInfo info;
  auto writer = stub->Upload(&ctx, &info);
  v1::UploadTableRequest first;
  *first.mutable_info() = table.info();
  bool ok = writer->Write(first);
  v1::UploadTableRequest batch;
  for (int i = 0; ok && i < table.entries_size(); ++i) {
    *batch.add_entries() = table.entries(i);
    if (batch.entries_size() == 500) {
      ok = writer->Write(batch);
      batch.Clear();
    }
  }
  batch.set_last(true);  // the daemon stores the table only after this
  if (ok) ok = writer->Write(batch);
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  if (!st.ok())
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                        absl::StrCat("upload to ", target, ": ", st.error_message()));
  return info;
}

}  // namespace lutnas::tools
