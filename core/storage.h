// The storage the daemon core needs, and no more: hardware, tables and their
// corrections, jobs, idempotent-submit rows, per-generation commits and
// stored candidates. The core (job manager, predictor catalogue, submit
// checks, hardware catalogue, registry, candidates) and the gRPC services
// above it hold a Storage*, never a db::Store*; DbStorage (core/db_storage.h) implements it
// over the SQLite store, and tests wrap any Storage to inject faults
// (tests/fault_storage.h), as LevelDB's EnvWrapper wraps an Env.
//
// The interface lives in core/ because the core owns what it needs: db/ stays
// below core/ and includes nothing of it. Methods and status codes are
// db::Store's (db/store.h): NOT_FOUND unknown name/id, ALREADY_EXISTS,
// INVALID_ARGUMENT naming the field, UNAVAILABLE busy, RESOURCE_EXHAUSTED
// disk full, DATA_LOSS corrupt file. Implementations must be thread-safe:
// the core calls from gRPC threads and job workers at once.
#ifndef LUTNAS_CORE_STORAGE_H_
#define LUTNAS_CORE_STORAGE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "lutnas/v1/service.pb.h"
#include "lutnas/v1/table.pb.h"

namespace lutnas::core {

// One page of ListCandidates.
struct CandidatePage {
  std::vector<v1::Candidate> candidates;
  std::string next_page_token;  // "" when this is the last page
  int64_t total = 0;            // rows matching the filter
};

class Storage {
 public:
  virtual ~Storage() = default;

  // ---- hardware
  virtual absl::Status PutHardware(const v1::Hardware& hw, bool update) = 0;
  virtual absl::StatusOr<v1::Hardware> GetHardware(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<v1::Hardware>> ListHardware() = 0;  // by name
  virtual absl::Status DeleteHardware(const std::string& name) = 0;

  // ---- latency tables (version 0: the latest; NOT_FOUND when none)
  virtual absl::StatusOr<v1::LatencyTable> GetTable(const std::string& hardware, int64_t version) = 0;
  virtual absl::StatusOr<v1::TableInfo> GetTableInfo(const std::string& hardware, int64_t version) = 0;
  // Stores the hardware's next version.
  virtual absl::StatusOr<v1::TableInfo> AddTable(const v1::LatencyTable& table) = 0;
  // hardware "": every table; newest version first per hardware.
  virtual absl::StatusOr<std::vector<v1::TableInfo>> ListTables(const std::string& hardware) = 0;
  virtual absl::StatusOr<v1::TableInfo> SetCorrection(const std::string& hardware, int64_t version,
                                                      const v1::Correction& c) = 0;

  // ---- jobs
  virtual absl::StatusOr<int64_t> CreateJob(const v1::SearchSpec& spec) = 0;  // JOB_QUEUED
  // CreateJob plus a request id -> job id row, in one transaction.
  virtual absl::StatusOr<int64_t> CreateJobForRequest(const v1::SearchSpec& spec,
                                                      const std::string& request_id,
                                                      const v1::SearchSpec& request_spec) = 0;
  // The job a request id created and the spec that request sent.
  virtual absl::StatusOr<std::pair<int64_t, v1::SearchSpec>> FindRequest(const std::string& request_id) = 0;
  virtual absl::StatusOr<v1::Job> GetJob(int64_t id) = 0;
  virtual absl::Status UpdateJob(int64_t id, v1::JobState state, const std::string& error,
                                 const v1::Progress& progress) = 0;
  virtual absl::StatusOr<std::vector<int64_t>> JobsInState(v1::JobState state) = 0;
  virtual absl::StatusOr<std::vector<v1::Job>> ListJobs() = 0;  // newest first

  // ---- generations: checkpoint + candidates + Pareto set + progress, whole or not at all
  virtual absl::Status CommitGeneration(int64_t job_id, const std::string& checkpoint,
                                        const std::vector<v1::Candidate>& candidates,
                                        const std::vector<std::string>& pareto_hashes,
                                        const v1::Progress& progress) = 0;
  // NOT_FOUND when the job has no checkpoint yet.
  virtual absl::StatusOr<std::string> LoadCheckpoint(int64_t job_id) = 0;

  // ---- stored candidates: filters, order and pagination as in ListCandidatesRequest
  virtual absl::StatusOr<CandidatePage> ListCandidates(const v1::ListCandidatesRequest& req) = 0;
  virtual absl::StatusOr<v1::Candidate> GetCandidate(int64_t id) = 0;
};

// Forwards every call to another Storage (not owned). Subclass it and
// override the calls to change, as LevelDB's EnvWrapper does for an Env.
class StorageWrapper : public Storage {
 public:
  explicit StorageWrapper(Storage* target) : target_(target) {}
  Storage* target() const { return target_; }

