// Store: generations (checkpoint + candidates + Pareto flags) and the
// candidate queries.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "base/status_macros.h"
#include "db/sqlite.h"
#include "db/store.h"
#include "db/store_impl.h"

namespace lutnas::db {

using internal::InTransaction;
using internal::ParseBlob;
using internal::Quote;
using internal::Serialize;
using internal::Statement;
using internal::TxMode;

namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

constexpr char kCandidateColumns[] =
    "c.id, c.job_id, c.arch_hash, c.generation, c.score, c.params, c.macs, "
    "c.mac_bytes, c.feasible, c.pareto, c.genotype, c.arch, c.latency";

// ---------------------------------------------------------------- writing

absl::Status ValidateCandidates(int64_t job_id, const std::vector<v1::Candidate>& candidates) {
  for (size_t i = 0; i < candidates.size(); ++i) {
    const v1::Candidate& c = candidates[i];
    const std::string field = absl::StrCat("candidates[", i, "]");
    if (c.arch_hash().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".arch_hash: must be set"));
    }
    if (c.job_id() != 0 && c.job_id() != job_id) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".job_id: must be 0 or ", job_id, ", got ", c.job_id()));
    }
    std::unordered_set<std::string_view> hardware;
    for (int k = 0; k < c.latency_size(); ++k) {
      const std::string& hw = c.latency(k).hardware();
      if (hw.empty() || !hardware.insert(hw).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".latency[", k, "].hardware: must be set and unique, got ", Quote(hw)));
      }
    }
  }
  return absl::OkStatus();
}

// Serialized columns of one candidate, computed before the lock is taken.
struct EncodedCandidate {
  std::string arch;
  std::string latency;
};

absl::StatusOr<std::vector<EncodedCandidate>> Encode(const std::vector<v1::Candidate>& candidates) {
  std::vector<EncodedCandidate> out;
  out.reserve(candidates.size());
  for (const v1::Candidate& c : candidates) {
    v1::PredictResponse latency;
    *latency.mutable_predictions() = c.latency();
    EncodedCandidate e;
    ASSIGN_OR_RETURN(e.arch, Serialize(c.arch(), "candidate arch"));
    ASSIGN_OR_RETURN(e.latency, Serialize(latency, "candidate latency"));
    out.push_back(std::move(e));
  }
  return out;
}

absl::Status SaveCheckpoint(sqlite3* db, int64_t job_id, const std::string& checkpoint,
                            const std::string& progress) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db,
                                                      "UPDATE jobs SET checkpoint = ?, progress = ?, "
                                                      "updated_unix_ms = ? WHERE id = ?"));
  stmt.BindBlob(1, checkpoint).BindBlob(2, progress).BindInt(3, internal::NowUnixMs()).BindInt(4, job_id);
  RETURN_IF_ERROR(stmt.Run());
  if (sqlite3_changes(db) == 0) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  }
  return absl::OkStatus();
}

// Inserts the candidates not stored yet (by job and arch hash) and their
// per-hardware latency rows.
absl::Status InsertCandidates(sqlite3* db, int64_t job_id, const std::vector<v1::Candidate>& candidates,
                              const std::vector<EncodedCandidate>& encoded) {
  ASSIGN_OR_RETURN(Statement ins,
                   Statement::Prepare(db,
                                      "INSERT OR IGNORE INTO candidates (job_id, arch_hash, generation, "
                                      "score, params, macs, mac_bytes, feasible, genotype, arch, latency) "
                                      "VALUES (?,?,?,?,?,?,?,?,?,?,?)"));
  ASSIGN_OR_RETURN(Statement lat, Statement::Prepare(db,
                                                     "INSERT INTO candidate_latency (candidate_id, hardware, "
                                                     "latency_ms) VALUES (?,?,?)"));
  for (size_t i = 0; i < candidates.size(); ++i) {
    const v1::Candidate& c = candidates[i];
    ins.Reset();
    ins.BindInt(1, job_id)
        .BindText(2, c.arch_hash())
        .BindInt(3, c.generation())
        .BindDouble(4, c.score())
        .BindInt(5, c.params())
        .BindInt(6, c.macs())
        .BindInt(7, c.mac_bytes())
        .BindInt(8, c.feasible() ? 1 : 0)
        .BindText(9, c.genotype())
        .BindBlob(10, encoded[i].arch)
        .BindBlob(11, encoded[i].latency);
    RETURN_IF_ERROR(ins.Run());
    if (sqlite3_changes(db) == 0) continue;  // stored by an earlier commit
    const int64_t id = sqlite3_last_insert_rowid(db);
    for (const v1::Prediction& p : c.latency()) {
      lat.Reset();
      lat.BindInt(1, id).BindText(2, p.hardware()).BindDouble(3, p.latency_ms());
      RETURN_IF_ERROR(lat.Run());
    }
  }
  return absl::OkStatus();
}

