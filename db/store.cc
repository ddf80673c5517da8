// Store: opening, hardware, latency tables and jobs. Candidates and
// generations live in store_candidates.cc.
#include "db/store.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "base/status_macros.h"
#include "db/schema.h"
#include "db/sqlite.h"
#include "db/store_impl.h"
#include "latency_models/correction.h"
#include "latency_models/table_io.h"

namespace lutnas::db {

using internal::InTransaction;
using internal::ParseBlob;
using internal::Quote;
using internal::Serialize;
using internal::Statement;
using internal::TxMode;
using ::lutnas::latency::CheckCorrection;
using ::lutnas::latency::CheckCorrectionFields;
using ::lutnas::latency::SumRange;
using ::lutnas::latency::SumRangeFromMinima;
using ::lutnas::latency::TableSumRange;

namespace internal {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Quote(absl::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = absl::StrCat("'", absl::CHexEscape(s.substr(0, kMax)), "'");
  if (s.size() > kMax) absl::StrAppend(&out, "...");
  return out;
}

absl::Status ParseBlob(absl::string_view blob, absl::string_view what, google::protobuf::MessageLite* msg) {
  if (!msg->ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
    return absl::DataLossError(absl::StrCat(what, ": stored value does not parse"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Serialize(const google::protobuf::MessageLite& msg, absl::string_view what) {
  std::string out;
  if (!msg.SerializeToString(&out)) {
    return absl::InternalError(absl::StrCat(what, ": cannot serialize"));
  }
  return out;
}

}  // namespace internal

namespace {

// ---------------------------------------------------------------- opening

absl::Status WithPrefix(const absl::Status& st, absl::string_view prefix) {
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(prefix, st.message()));
}

absl::Status FileError(const std::error_code& ec, absl::string_view what) {
  const std::string msg = absl::StrCat(what, ": ", ec.message());
  if (ec.value() == ENOSPC) return absl::ResourceExhaustedError(msg);
  return absl::FailedPreconditionError(msg);
}

// NOT_FOUND for a missing file unless it may be created; creates parents.
absl::Status PrepareFile(const std::string& path, const OpenOptions& opts) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return absl::OkStatus();
  if (!opts.create_if_missing) {
    return absl::NotFoundError(absl::StrCat("database file '", path, "' does not exist"));
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return absl::OkStatus();
  std::filesystem::create_directories(parent, ec);
  if (ec) return FileError(ec, absl::StrCat("creating directory '", parent.string(), "'"));
  return absl::OkStatus();
}

// DATA_LOSS with the first few problems quick_check reports.
absl::Status QuickCheck(sqlite3* db) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, "PRAGMA quick_check(4)"));
  std::vector<std::string> lines;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    std::string line = stmt.ColumnText(0);
    if (line.rfind("*** ", 0) != 0) lines.push_back(std::move(line));  // skip headers
  }
  if (lines.size() == 1 && lines[0] == "ok") return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("failed its integrity check: ",
                                          lines.empty() ? "no details" : absl::StrJoin(lines, "; ")));
}

absl::Status Configure(sqlite3* db) {
  RETURN_IF_ERROR(internal::Exec(db, "PRAGMA journal_mode = WAL"));
  RETURN_IF_ERROR(internal::Exec(db, "PRAGMA synchronous = NORMAL"));
  RETURN_IF_ERROR(internal::Exec(db, "PRAGMA cache_size = -32768"));  // KiB: 32 MiB
  return internal::Exec(db, "PRAGMA foreign_keys = ON");
}

// Every step of Open after the file is opened: schema version and integrity
// first (both read-only), then configuration and migrations.
absl::Status CheckAndMigrate(sqlite3* db, const std::string& path) {
  const std::string where = absl::StrCat("database '", path, "': ");
  absl::StatusOr<int> version = internal::ReadSchemaVersion(db);
  if (!version.ok()) return WithPrefix(version.status(), where);
  if (*version > Store::kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("database schema version ", *version,
                                                      " is newer than this lutnasd supports (",
                                                      Store::kSchemaVersion, ")"));
  }
  RETURN_IF_ERROR(WithPrefix(QuickCheck(db), where));
  if (sqlite3_db_readonly(db, "main") == 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, "the file is read-only; lutnasd needs write access"));
  }
  RETURN_IF_ERROR(WithPrefix(Configure(db), where));
  return WithPrefix(internal::Migrate(db), where);
}

// ---------------------------------------------------------------- hardware