  absl::Status PutHardware(const v1::Hardware& hw, bool update) override {
    return target_->PutHardware(hw, update);
  }
  absl::StatusOr<v1::Hardware> GetHardware(const std::string& name) override {
    return target_->GetHardware(name);
  }
  absl::StatusOr<std::vector<v1::Hardware>> ListHardware() override { return target_->ListHardware(); }
  absl::Status DeleteHardware(const std::string& name) override { return target_->DeleteHardware(name); }
  absl::StatusOr<v1::LatencyTable> GetTable(const std::string& hardware, int64_t version) override {
    return target_->GetTable(hardware, version);
  }
  absl::StatusOr<v1::TableInfo> GetTableInfo(const std::string& hardware, int64_t version) override {
    return target_->GetTableInfo(hardware, version);
  }
  absl::StatusOr<v1::TableInfo> AddTable(const v1::LatencyTable& table) override {
    return target_->AddTable(table);
  }
  absl::StatusOr<std::vector<v1::TableInfo>> ListTables(const std::string& hardware) override {
    return target_->ListTables(hardware);
  }
  absl::StatusOr<v1::TableInfo> SetCorrection(const std::string& hardware, int64_t version,
                                              const v1::Correction& c) override {
    return target_->SetCorrection(hardware, version, c);
  }
  absl::StatusOr<int64_t> CreateJob(const v1::SearchSpec& spec) override { return target_->CreateJob(spec); }
  absl::StatusOr<int64_t> CreateJobForRequest(const v1::SearchSpec& spec, const std::string& request_id,
                                              const v1::SearchSpec& request_spec) override {
    return target_->CreateJobForRequest(spec, request_id, request_spec);
  }
  absl::StatusOr<std::pair<int64_t, v1::SearchSpec>> FindRequest(const std::string& request_id) override {
    return target_->FindRequest(request_id);
  }
  absl::StatusOr<v1::Job> GetJob(int64_t id) override { return target_->GetJob(id); }
  absl::Status UpdateJob(int64_t id, v1::JobState state, const std::string& error,
                         const v1::Progress& progress) override {
    return target_->UpdateJob(id, state, error, progress);
  }
  absl::StatusOr<std::vector<int64_t>> JobsInState(v1::JobState state) override {
    return target_->JobsInState(state);
  }
  absl::StatusOr<std::vector<v1::Job>> ListJobs() override { return target_->ListJobs(); }
  absl::Status CommitGeneration(int64_t job_id, const std::string& checkpoint,
                                const std::vector<v1::Candidate>& candidates,
                                const std::vector<std::string>& pareto_hashes,
                                const v1::Progress& progress) override {
    return target_->CommitGeneration(job_id, checkpoint, candidates, pareto_hashes, progress);
  }
  absl::StatusOr<std::string> LoadCheckpoint(int64_t job_id) override {
    return target_->LoadCheckpoint(job_id);
  }
  absl::StatusOr<CandidatePage> ListCandidates(const v1::ListCandidatesRequest& req) override {
    return target_->ListCandidates(req);
  }
  absl::StatusOr<v1::Candidate> GetCandidate(int64_t id) override { return target_->GetCandidate(id); }

 private:
  Storage* target_;
};

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_STORAGE_H_
