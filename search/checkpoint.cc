#include "search/checkpoint.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#include "base/status_macros.h"
#include "search/constraints.h"
#include "space/arch_util.h"

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
  if (s.empty() || !(absl::ascii_isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-')) return false;
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
absl::Status ReadList(LineReader& in, absl::string_view tag, size_t archive_size, std::vector<int>* out) {
  ASSIGN_OR_RETURN(auto f, in.Next(tag));
  int64_t n = 0;
  if (f.size() < 2 || !ParseInt(f[1], 0, kMaxArchive, &n) || f.size() != 2 + static_cast<size_t>(n))
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
  if (f.size() < 7 || f[1].empty() || !ParseInt(f[2], 0, kMaxInt, &gen) || !ParseHexD(f[3], &e->eval.score) ||
      !ParseInt(f[4], kMin, kMax, &e->eval.params) || !ParseInt(f[5], kMin, kMax, &e->eval.macs) ||
      !ParseInt(f[6], 0, kMaxLatencies, &nlat) || f.size() != 7 + static_cast<size_t>(nlat))
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
  absl::StrAppend(&s, "rng ", Hex(d.rng[0]), " ", Hex(d.rng[1]), " ", Hex(d.rng[2]), " ", Hex(d.rng[3]),
                  "\n");
  absl::StrAppend(&s, "counters ", d.steps_done, " ", d.children_started, " ", d.rejected, " ",
                  d.batch_active ? 1 : 0, "\n");
  absl::StrAppend(&s, "archive ", d.archive.size(), "\n");
  for (const auto& e : d.archive) {
    absl::StrAppend(&s, "i ", e.key, " ", e.generation, " ", HexD(e.eval.score), " ", e.eval.params, " ",
                    e.eval.macs, " ", e.eval.latency_ms.size());
    for (double l : e.eval.latency_ms) absl::StrAppend(&s, " ", HexD(l));
    s += "\n";
  }
  for (const auto& [tag, v] : {std::make_pair("population", &d.population), std::make_pair("batch", &d.batch),
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
  auto bad = [](absl::string_view what) { return absl::DataLossError(StrCat("checkpoint: ", what)); };
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
  lines.pop_back();            // empty, after the final newline
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
      !ParseInt(f[3], 0, std::numeric_limits<int64_t>::max(), &v[2]) || !ParseInt(f[4], 0, 1, &v[3]))
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
  if (f.size() != 2 || !ParseHexD(f[1], &d.elapsed_s) || !std::isfinite(d.elapsed_s) || d.elapsed_s < 0)
    return in.Bad("bad elapsed");
  if (!in.AtEnd()) return in.Bad("unexpected data before the end line");
  return d;
}

uint64_t JobFingerprint(const space::Space& space, const EngineOptions& o) {
  std::string s = StrCat("alg=", o.algorithm, ";P=", o.population, ";S=", o.sample_size, ";G=", o.generations,
                         ";seed=", o.seed, ";budgets=");
  for (double b : o.latency_budgets_ms) absl::StrAppend(&s, HexD(b), ",");
  absl::StrAppend(&s, ";max_params=", o.max_params, ";max_macs=", o.max_macs, ";soft=", o.soft,
                  ";w=", HexD(o.soft_weight), ";external=", o.external, ";repair=", o.repair_tries,
                  ";space=", space.name(), ";r=", absl::StrJoin(space.resolutions(), ","),
                  ";stem=", space.stem_out_channels());
  for (int i = 0; i < space.num_stages(); ++i) {
    const auto& c = space.stage(i);
    absl::StrAppend(&s, ";s", i, ":", absl::StrJoin(c.types, ","), "/", absl::StrJoin(c.widths, ","), "/",
                    absl::StrJoin(c.depths, ","), "/", absl::StrJoin(c.kernels, ","), "/",
                    absl::StrJoin(c.expansions, ","), "/", c.stride, "/", c.se, "/", c.act);
  }
  return space::Fnv1a64(s);
}

absl::StatusOr<std::vector<Individual>> CheckCheckpoint(const space::Space& space, const EngineOptions& o,
                                                        CheckpointData* d) {
  const uint64_t fingerprint = JobFingerprint(space, o);
  if (d->fingerprint != fingerprint)
    return absl::FailedPreconditionError(StrCat("checkpoint: made by a different job (fingerprint ",
                                                Hex(d->fingerprint), ", this job's is ", Hex(fingerprint),
                                                "): the space or the options differ"));
  auto bad = [](absl::string_view what) { return absl::DataLossError(StrCat("checkpoint: ", what)); };
  const int P = o.population, G = o.generations;
  if (d->steps_done > G + 1 || d->children_started > P) return bad("counters out of range for this job");

  const size_t nb = o.latency_budgets_ms.size();
  std::vector<Individual> archive;
  archive.reserve(d->archive.size());
  std::unordered_set<std::string> keys;
  for (auto& e : d->archive) {
    if (e.generation > G) return bad(StrCat("'", e.key, "': generation out of range"));
    if (nb > 0 && e.eval.latency_ms.size() != nb)
      return bad(StrCat("'", e.key, "': ", e.eval.latency_ms.size(), " latencies, expected ", nb));
    auto g = space::Genotype::Decode(e.key);
    if (!g.ok() || g->Encode() != e.key || static_cast<int>(g->stages.size()) != space.num_stages())
      return bad(StrCat("bad genotype '", e.key, "'"));
    if (!keys.insert(e.key).second) return bad(StrCat("duplicate genotype '", e.key, "'"));
    Individual ind;
    ind.genotype = *std::move(g);
    ind.key = std::move(e.key);
    ind.eval = std::move(e.eval);
    ind.generation = e.generation;
    archive.push_back(std::move(ind));
  }
  d->archive.clear();

  // Cross-field consistency.
  const Constraints constraints(o);
  auto final = [&](int i) { return constraints.IsFinal(archive[i].eval); };
  const bool done = d->steps_done > G;
  const auto& population = d->population;
  if (static_cast<int>(population.size()) > P || static_cast<int>(d->batch.size()) > P)
    return bad("population or batch larger than the population size");
  if (!d->batch_active && !d->batch.empty()) return bad("batch members without an open batch");
  if (d->batch_active && (done || d->children_started == 0))
    return bad("open batch in a finished generation");
  if (done && (d->children_started != 0 || !d->report.empty()))
    return bad("finished job with a generation in progress");
  if (!population.empty() && o.algorithm != v1::RANDOM && static_cast<int>(population.size()) != P)
    return bad(StrCat("population has ", population.size(), " members, expected ", P));
  // Empty exactly until the initial population's batch has been closed.
  const bool init_open = d->steps_done == 0 && (d->children_started == 0 || d->batch_active);
  if (population.empty() != init_open)
    return bad(population.empty() ? "empty population after the initial one was built"
                                  : "population before the initial one was built");
  if (d->steps_done == 0 && d->children_started != 0 && d->children_started != P)
    return bad("partial initial population");
  for (int i : population) {
    if (!final(i)) return bad("population member without a score");
    if (!space.CheckGenotype(archive[i].genotype).ok())
      return bad(StrCat("population member '", archive[i].key, "' is not in the space"));
  }
  for (int i : d->batch)
    if (!space.CheckGenotype(archive[i].genotype).ok())
      return bad(StrCat("batch member '", archive[i].key, "' is not in the space"));
  for (int i : d->report)
    if (!final(i)) return bad("reported individual without a score");
  return archive;
}

}  // namespace lutnas::search