absl::Status ValidateHardwareName(absl::string_view name) {
  if (latency::ValidHardwareName(std::string(name))) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("name: must match [a-z0-9][a-z0-9._-]{0,63}, got ", Quote(name)));
}

absl::Status HardwareNotFound(absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("hardware ", Quote(name), " is not registered"));
}

absl::StatusOr<bool> HardwareExists(sqlite3* db, absl::string_view name) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, "SELECT 1 FROM hardware WHERE name = ?"));
  stmt.BindText(1, name);
  return stmt.Step();
}

absl::Status RequireHardware(sqlite3* db, absl::string_view name) {
  ASSIGN_OR_RETURN(bool exists, HardwareExists(db, name));
  return exists ? absl::OkStatus() : HardwareNotFound(name);
}

// ---------------------------------------------------------------- tables

struct TableRow {
  int64_t id = 0;
  v1::TableInfo info;
};

std::string TableName(absl::string_view hardware, int64_t version) {
  return absl::StrCat("latency table ", Quote(hardware), " version ", version);
}

// (hardware, version) -> row; version 0 is the latest. NOT_FOUND names the
// hardware when it is not registered, else the missing version.
absl::StatusOr<TableRow> FindTable(sqlite3* db, const std::string& hardware, int64_t version) {
  if (version < 0) {
    return absl::InvalidArgumentError(absl::StrCat("version: must be >= 0, got ", version));
  }
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db,
                                                      "SELECT id, version, info FROM tables "
                                                      "WHERE hardware = ?1 AND (?2 = 0 OR version = ?2) "
                                                      "ORDER BY version DESC LIMIT 1"));
  stmt.BindText(1, hardware).BindInt(2, version);
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    RETURN_IF_ERROR(RequireHardware(db, hardware));
    if (version == 0) {
      return absl::NotFoundError(absl::StrCat("hardware ", Quote(hardware), " has no latency table"));
    }
    return absl::NotFoundError(absl::StrCat(TableName(hardware, version), " not found"));
  }
  TableRow out;
  out.id = stmt.ColumnInt(0);
  RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(2), TableName(hardware, stmt.ColumnInt(1)), &out.info));
  return out;
}

absl::Status InsertEntries(sqlite3* db, int64_t table_id, const v1::LatencyTable& t) {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db,
                                      "INSERT INTO entries (table_id, key, median_ms, iqr_ms, p10_ms, "
                                      "p90_ms, samples, status, error) VALUES (?,?,?,?,?,?,?,?,?)"));
  for (const v1::LatencyEntry& e : t.entries()) {
    stmt.Reset();
    stmt.BindInt(1, table_id)
        .BindText(2, e.key())
        .BindDouble(3, e.median_ms())
        .BindDouble(4, e.iqr_ms())
        .BindDouble(5, e.p10_ms())
        .BindDouble(6, e.p90_ms())
        .BindInt(7, e.samples())
        .BindInt(8, e.status())
        .BindText(9, e.error());
    RETURN_IF_ERROR(stmt.Run());
  }
  return absl::OkStatus();
}

absl::Status ReadEntries(sqlite3* db, int64_t table_id, v1::LatencyTable* t) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db,
                                                      "SELECT key, median_ms, iqr_ms, p10_ms, p90_ms, "
                                                      "samples, status, error FROM entries "
                                                      "WHERE table_id = ? ORDER BY rowid"));
  stmt.BindInt(1, table_id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return absl::OkStatus();
    v1::LatencyEntry* e = t->add_entries();
    e->set_key(stmt.ColumnText(0));
    e->set_median_ms(stmt.ColumnDouble(1));
    e->set_iqr_ms(stmt.ColumnDouble(2));
    e->set_p10_ms(stmt.ColumnDouble(3));
    e->set_p90_ms(stmt.ColumnDouble(4));
    e->set_samples(static_cast<int32_t>(stmt.ColumnInt(5)));
    e->set_status(static_cast<v1::EntryStatus>(stmt.ColumnInt(6)));
    e->set_error(stmt.ColumnText(7));
  }
}

// The range a correction of this table must be safe over (correction.h):
// smallest measured block entry + smallest measured head entry.
absl::StatusOr<latency::SumRange> StoredTableRange(sqlite3* db, int64_t table_id) {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db,
                                      "SELECT MIN(CASE WHEN key NOT LIKE 'head:%' THEN median_ms END), "
                                      "MIN(CASE WHEN key LIKE 'head:%' THEN median_ms END) "
                                      "FROM entries WHERE table_id = ? AND status = ? AND median_ms > 0"));
  stmt.BindInt(1, table_id).BindInt(2, v1::ENTRY_MEASURED);
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return latency::SumRange{};
  auto v = [&](int col) {
    const double d = stmt.ColumnDouble(col);
    return std::isfinite(d) ? d : 0.0;
  };
  return latency::SumRangeFromMinima(v(0), v(1));
}

