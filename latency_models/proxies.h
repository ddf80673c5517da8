// Training-free accuracy proxies computed with LibTorch on the built network
// (no torch in this header): Zen-score (Lin et al. 2021) and NASWOT
// (Mellor et al. 2021). Deterministic for a seed. Thread-safe.
#ifndef LUTNAS_LATENCY_MODELS_PROXIES_H_
#define LUTNAS_LATENCY_MODELS_PROXIES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

#include "lutnas/v1/arch.pb.h"

namespace lutnas::latency {

struct ProxyOptions {
  int resolution = 64;  // input side used for the proxy (not the arch's)
  int batch = 8;
  uint64_t seed = 0;
};

absl::StatusOr<double> ZenScore(const v1::Architecture& arch, const ProxyOptions& opts);
absl::StatusOr<double> NaswotScore(const v1::Architecture& arch, const ProxyOptions& opts);

// Memoises proxy values by (proxy, arch hash, options). Thread-safe.
class ProxyCache {
 public:
  enum class Kind { kZen, kNaswot };
  explicit ProxyCache(size_t max_entries = 1 << 20);
  ~ProxyCache();
  ProxyCache(const ProxyCache&) = delete;
  ProxyCache& operator=(const ProxyCache&) = delete;
  absl::StatusOr<double> Get(Kind kind, const v1::Architecture& arch, const ProxyOptions& opts);
  size_t size() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_PROXIES_H_
