#include "core/fast_predict.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

#include "core/field_path.h"

namespace lutnas::core {
namespace {

using absl::StrCat;

constexpr size_t kMaxRows = 1 << 20;  // per message

template <typename T>
void PutBytes(const std::vector<T>& v, std::string* out) {
  static_assert(sizeof(T) == 8, "the wire format is 8-byte little-endian values");
  out->resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(&(*out)[0], v.data(), out->size());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const SpaceEncoding>> EncodingCache::Get(const std::string& name) {
  if (name.empty())
    return absl::InvalidArgumentError("space: a shipped space name (e.g. 'tiny') is required");
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
  }
  v1::SearchSpec spec;
  spec.set_space(name);
  auto space = jobs_->ResolveSpace(spec);
  if (!space.ok()) return space.status();
  auto enc = std::make_shared<const SpaceEncoding>(*space);
  const v1::EncodingResponse layout = enc->Describe();
  for (const auto& s : layout.slots())
    if (s.choices() > 256)
      return absl::InvalidArgumentError(
          StrCat("space: ", s.name(), " has ", s.choices(), " choices, more than one byte encodes"));
  std::lock_guard<std::mutex> l(mu_);
  cache_[name] = enc;
  return std::shared_ptr<const SpaceEncoding>(enc);
}

absl::StatusOr<std::unique_ptr<EncodedStream>> EncodedStream::Open(EncodingCache* encodings, Catalog* catalog,
                                                                   const v1::PredictEncodedRequest& first) {
  auto e = encodings->Get(first.space());
  if (!e.ok()) return e.status();
  std::unique_ptr<EncodedStream> s(new EncodedStream);
  s->enc_ = *e;
  if (first.hardware_size() > 16)
    return absl::InvalidArgumentError("hardware: at most 16 hardware names per stream");
  s->cost_ = first.cost();
  s->skip_ = first.skip_invalid();
  if (first.hardware_size() == 0 && !s->cost_)
    return absl::InvalidArgumentError("hardware: name at least one hardware, or ask for cost");
  std::vector<std::shared_ptr<const latency::LatencyPredictor>> hw;
  for (int i = 0; i < first.hardware_size(); ++i) {
    auto p = catalog->Get(first.hardware(i), 0);
    if (!p.ok()) return InField(p.status(), StrCat("hardware[", i, "]: "));
    hw.push_back(*p);
    s->versions_.push_back((*p)->table_version());
  }
  s->nh_ = static_cast<int>(hw.size());
  s->pred_ = std::make_unique<EncodedPredictor>(s->enc_, std::move(hw), s->cost_);
  return s;
}

absl::StatusOr<v1::PredictEncodedResponse> EncodedStream::Answer(const v1::PredictEncodedRequest& r) {
  if (!first_ && !r.space().empty() && r.space() != enc_->space().name())
    return absl::InvalidArgumentError(StrCat("space: the stream's first message chose '",
                                             enc_->space().name(), "', got '", r.space().substr(0, 64), "'"));
  const std::string& ch = r.choices();
  const size_t w = static_cast<size_t>(enc_->width());
  if (ch.size() % w != 0)
    return absl::InvalidArgumentError(StrCat("choices: ", ch.size(),
                                             " bytes is not a whole number of rows of ", w, " bytes (space '",
                                             enc_->space().name(), "')"));
  const size_t n = ch.size() / w;
  if (n > kMaxRows)
    return absl::InvalidArgumentError(StrCat("choices: at most ", kMaxRows, " rows per message, got ", n));
  std::vector<double> lat(n * nh_, 0.0);
  std::vector<int64_t> params, macs, mac_bytes;
  if (cost_) {
    params.assign(n, 0);
    macs.assign(n, 0);
    mac_bytes.assign(n, 0);
  }
  int invalid = 0;
  auto st = pred_->Predict(reinterpret_cast<const uint8_t*>(ch.data()), n, done_, skip_, lat.data(),
                           cost_ ? params.data() : nullptr, cost_ ? macs.data() : nullptr,
                           cost_ ? mac_bytes.data() : nullptr, &invalid);
  if (!st.ok()) return st;
  first_ = false;
  v1::PredictEncodedResponse resp;
  resp.set_count(static_cast<int>(n));
  PutBytes(lat, resp.mutable_latency_ms());
  if (cost_) {
    PutBytes(params, resp.mutable_params());
    PutBytes(macs, resp.mutable_macs());
    PutBytes(mac_bytes, resp.mutable_mac_bytes());
  }
  resp.set_invalid(invalid);
  if (done_ == 0)
    for (int64_t v : versions_) resp.add_table_versions(v);
  done_ += static_cast<int64_t>(n);
  return resp;
}

}  // namespace lutnas::core