absl::Status SetPareto(sqlite3* db, int64_t job_id, const std::vector<std::string>& pareto_hashes) {
  ASSIGN_OR_RETURN(Statement clear, Statement::Prepare(db,
                                                       "UPDATE candidates SET pareto = 0 "
                                                       "WHERE job_id = ? AND pareto = 1"));
  clear.BindInt(1, job_id);
  RETURN_IF_ERROR(clear.Run());
  ASSIGN_OR_RETURN(Statement set, Statement::Prepare(db,
                                                     "UPDATE candidates SET pareto = 1 "
                                                     "WHERE job_id = ? AND arch_hash = ?"));
  for (const std::string& hash : pareto_hashes) {
    set.Reset();
    set.BindInt(1, job_id).BindText(2, hash);
    RETURN_IF_ERROR(set.Run());
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- reading

// full: keep each prediction's per-block breakdown (GetCandidate only).
absl::StatusOr<v1::Candidate> CandidateFromRow(const Statement& stmt, bool full) {
  v1::Candidate c;
  c.set_id(stmt.ColumnInt(0));
  c.set_job_id(stmt.ColumnInt(1));
  c.set_arch_hash(stmt.ColumnText(2));
  c.set_generation(static_cast<int32_t>(stmt.ColumnInt(3)));
  c.set_score(stmt.ColumnDouble(4));
  c.set_params(stmt.ColumnInt(5));
  c.set_macs(stmt.ColumnInt(6));
  c.set_mac_bytes(stmt.ColumnInt(7));
  c.set_feasible(stmt.ColumnInt(8) != 0);
  c.set_pareto(stmt.ColumnInt(9) != 0);
  c.set_genotype(stmt.ColumnText(10));
  const std::string what = absl::StrCat("candidate ", c.id());
  RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(11), what, c.mutable_arch()));
  v1::PredictResponse latency;
  RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(12), what, &latency));
  *c.mutable_latency() = std::move(*latency.mutable_predictions());
  if (!full) {
    for (v1::Prediction& p : *c.mutable_latency()) p.clear_blocks();
  }
  return c;
}

using Param = std::variant<int64_t, double, std::string>;

// A validated ListCandidatesRequest as SQL fragments (fixed text chosen
// from constants) plus the values bound to them.
struct CandidateQuery {
  std::string from_where;
  std::string order_by;
  std::vector<Param> params;
  int64_t offset = 0;
  int64_t limit = kDefaultPageSize;
};

absl::StatusOr<int64_t> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  const absl::string_view digits = absl::string_view(token).substr(1);
  int64_t offset = 0;
  const bool all_digits = !digits.empty() && digits.size() <= 18 &&
                          std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit);
  if (token[0] != 'o' || !all_digits || !absl::SimpleAtoi(digits, &offset)) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  return offset;
}

absl::StatusOr<const char*> OrderColumn(const v1::ListCandidatesRequest& req) {
  static constexpr std::pair<const char*, const char*> kColumns[] = {
      {"", "c.id"},           {"id", "c.id"},     {"score", "c.score"},
      {"params", "c.params"}, {"macs", "c.macs"}, {"latency", "l.latency_ms"}};
  for (const auto& [name, column] : kColumns) {
    if (req.order_by() != name) continue;
    if (req.order_by() == "latency" && req.hardware().empty()) {
      return absl::InvalidArgumentError("order_by: 'latency' needs hardware to be set");
    }
    return column;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("order_by: must be one of id, score, params, macs, latency, got ", Quote(req.order_by())));
}

absl::Status ValidateFilters(const v1::ListCandidatesRequest& req) {
  if (req.job_id() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("job_id: must be >= 0, got ", req.job_id()));
  }
  if (req.max_params() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_params: must be >= 0, got ", req.max_params()));
  }
  // 0 (or +inf) with a hardware: no bound, only candidates with a latency
  // on it (e.g. to sort by latency there).
  if (!req.hardware().empty() && !(req.max_latency_ms() >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_latency_ms: must be >= 0 (0: no bound), got ", req.max_latency_ms()));
  }
  if (req.hardware().empty() && req.max_latency_ms() != 0) {  // NaN != 0 too
    return absl::InvalidArgumentError("hardware: must be set when max_latency_ms is set");
  }
  return absl::OkStatus();
}

absl::StatusOr<CandidateQuery> BuildQuery(const v1::ListCandidatesRequest& req) {
  if (req.page_size() < 0 || req.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: must be in 0..", kMaxPageSize, ", got ", req.page_size()));
  }
  CandidateQuery q;
  ASSIGN_OR_RETURN(q.offset, ParsePageToken(req.page_token()));
  RETURN_IF_ERROR(ValidateFilters(req));
  ASSIGN_OR_RETURN(const char* column, OrderColumn(req));
  if (req.page_size() > 0) q.limit = req.page_size();

  q.from_where = " FROM candidates c";
  if (!req.hardware().empty()) {
    q.from_where +=
        " JOIN candidate_latency l ON l.candidate_id = c.id AND l.hardware = ?"
        " AND l.latency_ms <= ?";
    q.params.emplace_back(req.hardware());
    q.params.emplace_back(req.max_latency_ms() > 0 ? req.max_latency_ms()
                                                   : std::numeric_limits<double>::infinity());
  }
  q.from_where += " WHERE 1";
  if (req.job_id() != 0) {
    q.from_where += " AND c.job_id = ?";
    q.params.emplace_back(req.job_id());
  }
  if (req.pareto_only()) q.from_where += " AND c.pareto = 1";
  if (req.max_params() > 0) {
    q.from_where += " AND c.params <= ?";
    q.params.emplace_back(req.max_params());
  }
  const char* dir = req.descending() ? " DESC" : " ASC";
  q.order_by = absl::StrCat(" ORDER BY ", column, dir);
  if (std::string_view(column) != "c.id") q.order_by += ", c.id ASC";
  return q;
}

