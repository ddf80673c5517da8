#include "core/limits.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace lutnas::core {

absl::Status Gauge::Add(int64_t n, const std::string& what) {
  const int64_t now = value_.fetch_add(n) + n;
  if (now <= limit_) return absl::OkStatus();
  value_.fetch_sub(n);
  return absl::ResourceExhaustedError(absl::StrCat(flag_, ": ", what, " would make ", now, " ", unit_,
                                                   " in use, over the limit of ", limit_, " (lutnasd --",
                                                   flag_, "); retry later"));
}

absl::Status Semaphore::Acquire(int64_t n, const std::string& what, int64_t wait_ms,
                                const std::function<bool()>& cancelled) {
  if (n > limit_)
    return absl::ResourceExhaustedError(absl::StrCat(flag_, ": ", what, " needs ", n, " ", unit_,
                                                     ", more than the limit of ", limit_, " (lutnasd --",
                                                     flag_, ")"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  absl::MutexLock l(&mu_);
  while (value_ + n > limit_) {
    if (cancelled && cancelled())
      return absl::CancelledError("cancelled while waiting for a prediction slot");
    if (std::chrono::steady_clock::now() >= deadline)
      return absl::ResourceExhaustedError(absl::StrCat(
          flag_, ": ", what, " waited ", wait_ms / 1000.0, " s for ", n, " ", unit_, " while others held ",
          value_, " of the limit of ", limit_, " (lutnasd --", flag_, "); retry later"));
    cv_.WaitWithTimeout(&mu_, absl::Milliseconds(50));  // and look at `cancelled` again
  }
  value_ += n;
  return absl::OkStatus();
}

void Semaphore::Release(int64_t n) {
  {
    absl::MutexLock l(&mu_);
    value_ -= n;
  }
  cv_.SignalAll();
}

int64_t Semaphore::value() const {
  absl::MutexLock l(&mu_);
  return value_;
}

absl::Status CheckResponseBytes(int64_t bytes, int64_t limit, const std::string& what,
                                const std::string& advice) {
  if (bytes <= limit) return absl::OkStatus();
  constexpr double kMiB = 1 << 20;
  return absl::ResourceExhaustedError(absl::StrFormat(
      "max_response_mb: %s would make a response of %.1f MiB, over the limit of %.1f MiB (lutnasd "
      "--max_response_mb); %s",
      what, bytes / kMiB, limit / kMiB, advice));
}

}  // namespace lutnas::core
