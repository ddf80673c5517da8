#include "server/fast_predict_service.h"

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/encoded_predict.h"
#include "server/grpc_status.h"

namespace lutnas::server {
namespace {

using absl::StrCat;
using grpc::ServerContext;
using grpc::Status;

constexpr size_t kMaxRows = 1 << 20;  // per message

template <typename T>
void PutBytes(const std::vector<T>& v, std::string* out) {
  static_assert(sizeof(T) == 8, "the wire format is 8-byte little-endian values");
  out->resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(&(*out)[0], v.data(), out->size());
}

class FastPredictServiceImpl final : public v1::FastPredictService::Service {
 public:
  explicit FastPredictServiceImpl(Core c) : c_(c) {}

  Status DescribeEncoding(ServerContext*, const v1::EncodingRequest* r, v1::EncodingResponse* out) override {
    auto enc = Encoding(r->space());
    if (!enc.ok()) return ToGrpc(enc.status());
    *out = (*enc)->Describe();
    return Status::OK;
  }

  Status PredictEncoded(ServerContext* ctx,
                        grpc::ServerReaderWriter<v1::PredictEncodedResponse, v1::PredictEncodedRequest>* stream) override {
    v1::PredictEncodedRequest req;
    std::shared_ptr<const core::SpaceEncoding> enc;
    std::unique_ptr<core::EncodedPredictor> pred;
    std::vector<int64_t> versions;
    bool cost = false, skip = false;
    int nh = 0;
    int64_t done = 0;
    std::vector<double> lat;
    std::vector<int64_t> params, macs, mac_bytes;
    while (stream->Read(&req)) {
      if (ctx->IsCancelled()) return Status(grpc::StatusCode::CANCELLED, "cancelled");
      if (!pred) {
        auto e = Encoding(req.space());
        if (!e.ok()) return ToGrpc(e.status());
        enc = *e;
        if (req.hardware_size() > 16)
          return ToGrpc(absl::InvalidArgumentError("hardware: at most 16 hardware names per stream"));
        cost = req.cost();
        skip = req.skip_invalid();
        if (req.hardware_size() == 0 && !cost)
          return ToGrpc(absl::InvalidArgumentError("hardware: name at least one hardware, or ask for cost"));
        std::vector<std::shared_ptr<const latency::LatencyPredictor>> hw;
        for (int i = 0; i < req.hardware_size(); ++i) {
          auto p = c_.catalog->Get(req.hardware(i), 0);
          if (!p.ok())
            return ToGrpc(absl::Status(p.status().code(), StrCat("hardware[", i, "]: ", p.status().message())));
          hw.push_back(*p);
          versions.push_back((*p)->table_version());
        }
        nh = static_cast<int>(hw.size());
        pred = std::make_unique<core::EncodedPredictor>(enc, std::move(hw), cost);
      } else if (!req.space().empty() && req.space() != enc->space().name()) {
        return ToGrpc(absl::InvalidArgumentError(StrCat("space: the stream's first message chose '",
                                                        enc->space().name(), "', got '",
                                                        req.space().substr(0, 64), "'")));
      }
      const std::string& ch = req.choices();
      const size_t w = static_cast<size_t>(enc->width());
      if (ch.size() % w != 0)
        return ToGrpc(absl::InvalidArgumentError(StrCat("choices: ", ch.size(),
                                                        " bytes is not a whole number of rows of ", w, " bytes (space '",
                                                        enc->space().name(), "')")));
      const size_t n = ch.size() / w;
      if (n > kMaxRows)
        return ToGrpc(absl::InvalidArgumentError(StrCat("choices: at most ", kMaxRows, " rows per message, got ", n)));
      lat.assign(n * nh, 0.0);
      if (cost) {
        params.assign(n, 0);
        macs.assign(n, 0);
        mac_bytes.assign(n, 0);
      }
      int invalid = 0;
      auto st = pred->Predict(reinterpret_cast<const uint8_t*>(ch.data()), n, done, skip, lat.data(),
                              cost ? params.data() : nullptr, cost ? macs.data() : nullptr,
                              cost ? mac_bytes.data() : nullptr, &invalid);
      if (!st.ok()) return ToGrpc(st);
      v1::PredictEncodedResponse resp;
      resp.set_count(static_cast<int>(n));
      PutBytes(lat, resp.mutable_latency_ms());
      if (cost) {
        PutBytes(params, resp.mutable_params());
        PutBytes(macs, resp.mutable_macs());
        PutBytes(mac_bytes, resp.mutable_mac_bytes());
      }
      resp.set_invalid(invalid);
      if (done == 0)
        for (int64_t v : versions) resp.add_table_versions(v);
      done += static_cast<int64_t>(n);
      if (!stream->Write(resp)) return Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    // Read() also ends at a message that does not parse: then nothing was answered.
    if (!pred)
      return ToGrpc(absl::InvalidArgumentError("stream: no request arrived (or the first did not parse)"));
    return Status::OK;
  }

 private:
  absl::StatusOr<std::shared_ptr<const core::SpaceEncoding>> Encoding(const std::string& name) {
    if (name.empty()) return absl::InvalidArgumentError("space: a shipped space name (e.g. 'tiny') is required");
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = cache_.find(name);
      if (it != cache_.end()) return it->second;
    }
    v1::SearchSpec spec;
    spec.set_space(name);
    auto space = c_.jobs->ResolveSpace(spec);
    if (!space.ok()) return space.status();
    auto enc = std::make_shared<const core::SpaceEncoding>(*space);
    const v1::EncodingResponse layout = enc->Describe();
    for (const auto& s : layout.slots())
      if (s.choices() > 256)
        return absl::InvalidArgumentError(StrCat("space: ", s.name(), " has ", s.choices(),
                                                 " choices, more than one byte encodes"));
    std::lock_guard<std::mutex> l(mu_);
    cache_[name] = enc;
    return std::shared_ptr<const core::SpaceEncoding>(enc);
  }

  Core c_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const core::SpaceEncoding>> cache_;  // shipped spaces do not change
};

}  // namespace

std::unique_ptr<grpc::Service> MakeFastPredictService(const Core& c) {
  return std::make_unique<FastPredictServiceImpl>(c);
}

}  // namespace lutnas::server
