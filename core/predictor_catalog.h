// Latency predictors per (hardware, table version), built from the store on
// first use and cached. Thread-safe. A hardware with no table gets a
// spec-only (roofline) predictor whose answers say "estimated from spec".
#ifndef LUTNAS_CORE_PREDICTOR_CATALOG_H_
#define LUTNAS_CORE_PREDICTOR_CATALOG_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

#include "core/storage.h"
#include "latency_models/lut.h"

namespace lutnas::core {

class Catalog {
 public:
  explicit Catalog(Storage* store) : store_(store) {}

  // version 0: the latest table (or spec only when there is none).
  // NOT_FOUND for unknown hardware or version.
  absl::StatusOr<std::shared_ptr<const latency::LatencyPredictor>> Get(const std::string& hardware,
                                                                       int64_t version = 0);
  // Drops cached predictors of `hardware` (after uploads, corrections, deletes).
  void Invalidate(const std::string& hardware);

 private:
  absl::StatusOr<std::shared_ptr<const latency::LatencyPredictor>> Cached(const std::string& hardware,
                                                                          int64_t version);
  Storage* store_;
  std::mutex load_mu_;  // one load at a time: no stampede after an upload
  std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const latency::LatencyPredictor>> cache_;
  std::map<std::string, int64_t> latest_;  // hardware -> latest version (0: none)
};

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_PREDICTOR_CATALOG_H_
