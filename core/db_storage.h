// core::Storage over the SQLite store: an adapter, so that db/ (below core/)
// never includes core/ and db::Store keeps its own, wider API. The one file
// of core/ that includes db/ (scripts/check-layers); the daemon wires it. Every call
// forwards unchanged, status codes and messages included. Thread-safe as
// db::Store is.
#ifndef LUTNAS_CORE_DB_STORAGE_H_
#define LUTNAS_CORE_DB_STORAGE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/storage.h"
#include "db/store.h"

namespace lutnas::core {

class DbStorage : public Storage {
 public:
  explicit DbStorage(db::Store* store) : store_(store) {}  // not owned; must outlive this
  db::Store* store() const { return store_; }

  absl::Status PutHardware(const v1::Hardware& hw, bool update) override;
  absl::StatusOr<v1::Hardware> GetHardware(const std::string& name) override;
  absl::StatusOr<std::vector<v1::Hardware>> ListHardware() override;
  absl::Status DeleteHardware(const std::string& name) override;
  absl::StatusOr<v1::LatencyTable> GetTable(const std::string& hardware, int64_t version) override;
  absl::StatusOr<v1::TableInfo> GetTableInfo(const std::string& hardware, int64_t version) override;
  absl::StatusOr<v1::TableInfo> AddTable(const v1::LatencyTable& table) override;
  absl::StatusOr<std::vector<v1::TableInfo>> ListTables(const std::string& hardware) override;
  absl::StatusOr<v1::TableInfo> SetCorrection(const std::string& hardware, int64_t version,
                                              const v1::Correction& c) override;
  absl::StatusOr<int64_t> CreateJob(const v1::SearchSpec& spec) override;
  absl::StatusOr<int64_t> CreateJobForRequest(const v1::SearchSpec& spec, const std::string& request_id,
                                              const v1::SearchSpec& request_spec) override;
  absl::StatusOr<std::pair<int64_t, v1::SearchSpec>> FindRequest(const std::string& request_id) override;
  absl::StatusOr<v1::Job> GetJob(int64_t id) override;
  absl::Status UpdateJob(int64_t id, v1::JobState state, const std::string& error,
                         const v1::Progress& progress) override;
  absl::StatusOr<std::vector<int64_t>> JobsInState(v1::JobState state) override;
  absl::StatusOr<std::vector<v1::Job>> ListJobs() override;
  absl::Status CommitGeneration(int64_t job_id, const std::string& checkpoint,
                                const std::vector<v1::Candidate>& candidates,
                                const std::vector<std::string>& pareto_hashes,
                                const v1::Progress& progress) override;
  absl::StatusOr<std::string> LoadCheckpoint(int64_t job_id) override;
  absl::StatusOr<CandidatePage> ListCandidates(const v1::ListCandidatesRequest& req) override;
  absl::StatusOr<v1::Candidate> GetCandidate(int64_t id) override;

 private:
  db::Store* store_;
};

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_DB_STORAGE_H_
