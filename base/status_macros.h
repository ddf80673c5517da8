// Small Status helpers: Abseil 20220623 ships none.
#ifndef LUTNAS_BASE_STATUS_MACROS_H_
#define LUTNAS_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LUTNAS_CONCAT_INNER(a, b) a##b
#define LUTNAS_CONCAT(a, b) LUTNAS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)    \
  do {                           \
    ::absl::Status _st = (expr); \
    if (!_st.ok()) return _st;   \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(*tmp)

#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(LUTNAS_CONCAT(_statusor_, __LINE__), lhs, expr)

#endif  // LUTNAS_BASE_STATUS_MACROS_H_
