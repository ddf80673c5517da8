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
    core::ResourceLimits& lim = *c_.limits;
    const auto cancelled = [ctx] { return ctx->IsCancelled(); };
    while (stream->Read(&req)) {
      if (ctx->IsCancelled()) return Status(grpc::StatusCode::CANCELLED, "cancelled");
      if (!s) {
        auto opened = core::EncodedStream::Open(&encodings_, c_.catalog, req, lim.max_response_bytes);
        if (!opened.ok()) return ToGrpc(opened.status());
        s = std::move(*opened);
      }
      // Each answer holds twice its bytes of --max_predict_mb (the message and
      // gRPC's serialized copy) until it is written, and one of
      // --max_predict_calls while it is computed.
      auto size = s->AnswerBytes(req);
      if (!size.ok()) return ToGrpc(size.status());
      core::Taken bytes(&lim.predict_bytes), slot(&lim.predict_calls);
      if (auto st = bytes.Acquire(2 * *size, "this PredictEncoded answer", lim.predict_wait_ms, cancelled);
          !st.ok())
        return ToGrpc(st);
      if (auto st = slot.Acquire(1, "this PredictEncoded answer", lim.predict_wait_ms, cancelled); !st.ok())
        return ToGrpc(st);
      auto resp = s->Answer(req);
      slot.Release();
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
