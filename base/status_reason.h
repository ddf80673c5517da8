// A machine-readable reason on a status (a payload), for a caller that must
// tell one outcome from others of the same code: it asks HasReason, never
// the message text, which is for people and may change.
#ifndef LUTNAS_BASE_STATUS_REASON_H_
#define LUTNAS_BASE_STATUS_REASON_H_

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace lutnas::base {

inline constexpr char kReasonTypeUrl[] = "type.lutnas.dev/reason";

inline absl::Status WithReason(absl::Status s, absl::string_view reason) {
  if (!s.ok()) s.SetPayload(kReasonTypeUrl, absl::Cord(reason));
  return s;
}

inline bool HasReason(const absl::Status& s, absl::string_view reason) {
  auto p = s.GetPayload(kReasonTypeUrl);
  return p.has_value() && *p == reason;
}

}  // namespace lutnas::base

#endif  // LUTNAS_BASE_STATUS_REASON_H_
