#include "db/schema.h"

#include <iterator>

#include "absl/strings/str_cat.h"

#include "base/status_macros.h"
#include "db/sqlite.h"

namespace lutnas::db::internal {
namespace {

struct Migration {
  int version;
  const char* sql;
};

// Append only: a released migration is never edited. Doubles that may be
// NaN are nullable (SQLite stores NaN as NULL; it reads back as NaN).
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE hardware (
  name  TEXT PRIMARY KEY NOT NULL,
  proto BLOB NOT NULL              -- serialized lutnas.v1.Hardware
) WITHOUT ROWID;

CREATE TABLE tables (
  id              INTEGER PRIMARY KEY,
  hardware        TEXT NOT NULL REFERENCES hardware(name),
  version         INTEGER NOT NULL,
  info            BLOB NOT NULL,   -- serialized lutnas.v1.TableInfo
  created_unix_ms INTEGER NOT NULL,
  UNIQUE (hardware, version)
);

CREATE TABLE entries (
  table_id  INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,
  key       TEXT NOT NULL,
  median_ms REAL,
  iqr_ms    REAL,
  p10_ms    REAL,
  p90_ms    REAL,
  samples   INTEGER NOT NULL,
  status    INTEGER NOT NULL,
  error     TEXT NOT NULL,
  PRIMARY KEY (table_id, key)
);

CREATE TABLE jobs (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  spec            BLOB NOT NULL,   -- serialized lutnas.v1.SearchSpec
  state           INTEGER NOT NULL,
  error           TEXT NOT NULL DEFAULT '',
  progress        BLOB NOT NULL,   -- serialized lutnas.v1.Progress
  created_unix_ms INTEGER NOT NULL,
  updated_unix_ms INTEGER NOT NULL,
  checkpoint      BLOB             -- NULL until the first generation
);
CREATE INDEX jobs_by_state ON jobs(state);

CREATE TABLE candidates (
  id         INTEGER PRIMARY KEY,
  job_id     INTEGER NOT NULL REFERENCES jobs(id),
  arch_hash  TEXT NOT NULL,
  generation INTEGER NOT NULL,
  score      REAL,
  params     INTEGER NOT NULL,
  macs       INTEGER NOT NULL,
  mac_bytes  INTEGER NOT NULL,
  feasible   INTEGER NOT NULL,
  pareto     INTEGER NOT NULL DEFAULT 0,
  genotype   TEXT NOT NULL,
  arch       BLOB NOT NULL,        -- serialized lutnas.v1.Architecture
  latency    BLOB NOT NULL,        -- serialized lutnas.v1.PredictResponse
  UNIQUE (job_id, arch_hash)
);
CREATE INDEX candidates_by_pareto ON candidates(job_id, pareto);

CREATE TABLE candidate_latency (
  candidate_id INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
  hardware     TEXT NOT NULL,
  latency_ms   REAL,
  PRIMARY KEY (candidate_id, hardware)
) WITHOUT ROWID;
CREATE INDEX candidate_latency_by_hardware
  ON candidate_latency(hardware, latency_ms);
)sql"},
    // trust-fit (issue 10): every correction ever set on a table version, with
    // its provenance, so that replacing one never loses the one before. The
    // current correction stays in tables.info (TableInfo.correction); old
    // databases gain an empty history and keep working.
    {2, R"sql(
CREATE TABLE correction_history (
  id              INTEGER PRIMARY KEY,
  table_id        INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,
  set_unix_ms     INTEGER NOT NULL,
  scale           REAL,
  offset_ms       REAL,
  fitted_on       INTEGER NOT NULL,
  mape_before     REAL,
  mape_after      REAL,
  reference_drift REAL,
  seed            INTEGER NOT NULL,
  fitted_unix_ms  INTEGER NOT NULL,
  method          TEXT NOT NULL,
  proto           BLOB NOT NULL    -- serialized lutnas.v1.Correction
);
CREATE INDEX correction_history_by_table ON correction_history(table_id, id);
)sql"},
    {3, R"sql(
-- Idempotent Submit: a client-chosen request id -> the job it created.
CREATE TABLE submit_requests (
  request_id TEXT PRIMARY KEY NOT NULL,
  job_id     INTEGER NOT NULL REFERENCES jobs(id),
  spec       BLOB NOT NULL          -- the SearchSpec as the client sent it
) WITHOUT ROWID;
)sql"},
};

}  // namespace

int LatestSchemaVersion() { return std::prev(std::end(kMigrations))->version; }

absl::StatusOr<int> ReadSchemaVersion(sqlite3* db) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, "PRAGMA user_version"));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError("PRAGMA user_version returned no row");
  return static_cast<int>(stmt.ColumnInt(0));
}

absl::Status Migrate(sqlite3* db) {
  const int latest = LatestSchemaVersion();
  ASSIGN_OR_RETURN(const int seen, ReadSchemaVersion(db));
  if (seen == latest) return absl::OkStatus();  // no write lock needed
  return InTransaction(db, TxMode::kWrite, "migrating schema", [&]() -> absl::Status {
    // Read again under the write lock: another process may have migrated.
    ASSIGN_OR_RETURN(const int current, ReadSchemaVersion(db));
    if (current > latest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema version ", current, " is newer than this lutnasd supports (", latest, ")"));
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= current) continue;
      RETURN_IF_ERROR(Exec(db, m.sql));
      // PRAGMA takes no bound parameters; the value is a compiled-in integer.
      RETURN_IF_ERROR(Exec(db, absl::StrCat("PRAGMA user_version = ", m.version)));
    }
    return absl::OkStatus();
  });
}

}  // namespace lutnas::db::internal