// ---------------------------------------------------------------- jobs

constexpr char kJobColumns[] =
    "SELECT id, spec, state, error, progress, created_unix_ms, updated_unix_ms "
    "FROM jobs ";

absl::Status JobNotFound(int64_t id) { return absl::NotFoundError(absl::StrCat("job ", id, " not found")); }

absl::Status ValidateJobState(v1::JobState state) {
  if (state == v1::JOB_STATE_UNSPECIFIED || !v1::JobState_IsValid(state)) {
    return absl::InvalidArgumentError(
        absl::StrCat("state: must be a known job state, got ", static_cast<int>(state)));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> JobFromRow(const Statement& stmt) {
  v1::Job job;
  job.set_id(stmt.ColumnInt(0));
  const std::string what = absl::StrCat("job ", job.id());
  RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(1), what, job.mutable_spec()));
  job.set_state(static_cast<v1::JobState>(stmt.ColumnInt(2)));
  job.set_error(stmt.ColumnText(3));
  RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(4), what, job.mutable_progress()));
  job.set_created_unix_ms(stmt.ColumnInt(5));
  job.set_updated_unix_ms(stmt.ColumnInt(6));
  return job;
}

absl::StatusOr<std::vector<v1::Job>> CollectJobs(Statement& stmt) {
  std::vector<v1::Job> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    ASSIGN_OR_RETURN(v1::Job job, JobFromRow(stmt));
    out.push_back(std::move(job));
  }
}

}  // namespace

// ---------------------------------------------------------------- Store

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path, const OpenOptions& opts) {
  if (path.empty()) return absl::InvalidArgumentError("path: must not be empty");
  if (opts.busy_timeout_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("busy_timeout_ms: must be >= 0, got ", opts.busy_timeout_ms));
  }
  if (internal::LatestSchemaVersion() != kSchemaVersion) {
    return absl::InternalError("schema migrations do not end at kSchemaVersion");
  }
  RETURN_IF_ERROR(PrepareFile(path, opts));
  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (opts.create_if_missing ? SQLITE_OPEN_CREATE : 0);
  ASSIGN_OR_RETURN(internal::Connection conn, internal::Connection::Open(path, flags));
  sqlite3_busy_timeout(conn.get(), opts.busy_timeout_ms);
  RETURN_IF_ERROR(CheckAndMigrate(conn.get(), path));
  return std::unique_ptr<Store>(new Store(std::make_unique<Impl>(path, std::move(conn))));
}

// ---- hardware

absl::Status Store::PutHardware(const v1::Hardware& hw, bool update) {
  RETURN_IF_ERROR(ValidateHardwareName(hw.name()));
  ASSIGN_OR_RETURN(const std::string blob, Serialize(hw, "hardware"));
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  return InTransaction(db, TxMode::kWrite, "PutHardware", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(bool exists, HardwareExists(db, hw.name()));
    if (exists && !update) {
      return absl::AlreadyExistsError(absl::StrCat("hardware ", Quote(hw.name()), " is already registered"));
    }
    ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db,
                                                        "INSERT INTO hardware (name, proto) VALUES (?1, ?2) "
                                                        "ON CONFLICT (name) DO UPDATE SET proto = ?2"));
    stmt.BindText(1, hw.name()).BindBlob(2, blob);
    return stmt.Run();
  });
}

absl::StatusOr<v1::Hardware> Store::GetHardware(const std::string& name) {
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(impl_->conn.get(), "SELECT proto FROM hardware WHERE name = ?"));
  stmt.BindText(1, name);
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return HardwareNotFound(name);
  v1::Hardware hw;
  RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(0), absl::StrCat("hardware ", Quote(name)), &hw));
  return hw;
}

absl::StatusOr<std::vector<v1::Hardware>> Store::ListHardware() {
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(impl_->conn.get(), "SELECT name, proto FROM hardware ORDER BY name"));
  std::vector<v1::Hardware> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    v1::Hardware hw;
    RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(1), absl::StrCat("hardware ", Quote(stmt.ColumnText(0))), &hw));
    out.push_back(std::move(hw));
  }
}

