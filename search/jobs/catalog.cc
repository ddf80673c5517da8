#include "search/jobs/catalog.h"

#include "absl/strings/str_cat.h"

namespace lutnas::jobs {

absl::StatusOr<std::shared_ptr<const LatencyPredictor>> Catalog::Get(const std::string& hardware,
                                                                     int64_t version) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (version == 0) {
      auto it = latest_.find(hardware);
      if (it != latest_.end()) version = it->second;
    }
    if (version != 0 || latest_.count(hardware)) {
      auto it = cache_.find({hardware, version});
      if (it != cache_.end()) return it->second;
    }
  }
  auto hw = store_->GetHardware(hardware);
  if (!hw.ok()) return hw.status();
  std::shared_ptr<const LatencyPredictor> p;
  int64_t resolved = version;
  auto table = store_->GetTable(hardware, version);
  if (table.ok()) {
    auto made = LatencyPredictor::Create(*hw, &*table);
    if (!made.ok()) return made.status();
    p = *made;
    resolved = table->info().version();
  } else if (table.status().code() == absl::StatusCode::kNotFound && version == 0) {
    auto made = LatencyPredictor::Create(*hw, nullptr);
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

}  // namespace lutnas::jobs
