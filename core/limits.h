// Daemon-wide resource bounds (lutnasd --max_uploads, --max_upload_mb,
// --max_watch_streams, --max_predict_calls, --max_predict_mb,
// --max_response_mb; the job queue is bounded in jobs::JobManager). A
// request over a bound is refused with RESOURCE_EXHAUSTED naming the flag.
#ifndef LUTNAS_CORE_LIMITS_H_
#define LUTNAS_CORE_LIMITS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

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

// A bounded count whose takers wait for room (a counting semaphore), for
// heavy predictions: PredictBatch calls and PredictEncoded answers take one
// unit of max_predict_calls while they compute; an encoded answer takes
// twice its bytes of max_predict_mb (the message and gRPC's serialized copy)
// until it is written. Thread-safe.
class Semaphore {
 public:
  Semaphore(std::string flag, std::string unit, int64_t limit)
      : flag_(std::move(flag)), unit_(std::move(unit)), limit_(limit) {}
  // Takes n units, waiting while others hold them, up to `wait_ms` (polling
  // `cancelled`, which may be empty). RESOURCE_EXHAUSTED "<flag>: ..." when n
  // alone passes the limit or the wait ran out; CANCELLED when cancelled.
  absl::Status Acquire(int64_t n, const std::string& what, int64_t wait_ms,
                       const std::function<bool()>& cancelled);
  void Release(int64_t n);
  int64_t value() const;
  int64_t limit() const { return limit_; }

 private:
  const std::string flag_, unit_;
  const int64_t limit_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // value_ fell
  int64_t value_ ABSL_GUARDED_BY(mu_) = 0;
};

// Releases what it took when it goes out of scope.
class Taken {
 public:
  explicit Taken(Semaphore* s) : s_(s) {}
  ~Taken() { Release(); }
  Taken(const Taken&) = delete;
  Taken& operator=(const Taken&) = delete;
  absl::Status Acquire(int64_t n, const std::string& what, int64_t wait_ms,
                       const std::function<bool()>& cancelled) {
    absl::Status st = s_->Acquire(n, what, wait_ms, cancelled);
    if (st.ok()) n_ += n;
    return st;
  }
  void Release() {
    if (n_) s_->Release(n_);
    n_ = 0;
  }

 private:
  Semaphore* s_;
  int64_t n_ = 0;
};

// RESOURCE_EXHAUSTED "max_response_mb: <what> would make a response of X MiB,
// over the limit of L MiB (lutnasd --max_response_mb); <advice>" when bytes
// passes limit; OK otherwise.
absl::Status CheckResponseBytes(int64_t bytes, int64_t limit, const std::string& what,
                                const std::string& advice);

struct ResourceLimits {
  Gauge uploads{"max_uploads", "uploads", 4};
  Gauge upload_bytes{"max_upload_mb", "bytes", int64_t{512} << 20};
  Gauge watches{"max_watch_streams", "Watch streams", 256};
  // Heavy predictions: PredictBatch calls and PredictEncoded answers
  // computing at once; bytes of encoded answers being built or written;
  // the largest response either may build; how long a call waits for room.
  Semaphore predict_calls{"max_predict_calls", "heavy predictions", 4};
  Semaphore predict_bytes{"max_predict_mb", "bytes", int64_t{256} << 20};
  int64_t max_response_bytes = int64_t{32} << 20;
  int64_t predict_wait_ms = 10000;
  ResourceLimits() = default;
  ResourceLimits(int max_uploads, int64_t max_upload_bytes, int max_watch_streams, int max_predict_calls = 4,
                 int64_t max_predict_bytes = int64_t{256} << 20,
                 int64_t max_response_bytes_ = int64_t{32} << 20)
      : uploads("max_uploads", "uploads", max_uploads),
        upload_bytes("max_upload_mb", "bytes", max_upload_bytes),
        watches("max_watch_streams", "Watch streams", max_watch_streams),
        predict_calls("max_predict_calls", "heavy predictions", max_predict_calls),
        predict_bytes("max_predict_mb", "bytes", max_predict_bytes),
        max_response_bytes(max_response_bytes_) {}
};

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_LIMITS_H_