absl::Status Store::DeleteHardware(const std::string& name) {
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  return InTransaction(db, TxMode::kWrite, "DeleteHardware", [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireHardware(db, name));
    ASSIGN_OR_RETURN(Statement count,
                     Statement::Prepare(db, "SELECT COUNT(*) FROM tables WHERE hardware = ?"));
    count.BindText(1, name);
    RETURN_IF_ERROR(count.Step().status());
    if (const int64_t n = count.ColumnInt(0); n > 0) {
      return absl::FailedPreconditionError(absl::StrCat("hardware ", Quote(name), " still has ", n,
                                                        n == 1 ? " latency table" : " latency tables",
                                                        "; it cannot be deleted"));
    }
    ASSIGN_OR_RETURN(Statement del, Statement::Prepare(db, "DELETE FROM hardware WHERE name = ?"));
    del.BindText(1, name);
    return del.Run();
  });
}

// ---- latency tables

absl::StatusOr<v1::TableInfo> Store::AddTable(const v1::LatencyTable& t) {
  RETURN_IF_ERROR(latency::ValidateTable(t));  // info, correction over the table's range, entries
  const std::string& hardware = t.info().hardware();
  v1::TableInfo info = t.info();
  info.set_entries(t.entries_size());
  int64_t failed = 0;
  for (const v1::LatencyEntry& e : t.entries()) failed += e.status() == v1::ENTRY_FAILED;
  info.set_failed(failed);
  info.set_created_unix_ms(internal::NowUnixMs());

  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  RETURN_IF_ERROR(InTransaction(db, TxMode::kWrite, "AddTable", [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireHardware(db, hardware));
    ASSIGN_OR_RETURN(Statement next, Statement::Prepare(db,
                                                        "SELECT COALESCE(MAX(version), 0) + 1 FROM tables "
                                                        "WHERE hardware = ?"));
    next.BindText(1, hardware);
    RETURN_IF_ERROR(next.Step().status());
    info.set_version(next.ColumnInt(0));
    ASSIGN_OR_RETURN(const std::string blob, Serialize(info, "table info"));
    ASSIGN_OR_RETURN(Statement ins, Statement::Prepare(db,
                                                       "INSERT INTO tables (hardware, version, info, "
                                                       "created_unix_ms) VALUES (?, ?, ?, ?)"));
    ins.BindText(1, hardware).BindInt(2, info.version()).BindBlob(3, blob).BindInt(4, info.created_unix_ms());
    RETURN_IF_ERROR(ins.Run());
    return InsertEntries(db, sqlite3_last_insert_rowid(db), t);
  }));
  return info;
}

absl::StatusOr<v1::LatencyTable> Store::GetTable(const std::string& hardware, int64_t version) {
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  v1::LatencyTable out;
  RETURN_IF_ERROR(InTransaction(db, TxMode::kRead, "GetTable", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(TableRow row, FindTable(db, hardware, version));
    *out.mutable_info() = std::move(row.info);
    return ReadEntries(db, row.id, &out);
  }));
  return out;
}

absl::StatusOr<v1::TableInfo> Store::GetTableInfo(const std::string& hardware, int64_t version) {
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(TableRow row, FindTable(impl_->conn.get(), hardware, version));
  return std::move(row.info);
}

absl::StatusOr<std::vector<v1::TableInfo>> Store::ListTables(const std::string& hardware) {
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  std::vector<v1::TableInfo> out;
  RETURN_IF_ERROR(InTransaction(db, TxMode::kRead, "ListTables", [&]() -> absl::Status {
    if (!hardware.empty()) RETURN_IF_ERROR(RequireHardware(db, hardware));
    ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db,
                                                        "SELECT hardware, version, info FROM tables "
                                                        "WHERE ?1 = '' OR hardware = ?1 "
                                                        "ORDER BY hardware, version DESC"));
    stmt.BindText(1, hardware);
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return absl::OkStatus();
      v1::TableInfo info;
      RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(2), TableName(stmt.ColumnText(0), stmt.ColumnInt(1)), &info));
      out.push_back(std::move(info));
    }
  }));
  return out;
}

