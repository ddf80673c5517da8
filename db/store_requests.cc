// Store: idempotent Submit. A client-chosen request id maps to the job its
// first Submit created, so a retry (after DEADLINE_EXCEEDED, a dropped
// connection or a daemon restart) finds that job instead of starting another.
#include <string>
#include <utility>

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

absl::StatusOr<int64_t> Store::CreateJobForRequest(const v1::SearchSpec& spec, const std::string& request_id,
                                                   const v1::SearchSpec& request_spec) {
  if (request_id.empty()) return absl::InvalidArgumentError("request_id: must not be empty");
  ASSIGN_OR_RETURN(const std::string spec_blob, Serialize(spec, "spec"));
  ASSIGN_OR_RETURN(const std::string request_blob, Serialize(request_spec, "request spec"));
  ASSIGN_OR_RETURN(const std::string progress_blob, Serialize(v1::Progress(), "progress"));
  const int64_t now = internal::NowUnixMs();
  absl::MutexLock lock(&impl_->mu);
  sqlite3* db = impl_->conn.get();
  int64_t id = 0;
  RETURN_IF_ERROR(InTransaction(db, TxMode::kWrite, "CreateJobForRequest", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Statement job,
                     Statement::Prepare(db,
                                        "INSERT INTO jobs (spec, state, progress, "
                                        "created_unix_ms, updated_unix_ms) VALUES (?,?,?,?,?)"));
    job.BindBlob(1, spec_blob)
        .BindInt(2, v1::JOB_QUEUED)
        .BindBlob(3, progress_blob)
        .BindInt(4, now)
        .BindInt(5, now);
    RETURN_IF_ERROR(job.Run());
    id = sqlite3_last_insert_rowid(db);
    ASSIGN_OR_RETURN(Statement req,
                     Statement::Prepare(db,
                                        "INSERT INTO submit_requests (request_id, job_id, spec) "
                                        "VALUES (?,?,?)"));
    req.BindText(1, request_id).BindInt(2, id).BindBlob(3, request_blob);
    absl::Status st = req.Run();
    if (absl::IsAlreadyExists(st))
      return absl::AlreadyExistsError(absl::StrCat("request_id: ", Quote(request_id), " is already used"));
    return st;
  }));
  return id;
}

absl::StatusOr<std::pair<int64_t, v1::SearchSpec>> Store::FindRequest(const std::string& request_id) {
  absl::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(impl_->conn.get(), "SELECT job_id, spec FROM submit_requests WHERE request_id = ?"));
  stmt.BindText(1, request_id);
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("request_id: ", Quote(request_id), " is unknown"));
  std::pair<int64_t, v1::SearchSpec> out;
  out.first = stmt.ColumnInt(0);
  RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(1), "submit request spec", &out.second));
  return out;
}

}  // namespace lutnas::db
