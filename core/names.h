// Names a request chooses (Architecture.name, an inline space's name, which
// becomes every candidate's name, a job's name) travel into logs, tables and
// comments of generated code (latency_models/export_pytorch.h escapes them
// there too): here they are held to one line of bounded length. And the
// "did you mean" of an unknown name.
#ifndef LUTNAS_CORE_NAMES_H_
#define LUTNAS_CORE_NAMES_H_

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace lutnas::core {

// A space's or a job's name. An architecture's name may be longer: a
// candidate's is its space's name, ':' and its genotype.
inline constexpr size_t kMaxNameBytes = 200;
inline constexpr size_t kMaxArchNameBytes = 4096;

// INVALID_ARGUMENT "<field>: ..." for a name longer than max_bytes or
// holding a control character (a newline, a tab, DEL, ...); OK otherwise
// (printable UTF-8 is fine).
inline absl::Status CheckName(absl::string_view name, absl::string_view field,
                              size_t max_bytes = kMaxNameBytes) {
  if (name.size() > max_bytes)
    return absl::InvalidArgumentError(absl::StrCat(field, ": longer than ", max_bytes, " bytes (",
                                                   name.size(), "); a name is one short line"));
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f)
      return absl::InvalidArgumentError(absl::StrCat(field, ": control character 0x",
                                                     absl::Hex(c, absl::kZeroPad2), " at byte ", i,
                                                     "; a name is one line of printable text"));
  }
  return absl::OkStatus();
}

// "; did you mean 'host-cpu'?" for the candidate closest to `name`
// (case-insensitive edit distance at most a third of its length, at least
// 1), "" when none is that close.
inline std::string DidYouMean(absl::string_view name, const std::vector<std::string>& candidates) {
  auto lower = [](absl::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  const std::string a = lower(name.substr(0, 256));
  std::string best;
  size_t best_d = std::max<size_t>(1, a.size() / 3) + 1;
  for (const auto& cand : candidates) {
    const std::string b = lower(cand);
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    if (row[b.size()] < best_d) {
      best_d = row[b.size()];
      best = cand;
    }
  }
  return best.empty() ? "" : absl::StrCat("; did you mean '", best, "'?");
}

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_NAMES_H_
