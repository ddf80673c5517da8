#include "server/fast_predict_service.h"

#include "core/fast_predict.h"
#include "server/grpc_status.h"

namespace lutnas::server {
namespace {

using grpc::ServerContext;
using grpc::Status;

class FastPredictServiceImpl final : public v1::FastPredictService::Service {
 public:
  explicit FastPredictServiceImpl(Core c) : c_(c), encodings_(c.jobs) {}

  Status DescribeEncoding(ServerContext*, const v1::EncodingRequest* r, v1::EncodingResponse* out) override {
    auto enc = encodings_.Get(r->space());
    if (!enc.ok()) return ToGrpc(enc.status());
    *out = (*enc)->Describe();
    return Status::OK;
  }

  Status PredictEncoded(
      ServerContext* ctx,
      grpc::ServerReaderWriter<v1::PredictEncodedResponse, v1::PredictEncodedRequest>* stream) override {
    v1::PredictEncodedRequest req;
    std::unique_ptr<core::EncodedStream> s;
    while (stream->Read(&req)) {
      if (ctx->IsCancelled()) return Status(grpc::StatusCode::CANCELLED, "cancelled");
      if (!s) {
        auto opened = core::EncodedStream::Open(&encodings_, c_.catalog, req);
        if (!opened.ok()) return ToGrpc(opened.status());
        s = std::move(*opened);
      }
      auto resp = s->Answer(req);
      if (!resp.ok()) return ToGrpc(resp.status());
      if (!stream->Write(*resp)) return Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    // Read() also ends at a message that does not parse: then nothing was answered.
    if (!s)
      return ToGrpc(absl::InvalidArgumentError("stream: no request arrived (or the first did not parse)"));
    return Status::OK;
  }

 private:
  Core c_;
  core::EncodingCache encodings_;  // shipped spaces do not change
};

}  // namespace

std::unique_ptr<grpc::Service> MakeFastPredictService(const Core& c) {
  return std::make_unique<FastPredictServiceImpl>(c);
}

}  // namespace lutnas::server
