// Thin RAII layer over the SQLite C API, private to db/: a connection, a
// prepared statement with bound values, one result-code -> absl::Status
// mapping, and a transaction helper that rolls back on any error.
#ifndef LUTNAS_DB_SQLITE_H_
#define LUTNAS_DB_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lutnas::db::internal {

// The one mapping of SQLite result codes onto absl codes. `what` says which
// operation failed; `db` (may be null) supplies SQLite's own message.
absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view what);

// Owns one sqlite3 connection; closes it on destruction. Not thread-safe:
// the owner serialises access.
class Connection {
 public:
  static absl::StatusOr<Connection> Open(const std::string& path, int flags);
  Connection() = default;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  sqlite3* get() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// Owns one prepared statement. Values are only ever bound (1-based
// indexes), never formatted into SQL. A bind failure is reported by the
// next Step/Run. Not thread-safe.
class Statement {
 public:
  static absl::StatusOr<Statement> Prepare(sqlite3* db, absl::string_view sql);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& BindInt(int index, int64_t value);
  Statement& BindDouble(int index, double value);  // NaN is stored as NULL
  Statement& BindText(int index, absl::string_view value);
  Statement& BindBlob(int index, absl::string_view value);
  Statement& BindNull(int index);

  // true: a row is available; false: done.
  absl::StatusOr<bool> Step();
  // Steps until done, ignoring any rows.
  absl::Status Run();
  // Ready for new bindings and a fresh Step.
  void Reset();

  bool IsNull(int col) const;
  int64_t ColumnInt(int col) const;
  double ColumnDouble(int col) const;  // NULL reads back as NaN
  std::string ColumnText(int col) const;
  std::string ColumnBlob(int col) const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string label)
      : db_(db), stmt_(stmt), label_(std::move(label)) {}
  Statement& Check(int rc);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string label_;  // names the statement in error messages
  int bind_rc_ = SQLITE_OK;
};

// Runs SQL without parameters (DDL, fixed pragmas); rows are ignored.
absl::Status Exec(sqlite3* db, absl::string_view sql);

enum class TxMode { kRead, kWrite };

// Runs `body` inside BEGIN (kRead) or BEGIN IMMEDIATE (kWrite) ... COMMIT.
// Any error from `body` or COMMIT rolls the transaction back and is
// returned; `what` labels errors of BEGIN/COMMIT.
absl::Status InTransaction(sqlite3* db, TxMode mode, absl::string_view what,
                           const std::function<absl::Status()>& body);

}  // namespace lutnas::db::internal

#endif  // LUTNAS_DB_SQLITE_H_
