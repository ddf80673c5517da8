// A core::Storage that fails chosen calls, for tests of the job core under
// storage faults (LevelDB's EnvWrapper idea): it wraps any Storage (usually a
// core::DbStorage over a real SQLite file) and forwards every call, except
// that a call to a chosen method fails with a chosen status once that method
// has succeeded `after` times. Failed calls never reach the wrapped storage,
// so nothing they would have written is written. Thread-safe.
#ifndef LUTNAS_TESTS_FAULT_STORAGE_H_
#define LUTNAS_TESTS_FAULT_STORAGE_H_

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

#include "core/storage.h"

namespace lutnas::fault {

// The status db::Store returns for SQLITE_FULL in the call `what` (db/sqlite.cc).
inline absl::Status DiskFull(const std::string& what) {
  return absl::ResourceExhaustedError(what + ": database or disk is full (free disk space and try again)");
}

class FaultStorage : public core::StorageWrapper {
 public:
  using core::StorageWrapper::StorageWrapper;

  // From now on, calls to `method` ("CommitGeneration", ...; "*": every
  // method) fail with `status` once `after` of them have succeeded
  // (0: the next call fails). Replaces any earlier rule.
  void FailAfter(const std::string& method, int after, absl::Status status) {
    std::lock_guard<std::mutex> l(mu_);
    method_ = method;
    remaining_ = after;
    status_ = std::move(status);
  }
  // A disk that fills up: once `method` has succeeded `after` times, it and
  // every later write (PutHardware, CreateJob, CreateJobForRequest,
  // UpdateJob, CommitGeneration) fail with DiskFull(name of the call) until
  // Heal(); reads still work.
  void FillDiskAfter(const std::string& method, int after) {
    std::lock_guard<std::mutex> l(mu_);
    fill_method_ = method;
    fill_remaining_ = after;
    full_ = false;
  }
  // No more failures (the disk was freed).
  void Heal() {
    std::lock_guard<std::mutex> l(mu_);
    method_.clear();
    fill_method_.clear();
    full_ = false;
  }
  // Calls that reached the wrapped storage, and calls failed here, by method.
  int calls(const std::string& method) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = calls_.find(method);
    return it == calls_.end() ? 0 : it->second;
  }
  int failures(const std::string& method) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = failures_.find(method);
    return it == failures_.end() ? 0 : it->second;
  }

  absl::Status PutHardware(const v1::Hardware& hw, bool update) override {
    if (auto st = Check("PutHardware", /*write=*/true); !st.ok()) return st;
    return StorageWrapper::PutHardware(hw, update);
  }
  absl::StatusOr<v1::Hardware> GetHardware(const std::string& name) override {
    if (auto st = Check("GetHardware"); !st.ok()) return st;
    return StorageWrapper::GetHardware(name);
  }
  absl::StatusOr<std::vector<v1::Hardware>> ListHardware() override {
    if (auto st = Check("ListHardware"); !st.ok()) return st;
    return StorageWrapper::ListHardware();
  }
  absl::StatusOr<v1::LatencyTable> GetTable(const std::string& hardware, int64_t version) override {
    if (auto st = Check("GetTable"); !st.ok()) return st;
    return StorageWrapper::GetTable(hardware, version);
  }
  absl::StatusOr<v1::TableInfo> GetTableInfo(const std::string& hardware, int64_t version) override {
    if (auto st = Check("GetTableInfo"); !st.ok()) return st;
    return StorageWrapper::GetTableInfo(hardware, version);
  }
  absl::StatusOr<int64_t> CreateJob(const v1::SearchSpec& spec) override {
    if (auto st = Check("CreateJob", /*write=*/true); !st.ok()) return st;
    return StorageWrapper::CreateJob(spec);
  }
  absl::StatusOr<int64_t> CreateJobForRequest(const v1::SearchSpec& spec, const std::string& request_id,
                                              const v1::SearchSpec& request_spec) override {
    if (auto st = Check("CreateJobForRequest", /*write=*/true); !st.ok()) return st;
    return StorageWrapper::CreateJobForRequest(spec, request_id, request_spec);
  }
  absl::StatusOr<std::pair<int64_t, v1::SearchSpec>> FindRequest(const std::string& request_id) override {
    if (auto st = Check("FindRequest"); !st.ok()) return st;
    return StorageWrapper::FindRequest(request_id);
  }
  absl::StatusOr<v1::Job> GetJob(int64_t id) override {
    if (auto st = Check("GetJob"); !st.ok()) return st;
    return StorageWrapper::GetJob(id);
  }
  absl::Status UpdateJob(int64_t id, v1::JobState state, const std::string& error,
                         const v1::Progress& progress) override {
    if (auto st = Check("UpdateJob", /*write=*/true); !st.ok()) return st;
    return StorageWrapper::UpdateJob(id, state, error, progress);
  }
  absl::StatusOr<std::vector<int64_t>> JobsInState(v1::JobState state) override {
    if (auto st = Check("JobsInState"); !st.ok()) return st;
    return StorageWrapper::JobsInState(state);
  }
  absl::Status CommitGeneration(int64_t job_id, const std::string& checkpoint,
                                const std::vector<v1::Candidate>& candidates,
                                const std::vector<std::string>& pareto_hashes,
                                const v1::Progress& progress) override {
    if (auto st = Check("CommitGeneration", /*write=*/true); !st.ok()) return st;
    return StorageWrapper::CommitGeneration(job_id, checkpoint, candidates, pareto_hashes, progress);
  }
  absl::StatusOr<std::string> LoadCheckpoint(int64_t job_id) override {
    if (auto st = Check("LoadCheckpoint"); !st.ok()) return st;
    return StorageWrapper::LoadCheckpoint(job_id);
  }

 private:
  absl::Status Check(const std::string& method, bool write = false) {
    std::lock_guard<std::mutex> l(mu_);
    if (!full_ && !fill_method_.empty() && fill_method_ == method) {
      if (fill_remaining_ <= 0) full_ = true;
      --fill_remaining_;
    }
    if (full_ && write) {
      ++failures_[method];
      return DiskFull(method);
    }
    if (!method_.empty() && (method_ == "*" || method_ == method)) {
      if (remaining_ <= 0) {
        ++failures_[method];
        return status_;
      }
      --remaining_;
    }
    ++calls_[method];
    return absl::OkStatus();
  }

  mutable std::mutex mu_;
  std::string method_;  // "": no rule
  int remaining_ = 0;   // calls that still succeed before the failures start
  absl::Status status_;
  std::string fill_method_;  // "": the disk does not fill
  int fill_remaining_ = 0;
  bool full_ = false;
  std::map<std::string, int> calls_, failures_;
};

}  // namespace lutnas::fault

#endif  // LUTNAS_TESTS_FAULT_STORAGE_H_
