#include "search/checkpoint.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "space/arch_util.h"
#include "base/status_macros.h"

namespace lutnas::search {
namespace {

using absl::StrCat;

constexpr char kMagic[] = "lutnas-engine-checkpoint v1";
constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
constexpr int64_t kMaxArchive = 1'000'000'000;
constexpr int64_t kMaxLatencies = 1024;

std::string Hex(uint64_t u) { return absl::StrFormat("%016x", u); }
std::string HexD(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return Hex(u);
}

bool ParseHex(absl::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  for (char c : s)
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  return absl::SimpleHexAtoi(s, out);
}
bool ParseHexD(absl::string_view s, double* out) {
  uint64_t u;
  if (!ParseHex(s, &u)) return false;
  std::memcpy(out, &u, sizeof u);
  return true;
}
// Plain decimal (optional '-') within [lo, hi].
bool ParseInt(absl::string_view s, int64_t lo, int64_t hi, int64_t* out) {
  if (s.empty() || !(absl::ascii_isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-'))
    return false;
  return absl::SimpleAtoi(s, out) && *out >= lo && *out <= hi;
}

// Line-by-line reader; errors name the line (1 = the header).
class LineReader {
 public:
  LineReader(std::vector<absl::string_view> lines, int first_line)
      : lines_(std::move(lines)), first_line_(first_line) {}
  absl::Status Bad(absl::string_view what) const {
    return absl::DataLossError(StrCat("checkpoint: line ", first_line_ + pos_ - 1, ": ", what));
  }
  // The next line split on spaces; its first field must be `tag`.
  absl::StatusOr<std::vector<absl::string_view>> Next(absl::string_view tag) {
    if (pos_ >= lines_.size())
      return absl::DataLossError(StrCat("checkpoint: truncated, expected '", tag, "'"));
    std::vector<absl::string_view> f = absl::StrSplit(lines_[pos_++], ' ');
    if (f[0] != tag) return Bad(StrCat("expected '", tag, "'"));
    return f;
  }
  bool AtEnd() const { return pos_ >= lines_.size(); }

 private:
  std::vector<absl::string_view> lines_;
  int first_line_;
  size_t pos_ = 0;
};

// "<tag> <n> <i_1> ... <i_n>", every index < archive_size.
absl::Status ReadList(LineReader& in, absl::string_view tag, size_t archive_size,
                      std::vector<int>* out) {
  ASSIGN_OR_RETURN(auto f, in.Next(tag));
  int64_t n = 0;
  if (f.size() < 2 || !ParseInt(f[1], 0, kMaxArchive, &n) ||
      f.size() != 2 + static_cast<size_t>(n))
    return in.Bad(StrCat("bad ", tag));
  for (int64_t j = 0; j < n; ++j) {
    int64_t x = 0;
    if (!ParseInt(f[2 + j], 0, static_cast<int64_t>(archive_size) - 1, &x))
      return in.Bad(StrCat("bad ", tag, " index"));
    out->push_back(static_cast<int>(x));
  }
  return absl::OkStatus();
}

absl::Status ReadEntry(LineReader& in, CheckpointEntry* e) {
  ASSIGN_OR_RETURN(auto f, in.Next("i"));
  int64_t gen = 0, nlat = 0;
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (f.size() < 7 || f[1].empty() || !ParseInt(f[2], 0, kMaxInt, &gen) ||
      !ParseHexD(f[3], &e->eval.score) || !ParseInt(f[4], kMin, kMax, &e->eval.params) ||
      !ParseInt(f[5], kMin, kMax, &e->eval.macs) || !ParseInt(f[6], 0, kMaxLatencies, &nlat) ||
      f.size() != 7 + static_cast<size_t>(nlat))
    return in.Bad("bad individual");
  e->key = std::string(f[1]);
  e->generation = static_cast<int>(gen);
  e->eval.latency_ms.resize(nlat);
  for (int64_t j = 0; j < nlat; ++j)
    if (!ParseHexD(f[7 + j], &e->eval.latency_ms[j])) return in.Bad("bad latency");
  return absl::OkStatus();
}

}  // namespace

std::string EncodeCheckpoint(const CheckpointData& d) {
  std::string s = StrCat(kMagic, "\n");
  absl::StrAppend(&s, "fingerprint ", Hex(d.fingerprint), "\n");
  absl::StrAppend(&s, "rng ", Hex(d.rng[0]), " ", Hex(d.rng[1]), " ", Hex(d.rng[2]), " ",
                  Hex(d.rng[3]), "\n");
  absl::StrAppend(&s, "counters ", d.steps_done, " ", d.children_started, " ", d.rejected, " ",
                  d.batch_active ? 1 : 0, "\n");
  absl::StrAppend(&s, "archive ", d.archive.size(), "\n");
  for (const auto& e : d.archive) {
    absl::StrAppend(&s, "i ", e.key, " ", e.generation, " ", HexD(e.eval.score), " ",
                    e.eval.params, " ", e.eval.macs, " ", e.eval.latency_ms.size());
    for (double l : e.eval.latency_ms) absl::StrAppend(&s, " ", HexD(l));
    s += "\n";
  }
  for (const auto& [tag, v] : {std::make_pair("population", &d.population),
                               std::make_pair("batch", &d.batch),
                               std::make_pair("report", &d.report)}) {
    absl::StrAppend(&s, tag, " ", v->size());
    for (int i : *v) absl::StrAppend(&s, " ", i);
    s += "\n";
  }
  absl::StrAppend(&s, "elapsed ", HexD(d.elapsed_s), "\n");
  absl::StrAppend(&s, "end ", Hex(space::Fnv1a64(s)), "\n");
  return s;
}

absl::StatusOr<CheckpointData> DecodeCheckpoint(const std::string& text) {
  auto bad = [](absl::string_view what) {
    return absl::DataLossError(StrCat("checkpoint: ", what));
  };
  if (!absl::StartsWith(text, StrCat(kMagic, "\n")))
    return bad("not a lutnas engine checkpoint (bad header)");
  if (text.back() != '\n') return bad("truncated (no final newline)");
  const size_t last_nl = text.rfind('\n', text.size() - 2);
  if (last_nl == std::string::npos) return bad("truncated (no end line)");
  const absl::string_view end_line(text.data() + last_nl + 1, text.size() - last_nl - 2);
  uint64_t sum = 0;
  if (!absl::StartsWith(end_line, "end ") || !ParseHex(end_line.substr(4), &sum))
    return bad("truncated (no end line)");
  const absl::string_view body(text.data(), last_nl + 1);
  if (sum != space::Fnv1a64(std::string(body))) return bad("checksum mismatch (corrupted or truncated)");

  std::vector<absl::string_view> lines = absl::StrSplit(body, '\n');
  lines.pop_back();             // empty, after the final newline
  lines.erase(lines.begin());  // the header, checked above
  LineReader in(std::move(lines), /*first_line=*/2);
  CheckpointData d;
  ASSIGN_OR_RETURN(auto f, in.Next("fingerprint"));
  if (f.size() != 2 || !ParseHex(f[1], &d.fingerprint)) return in.Bad("bad fingerprint");

  ASSIGN_OR_RETURN(f, in.Next("rng"));
  if (f.size() != 5) return in.Bad("bad rng");
  for (int i = 0; i < 4; ++i)
    if (!ParseHex(f[i + 1], &d.rng[i])) return in.Bad("bad rng");
  if ((d.rng[0] | d.rng[1] | d.rng[2] | d.rng[3]) == 0) return in.Bad("rng state is all zero");

  ASSIGN_OR_RETURN(f, in.Next("counters"));
  int64_t v[4];
  if (f.size() != 5 || !ParseInt(f[1], 0, kMaxInt, &v[0]) || !ParseInt(f[2], 0, kMaxInt, &v[1]) ||
      !ParseInt(f[3], 0, std::numeric_limits<int64_t>::max(), &v[2]) ||
      !ParseInt(f[4], 0, 1, &v[3]))
    return in.Bad("bad counters");
  d.steps_done = static_cast<int>(v[0]);
  d.children_started = static_cast<int>(v[1]);
  d.rejected = v[2];
  d.batch_active = v[3] == 1;

  ASSIGN_OR_RETURN(f, in.Next("archive"));
  int64_t n = 0;
  if (f.size() != 2 || !ParseInt(f[1], 0, kMaxArchive, &n)) return in.Bad("bad archive size");
  d.archive.resize(std::min<int64_t>(n, 1 << 20));  // grows as lines really come
  for (int64_t i = 0; i < n; ++i) {
    if (i >= static_cast<int64_t>(d.archive.size())) d.archive.emplace_back();
    RETURN_IF_ERROR(ReadEntry(in, &d.archive[i]));
  }
  RETURN_IF_ERROR(ReadList(in, "population", d.archive.size(), &d.population));
  RETURN_IF_ERROR(ReadList(in, "batch", d.archive.size(), &d.batch));
  RETURN_IF_ERROR(ReadList(in, "report", d.archive.size(), &d.report));

  ASSIGN_OR_RETURN(f, in.Next("elapsed"));
  if (f.size() != 2 || !ParseHexD(f[1], &d.elapsed_s) || !std::isfinite(d.elapsed_s) ||
      d.elapsed_s < 0)
    return in.Bad("bad elapsed");
  if (!in.AtEnd()) return in.Bad("unexpected data before the end line");
  return d;
}

}  // namespace lutnas::search