void BindParams(const std::vector<Param>& params, Statement& stmt) {
  for (size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    if (const auto* v = std::get_if<int64_t>(&params[i])) stmt.BindInt(index, *v);
    if (const auto* v = std::get_if<double>(&params[i])) stmt.BindDouble(index, *v);
    if (const auto* v = std::get_if<std::string>(&params[i])) stmt.BindText(index, *v);
  }
}

absl::Status RunQuery(sqlite3* db, const CandidateQuery& q, CandidatePage* page) {
  ASSIGN_OR_RETURN(Statement count, Statement::Prepare(db, absl::StrCat("SELECT COUNT(*)", q.from_where)));
  BindParams(q.params, count);
  RETURN_IF_ERROR(count.Step().status());
  page->total = count.ColumnInt(0);
  if (q.offset >= page->total) return absl::OkStatus();

  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db, absl::StrCat("SELECT ", kCandidateColumns, q.from_where, q.order_by,
                                                       " LIMIT ? OFFSET ?")));
  BindParams(q.params, stmt);
  const int n = static_cast<int>(q.params.size());
  stmt.BindInt(n + 1, q.limit).BindInt(n + 2, q.offset);
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::Candidate c, CandidateFromRow(stmt, /*full=*/false));
    page->candidates.push_back(std::move(c));
  }
  const int64_t next = q.offset + static_cast<int64_t>(page->candidates.size());
  if (!page->candidates.empty() && next < page->total) {
    page->next_page_token = absl::StrCat("o", next);
  }
  return absl::OkStatus();
}

}  // namespace

// ---- generations

absl::Status Store::CommitGeneration(int64_t job_id, const std::string& checkpoint,
                                     const std::vector<v1::Candidate>& candidates,
                                     const std::vector<std::string>& pareto_hashes,
                                     const v1::Progress& progress) {
  RETURN_IF_ERROR(ValidateCandidates(job_id, candidates));
  ASSIGN_OR_RETURN(const std::vector<EncodedCandidate> encoded, Encode(candidates));
  ASSIGN_OR_RETURN(const std::string progress_blob, Serialize(progress, "progress"));
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  return InTransaction(db, TxMode::kWrite, "CommitGeneration", [&]() -> absl::Status {
    RETURN_IF_ERROR(SaveCheckpoint(db, job_id, checkpoint, progress_blob));
    RETURN_IF_ERROR(InsertCandidates(db, job_id, candidates, encoded));
    return SetPareto(db, job_id, pareto_hashes);
  });
}

absl::StatusOr<std::string> Store::LoadCheckpoint(int64_t job_id) {
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(impl_->conn.get(), "SELECT checkpoint FROM jobs WHERE id = ?"));
  stmt.BindInt(1, job_id);
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  if (stmt.IsNull(0)) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no checkpoint yet"));
  }
  return stmt.ColumnBlob(0);
}

// ---- candidates

absl::StatusOr<CandidatePage> Store::ListCandidates(const v1::ListCandidatesRequest& req) {
  ASSIGN_OR_RETURN(const CandidateQuery q, BuildQuery(req));
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  CandidatePage page;
  // One read transaction: the total and the page come from one snapshot.
  RETURN_IF_ERROR(InTransaction(db, TxMode::kRead, "ListCandidates", [&] { return RunQuery(db, q, &page); }));
  return page;
}

absl::StatusOr<v1::Candidate> Store::GetCandidate(int64_t id) {
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(impl_->conn.get(), absl::StrCat("SELECT ", kCandidateColumns,
                                                                      " FROM candidates c WHERE c.id = ?")));
  stmt.BindInt(1, id);
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("candidate ", id, " not found"));
  return CandidateFromRow(stmt, /*full=*/true);
}

absl::StatusOr<int64_t> Store::CountCandidates(int64_t job_id) {
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(impl_->conn.get(), job_id == 0 ? "SELECT COUNT(*) FROM candidates"
                                                                     : "SELECT COUNT(*) FROM candidates "
                                                                       "WHERE job_id = ?"));
  if (job_id != 0) stmt.BindInt(1, job_id);
  RETURN_IF_ERROR(stmt.Step().status());
  return stmt.ColumnInt(0);
}

}  // namespace lutnas::db
