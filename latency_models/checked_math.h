// Overflow-safe cost arithmetic. Costs (MACs, params, bytes) are
// non-negative int64 counts; a product or sum that does not fit saturates at
// kCostOverflow instead of wrapping to a negative number, so a saturated
// network can never pass a max_macs/max_params cap, and CheckCostsFit()
// refuses it where networks are validated.
#ifndef LUTNAS_LATENCY_MODELS_CHECKED_MATH_H_
#define LUTNAS_LATENCY_MODELS_CHECKED_MATH_H_

#include <cstdint>
#include <limits>

namespace lutnas::latency {

inline constexpr int64_t kCostOverflow = std::numeric_limits<int64_t>::max();

// a * b for a, b >= 0; kCostOverflow when it does not fit (or an input is
// already saturated or negative).
inline int64_t SatMul(int64_t a, int64_t b) {
  if (a < 0 || b < 0 || a == kCostOverflow || b == kCostOverflow) return a == 0 || b == 0 ? 0 : kCostOverflow;
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return kCostOverflow;
  return r;
}

// a + b for a, b >= 0; kCostOverflow when it does not fit.
inline int64_t SatAdd(int64_t a, int64_t b) {
  if (a < 0 || b < 0 || a == kCostOverflow || b == kCostOverflow) return kCostOverflow;
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return kCostOverflow;
  return r;
}

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_CHECKED_MATH_H_
