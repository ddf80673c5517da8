// Versioned schema of the lutnas database: an ordered list of migrations,
// the version kept in PRAGMA user_version. Private to db/.
#ifndef LUTNAS_DB_SCHEMA_H_
#define LUTNAS_DB_SCHEMA_H_

#include <sqlite3.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lutnas::db::internal {

// The version the last migration produces.
int LatestSchemaVersion();

// PRAGMA user_version of the main database.
absl::StatusOr<int> ReadSchemaVersion(sqlite3* db);

// Applies every migration above the current version, up to the latest, in
// one BEGIN IMMEDIATE transaction. FAILED_PRECONDITION when the database is
// newer than the latest migration.
absl::Status Migrate(sqlite3* db);

}  // namespace lutnas::db::internal

#endif  // LUTNAS_DB_SCHEMA_H_
