// Daemon-wide resource bounds (lutnasd --max_uploads, --max_upload_mb,
// --max_watch_streams; the job queue is bounded in jobs::JobManager). A
// request over a bound is refused with RESOURCE_EXHAUSTED naming the flag.
#ifndef LUTNAS_CORE_LIMITS_H_
#define LUTNAS_CORE_LIMITS_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace lutnas::core {

// A count bounded by `limit`; thread-safe.
class Gauge {
 public:
  Gauge(std::string flag, std::string unit, int64_t limit)
      : flag_(std::move(flag)), unit_(std::move(unit)), limit_(limit) {}
  // Adds n, or RESOURCE_EXHAUSTED "<flag>: ..." when that would pass the limit.
  absl::Status Add(int64_t n, const std::string& what);
  void Sub(int64_t n) { value_.fetch_sub(n); }
  int64_t value() const { return value_.load(); }
  int64_t limit() const { return limit_; }

 private:
  std::string flag_, unit_;
  int64_t limit_;
  std::atomic<int64_t> value_{0};
};

// Subtracts what it added when it goes out of scope.
class Held {
 public:
  explicit Held(Gauge* g) : g_(g) {}
  ~Held() {
    if (n_) g_->Sub(n_);
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  absl::Status Add(int64_t n, const std::string& what) {
    absl::Status s = g_->Add(n, what);
    if (s.ok()) n_ += n;
    return s;
  }

 private:
  Gauge* g_;
  int64_t n_ = 0;
};

struct ResourceLimits {
  Gauge uploads{"max_uploads", "uploads", 4};
  Gauge upload_bytes{"max_upload_mb", "bytes", int64_t{512} << 20};
  Gauge watches{"max_watch_streams", "Watch streams", 256};
  ResourceLimits() = default;
  ResourceLimits(int max_uploads, int64_t max_upload_bytes, int max_watch_streams)
      : uploads("max_uploads", "uploads", max_uploads),
        upload_bytes("max_upload_mb", "bytes", max_upload_bytes),
        watches("max_watch_streams", "Watch streams", max_watch_streams) {}
};

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_LIMITS_H_