absl::StatusOr<v1::TableInfo> Store::SetCorrection(const std::string& hardware, int64_t version,
                                                   const v1::Correction& c) {
  RETURN_IF_ERROR(latency::CheckCorrectionFields(c, "correction", /*required=*/true));
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  v1::TableInfo info;
  RETURN_IF_ERROR(InTransaction(db, TxMode::kWrite, "SetCorrection", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(TableRow row, FindTable(db, hardware, version));
    ASSIGN_OR_RETURN(const latency::SumRange range, StoredTableRange(db, row.id));
    RETURN_IF_ERROR(latency::CheckCorrection(c, "correction", range, /*required=*/true));
    info = std::move(row.info);
    *info.mutable_correction() = c;
    ASSIGN_OR_RETURN(const std::string blob, Serialize(info, "table info"));
    ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, "UPDATE tables SET info = ? WHERE id = ?"));
    stmt.BindBlob(1, blob).BindInt(2, row.id);
    RETURN_IF_ERROR(stmt.Run());
    ASSIGN_OR_RETURN(const std::string cblob, Serialize(c, "correction"));
    ASSIGN_OR_RETURN(Statement hist,
                     Statement::Prepare(db,
                                        "INSERT INTO correction_history (table_id, set_unix_ms, "
                                        "scale, offset_ms, fitted_on, mape_before, mape_after, "
                                        "reference_drift, seed, fitted_unix_ms, method, proto) "
                                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"));
    hist.BindInt(1, row.id)
        .BindInt(2, internal::NowUnixMs())
        .BindDouble(3, c.scale())
        .BindDouble(4, c.offset_ms())
        .BindInt(5, c.fitted_on())
        .BindDouble(6, c.mape_before())
        .BindDouble(7, c.mape_after())
        .BindDouble(8, c.reference_drift())
        .BindInt(9, static_cast<int64_t>(c.seed()))
        .BindInt(10, c.fitted_unix_ms())
        .BindText(11, c.method())
        .BindBlob(12, cblob);
    return hist.Run();
  }));
  return info;
}

absl::StatusOr<std::vector<v1::Correction>> Store::CorrectionHistory(const std::string& hardware,
                                                                     int64_t version) {
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  ASSIGN_OR_RETURN(TableRow row, FindTable(db, hardware, version));
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db,
                                                      "SELECT proto FROM correction_history "
                                                      "WHERE table_id = ? ORDER BY id"));
  stmt.BindInt(1, row.id);
  std::vector<v1::Correction> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool more, stmt.Step());
    if (!more) break;
    v1::Correction c;
    RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(0), "correction history", &c));
    out.push_back(std::move(c));
  }
  return out;
}

// ---- jobs

absl::StatusOr<int64_t> Store::CreateJob(const v1::SearchSpec& spec) {
  ASSIGN_OR_RETURN(const std::string spec_blob, Serialize(spec, "spec"));
  ASSIGN_OR_RETURN(const std::string progress_blob, Serialize(v1::Progress(), "progress"));
  const int64_t now = internal::NowUnixMs();
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db,
                                      "INSERT INTO jobs (spec, state, progress, "
                                      "created_unix_ms, updated_unix_ms) VALUES (?,?,?,?,?)"));
  stmt.BindBlob(1, spec_blob)
      .BindInt(2, v1::JOB_QUEUED)
      .BindBlob(3, progress_blob)
      .BindInt(4, now)
      .BindInt(5, now);
  RETURN_IF_ERROR(stmt.Run());
  return sqlite3_last_insert_rowid(db);
}

absl::StatusOr<v1::Job> Store::GetJob(int64_t id) {
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(impl_->conn.get(), absl::StrCat(kJobColumns, "WHERE id = ?")));
  stmt.BindInt(1, id);
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return JobNotFound(id);
  return JobFromRow(stmt);
}

absl::StatusOr<std::vector<v1::Job>> Store::ListJobs() {
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(impl_->conn.get(), absl::StrCat(kJobColumns, "ORDER BY id DESC")));
  return CollectJobs(stmt);
}

absl::Status Store::UpdateJob(int64_t id, v1::JobState state, const std::string& error,
                              const v1::Progress& progress) {
  RETURN_IF_ERROR(ValidateJobState(state));
  ASSIGN_OR_RETURN(const std::string progress_blob, Serialize(progress, "progress"));
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db,
                                                      "UPDATE jobs SET state = ?, error = ?, progress = ?, "
                                                      "updated_unix_ms = ? WHERE id = ?"));
  stmt.BindInt(1, state)
      .BindText(2, error)
      .BindBlob(3, progress_blob)
      .BindInt(4, internal::NowUnixMs())
      .BindInt(5, id);
  RETURN_IF_ERROR(stmt.Run());
  return sqlite3_changes(db) == 0 ? JobNotFound(id) : absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> Store::JobsInState(v1::JobState state) {
  RETURN_IF_ERROR(ValidateJobState(state));
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(impl_->conn.get(), "SELECT id FROM jobs WHERE state = ? ORDER BY id"));
  stmt.BindInt(1, state);
  std::vector<int64_t> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(stmt.ColumnInt(0));
  }
}

}  // namespace lutnas::db
