// SQLite persistence of hardware, versioned latency tables, search jobs,
// their checkpoints and every candidate. The only code that includes
// sqlite3.h is under db/. One connection in WAL mode with a busy timeout;
// every method is thread-safe (an internal mutex serialises access).
// Multi-row writes run in one BEGIN IMMEDIATE transaction: they land whole
// or not at all, so a kill -9 never leaves a half-written table or
// generation. Status codes: NOT_FOUND unknown name/id, ALREADY_EXISTS,
// INVALID_ARGUMENT bad field (message names it), UNAVAILABLE busy/locked,
// RESOURCE_EXHAUSTED disk full, DATA_LOSS corrupt file, FAILED_PRECONDITION
// schema newer than this binary or read-only file.
#ifndef LUTNAS_DB_STORE_H_
#define LUTNAS_DB_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

#include "lutnas/v1/service.pb.h"
#include "lutnas/v1/table.pb.h"

namespace lutnas::db {

struct OpenOptions {
  bool create_if_missing = true;  // false: NOT_FOUND when the file is absent
  int busy_timeout_ms = 5000;
};

struct CandidatePage {
  std::vector<v1::Candidate> candidates;
  std::string next_page_token;  // "" when this is the last page
  int64_t total = 0;            // rows matching the filter
};

class Store {
 public:
  // Opens (creating and migrating as needed) the database at `path`.
  // Parent directories are created. Checks integrity (quick_check) and the
  // schema version (PRAGMA user_version) before anything else.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path, const OpenOptions& opts = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static constexpr int kSchemaVersion = 3;  // 2: correction_history (trust-fit), 3: submit_requests

  // ---- hardware
  absl::Status PutHardware(const v1::Hardware& hw, bool update);
  absl::StatusOr<v1::Hardware> GetHardware(const std::string& name);
  absl::StatusOr<std::vector<v1::Hardware>> ListHardware();  // by name
  // Refuses (FAILED_PRECONDITION) while tables of that hardware exist.
  absl::Status DeleteHardware(const std::string& name);

  // ---- latency tables (versioned; a version is never rewritten)
  // Stores a new version (max + 1) of t.info().hardware atomically; fills
  // version, created_unix_ms, entries and failed in the returned info.
  absl::StatusOr<v1::TableInfo> AddTable(const v1::LatencyTable& t);
  // version 0: the latest. NOT_FOUND when none.
  absl::StatusOr<v1::LatencyTable> GetTable(const std::string& hardware, int64_t version);
  absl::StatusOr<v1::TableInfo> GetTableInfo(const std::string& hardware, int64_t version);
  // hardware "": every table; newest version first per hardware.
  absl::StatusOr<std::vector<v1::TableInfo>> ListTables(const std::string& hardware);
  absl::StatusOr<v1::TableInfo> SetCorrection(const std::string& hardware, int64_t version,
                                              const v1::Correction& c);
  // Every correction set on a table version (SetCorrection), oldest first.
  absl::StatusOr<std::vector<v1::Correction>> CorrectionHistory(const std::string& hardware, int64_t version);

  // ---- jobs
  absl::StatusOr<int64_t> CreateJob(const v1::SearchSpec& spec);  // JOB_QUEUED
  absl::StatusOr<v1::Job> GetJob(int64_t id);
  absl::StatusOr<std::vector<v1::Job>> ListJobs();  // newest first
  absl::Status UpdateJob(int64_t id, v1::JobState state, const std::string& error,
                         const v1::Progress& progress);
  absl::StatusOr<std::vector<int64_t>> JobsInState(v1::JobState state);
  // Idempotent submit (store_requests.cc): CreateJob plus a request id ->
  // job id row, in one transaction. ALREADY_EXISTS when the id is taken.
  absl::StatusOr<int64_t> CreateJobForRequest(const v1::SearchSpec& spec, const std::string& request_id,
                                              const v1::SearchSpec& request_spec);
  // The job a request id created and the spec that request sent; NOT_FOUND
  // when the id is unknown.
  absl::StatusOr<std::pair<int64_t, v1::SearchSpec>> FindRequest(const std::string& request_id);

  // One generation, atomically: the engine checkpoint, the candidates
  // evaluated in it (ids assigned here; a (job, arch_hash) already stored is
  // skipped, so replaying a generation after a crash duplicates nothing),
  // the job's current Pareto set (by arch hash) and its progress.
  absl::Status CommitGeneration(int64_t job_id, const std::string& checkpoint,
                                const std::vector<v1::Candidate>& candidates,
                                const std::vector<std::string>& pareto_hashes, const v1::Progress& progress);
  // NOT_FOUND when the job has no checkpoint yet.
  absl::StatusOr<std::string> LoadCheckpoint(int64_t job_id);

  // ---- candidates
  // Filters, order and pagination as in ListCandidatesRequest (validated
  // here: page_size 0 -> 50, > 1000 or < 0 INVALID_ARGUMENT, unknown order_by
  // INVALID_ARGUMENT, malformed page_token INVALID_ARGUMENT).
  absl::StatusOr<CandidatePage> ListCandidates(const v1::ListCandidatesRequest& req);
  absl::StatusOr<v1::Candidate> GetCandidate(int64_t id);
  absl::StatusOr<int64_t> CountCandidates(int64_t job_id);  // 0: all jobs

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lutnas::db

#endif  // LUTNAS_DB_STORE_H_
