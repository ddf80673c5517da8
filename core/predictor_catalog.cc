#include "core/predictor_catalog.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

#include "core/names.h"

namespace lutnas::core {

using absl::StrCat;

// The cached predictor, or NOT_FOUND when it must be loaded.
absl::StatusOr<std::shared_ptr<const latency::LatencyPredictor>> Catalog::Cached(const std::string& hardware,
                                                                                 int64_t version) {
  std::lock_guard<std::mutex> l(mu_);
  if (version == 0) {
    auto it = latest_.find(hardware);
    if (it == latest_.end()) return absl::NotFoundError("not cached");
    version = it->second;
  }
  auto it = cache_.find({hardware, version});
  if (it == cache_.end()) return absl::NotFoundError("not cached");
  return it->second;
}

absl::StatusOr<std::shared_ptr<const latency::LatencyPredictor>> Catalog::Get(const std::string& hardware,
                                                                              int64_t version) {
  if (auto c = Cached(hardware, version); c.ok()) return c;
  // Loads are serialised and re-check the cache, so the callers that all
  // miss right after an upload wait for one load instead of each doing it.
  std::lock_guard<std::mutex> load(load_mu_);
  if (auto c = Cached(hardware, version); c.ok()) return c;
  auto hw = store_->GetHardware(hardware);
  if (absl::IsNotFound(hw.status())) {
    std::vector<std::string> names;
    if (auto all = store_->ListHardware(); all.ok())
      for (const auto& h : *all) names.push_back(h.name());
    return absl::NotFoundError(StrCat(hw.status().message(), DidYouMean(hardware, names)));
  }
  if (!hw.ok()) return hw.status();
  std::shared_ptr<const latency::LatencyPredictor> p;
  int64_t resolved = version;
  auto table = store_->GetTable(hardware, version);
  if (table.ok()) {
    auto made = latency::LatencyPredictor::Create(*hw, &*table);
    if (!made.ok()) return made.status();
    p = *made;
    resolved = table->info().version();
  } else if (table.status().code() == absl::StatusCode::kNotFound && version == 0) {
    auto made = latency::LatencyPredictor::Create(*hw, nullptr);
    if (!made.ok()) return made.status();
    p = *made;
    resolved = 0;
  } else {
    return table.status();
  }
  std::lock_guard<std::mutex> l(mu_);
  if (version == 0) latest_[hardware] = resolved;
  cache_[{hardware, resolved}] = p;
  return p;
}

void Catalog::Invalidate(const std::string& hardware) {
  std::lock_guard<std::mutex> l(mu_);
  latest_.erase(hardware);
  for (auto it = cache_.begin(); it != cache_.end();)
    it = it->first.first == hardware ? cache_.erase(it) : std::next(it);
}

}  // namespace lutnas::core
