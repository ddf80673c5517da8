#include "db/sqlite.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace lutnas::db::internal {

absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view what) {
  const std::string detail =
      db != nullptr && sqlite3_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string msg = absl::StrCat(what, ": ", detail);
  switch (rc & 0xff) {
    case SQLITE_OK:
      return absl::OkStatus();
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(
          absl::StrCat(msg, " (another connection or process holds the lock; retry later)"));
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(msg, " (free disk space and try again)"));
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(msg);
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::FailedPreconditionError(msg);
    case SQLITE_IOERR:
    case SQLITE_PROTOCOL:
      return absl::UnavailableError(msg);
    case SQLITE_TOOBIG:
      return absl::InvalidArgumentError(msg);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(msg);
      }
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return absl::FailedPreconditionError(msg);
      }
      return absl::InvalidArgumentError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// ---- Connection

absl::StatusOr<Connection> Connection::Open(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  Connection conn(db);  // closes the handle even when the open failed
  if (rc != SQLITE_OK) {
    return SqliteStatus(rc, db, absl::StrCat("opening database '", path, "'"));
  }
  sqlite3_extended_result_codes(db, 1);
  return conn;
}

Connection::Connection(Connection&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Connection::~Connection() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

// ---- Statement

namespace {

// A short name for error messages: the SQL up to its first '(' or 48 chars.
std::string Label(absl::string_view sql) {
  sql = sql.substr(0, std::min(sql.find('('), size_t{48}));
  return std::string(absl::StripAsciiWhitespace(sql));
}

}  // namespace

absl::StatusOr<Statement> Statement::Prepare(sqlite3* db, absl::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteStatus(rc, db, "preparing statement");
  }
  return Statement(db, stmt, Label(sql));
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      label_(std::move(other.label_)),
      bind_rc_(other.bind_rc_) {}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Check(int rc) {
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindInt(int index, int64_t value) {
  return Check(sqlite3_bind_int64(stmt_, index, value));
}

Statement& Statement::BindDouble(int index, double value) {
  if (std::isnan(value)) return BindNull(index);
  return Check(sqlite3_bind_double(stmt_, index, value));
}

// Empty views may carry a null data pointer, which SQLite would bind as
// NULL; "" keeps an empty text/blob an empty value.
Statement& Statement::BindText(int index, absl::string_view value) {
  const char* data = value.empty() ? "" : value.data();
  return Check(sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

Statement& Statement::BindBlob(int index, absl::string_view value) {
  if (value.empty()) return Check(sqlite3_bind_zeroblob(stmt_, index, 0));
  return Check(sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT));
}

Statement& Statement::BindNull(int index) { return Check(sqlite3_bind_null(stmt_, index)); }

absl::StatusOr<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) {
    return SqliteStatus(bind_rc_, nullptr, absl::StrCat(label_, ": binding"));
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, db_, label_);
}

absl::Status Statement::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Statement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

double Statement::ColumnDouble(int col) const {
  if (IsNull(col)) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, col);
}

std::string Statement::ColumnText(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

std::string Statement::ColumnBlob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
}

// ---- helpers

absl::Status Exec(sqlite3* db, absl::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db, Label(sql));
  return absl::OkStatus();
}

absl::Status InTransaction(sqlite3* db, TxMode mode, absl::string_view what,
                           const std::function<absl::Status()>& body) {
  const char* begin = mode == TxMode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN";
  int rc = sqlite3_exec(db, begin, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db, what);
  absl::Status status = body();
  if (status.ok()) {
    rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return absl::OkStatus();
    status = SqliteStatus(rc, db, what);
  }
  // SQLite may already have rolled back by itself (e.g. after SQLITE_FULL).
  if (!sqlite3_get_autocommit(db)) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  return status;
}

}  // namespace lutnas::db::internal
