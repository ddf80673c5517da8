#include "core/fast_predict.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

#include "base/status_macros.h"
#include "core/field_path.h"
#include "core/limits.h"

namespace lutnas::core {
namespace {

using absl::StrCat;

constexpr size_t kMaxRows = 1 << 20;  // per message

// Copies v's values to `out` (the wire format: 8-byte little-endian, this
// host's order).
template <typename T>
void PutBytes(const std::vector<T>& v, char* out) {
  static_assert(sizeof(T) == 8, "the wire format is 8-byte little-endian values");
  if (!v.empty()) std::memcpy(out, v.data(), v.size() * sizeof(T));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const SpaceEncoding>> EncodingCache::Get(const std::string& name) {
  if (name.empty())
    return absl::InvalidArgumentError("space: a shipped space name (e.g. 'tiny') is required");
  {
    absl::MutexLock l(&mu_);
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
  absl::MutexLock l(&mu_);
  cache_[name] = enc;
  return std::shared_ptr<const SpaceEncoding>(enc);
}

absl::StatusOr<std::unique_ptr<EncodedStream>> EncodedStream::Open(EncodingCache* encodings, Catalog* catalog,
                                                                   const v1::PredictEncodedRequest& first,
                                                                   int64_t max_response_bytes) {
  auto e = encodings->Get(first.space());
  if (!e.ok()) return e.status();
  std::unique_ptr<EncodedStream> s(new EncodedStream);
  s->enc_ = *e;
  s->max_response_bytes_ = max_response_bytes;
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

absl::StatusOr<int64_t> EncodedStream::AnswerBytes(const v1::PredictEncodedRequest& r) const {
  const std::string& ch = r.choices();
  const size_t w = static_cast<size_t>(enc_->width());
  if (ch.size() % w != 0)
    return absl::InvalidArgumentError(StrCat("choices: ", ch.size(),
                                             " bytes is not a whole number of rows of ", w, " bytes (space '",
                                             enc_->space().name(), "')"));
  const size_t n = ch.size() / w;
  if (n > kMaxRows)
    return absl::InvalidArgumentError(StrCat("choices: at most ", kMaxRows, " rows per message, got ", n));
  const int64_t per_row = 8 * (nh_ + (cost_ ? 3 : 0));
  const int64_t bytes = static_cast<int64_t>(n) * per_row;
  RETURN_IF_ERROR(CheckResponseBytes(
      bytes, max_response_bytes_,
      StrCat("choices: ", n, " rows x ", nh_, " hardware", cost_ ? " with costs" : ""),
      StrCat("send at most ", std::max<int64_t>(1, max_response_bytes_ / per_row), " rows per message")));
  return bytes;
}

absl::StatusOr<v1::PredictEncodedResponse> EncodedStream::Answer(const v1::PredictEncodedRequest& r) {
  if (!first_ && !r.space().empty() && r.space() != enc_->space().name())
    return absl::InvalidArgumentError(StrCat("space: the stream's first message chose '",
                                             enc_->space().name(), "', got '", r.space().substr(0, 64), "'"));
  RETURN_IF_ERROR(AnswerBytes(r).status());
  const size_t w = static_cast<size_t>(enc_->width());
  const size_t n = r.choices().size() / w;
  const auto* rows = reinterpret_cast<const uint8_t*>(r.choices().data());
  v1::PredictEncodedResponse resp;
  // Each field is sized once and filled chunk by chunk: the answer plus one
  // chunk is all this message holds (not a second copy of the answer).
  std::string* lat_out = resp.mutable_latency_ms();
  lat_out->resize(n * nh_ * sizeof(double));
  std::string *params_out = nullptr, *macs_out = nullptr, *mac_bytes_out = nullptr;
  if (cost_) {
    (params_out = resp.mutable_params())->resize(n * sizeof(int64_t));
    (macs_out = resp.mutable_macs())->resize(n * sizeof(int64_t));
    (mac_bytes_out = resp.mutable_mac_bytes())->resize(n * sizeof(int64_t));
  }
  constexpr size_t kChunk = 1 << 16;
  std::vector<double> lat;
  std::vector<int64_t> params, macs, mac_bytes;
  int invalid = 0;
  for (size_t off = 0; off < n; off += kChunk) {
    const size_t m = std::min(kChunk, n - off);
    lat.assign(m * nh_, 0.0);
    if (cost_) {
      params.assign(m, 0);
      macs.assign(m, 0);
      mac_bytes.assign(m, 0);
    }
    int chunk_invalid = 0;
    auto st = pred_->Predict(rows + off * w, m, done_ + static_cast<int64_t>(off), skip_, lat.data(),
                             cost_ ? params.data() : nullptr, cost_ ? macs.data() : nullptr,
                             cost_ ? mac_bytes.data() : nullptr, &chunk_invalid);
    if (!st.ok()) return st;
    invalid += chunk_invalid;
    PutBytes(lat, &(*lat_out)[off * nh_ * sizeof(double)]);
    if (cost_) {
      PutBytes(params, &(*params_out)[off * sizeof(int64_t)]);
      PutBytes(macs, &(*macs_out)[off * sizeof(int64_t)]);
      PutBytes(mac_bytes, &(*mac_bytes_out)[off * sizeof(int64_t)]);
    }
  }
  first_ = false;
  resp.set_count(static_cast<int>(n));
  resp.set_invalid(invalid);
  if (done_ == 0)
    for (int64_t v : versions_) resp.add_table_versions(v);
  done_ += static_cast<int64_t>(n);
  return resp;
}

}  // namespace lutnas::core
