// Runs search jobs in the background: validates a spec fully before any
// work, queues it, runs it on a worker thread (engine + evaluator), commits
// every generation (checkpoint + candidates + Pareto set) to the store in
// one transaction, wakes watchers, and honours cancel. Jobs left RUNNING by
// a crash or a shutdown resume from their last checkpoint on Start().
// Thread-safe: every public method may be called from any gRPC thread.
#ifndef LUTNAS_CORE_JOB_MANAGER_H_
#define LUTNAS_CORE_JOB_MANAGER_H_

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "core/predictor_catalog.h"
#include "core/storage.h"
#include "latency_models/proxies.h"
#include "search/engine.h"

namespace lutnas::core {

class JobManager {
 public:
  struct Options {
    int workers = 1;  // jobs running at once
    std::string spaces_dir = "search/spaces";
    int max_population = 5000;  // per-job caps, checked at submit
    int max_generations = 10000;
    int64_t max_evaluations = 1000000;
    double max_runtime_s = 24 * 3600.0;  // also the default when a spec says 0
    int eval_threads = 1;                // proxy evaluations in parallel per job
    int max_queued_jobs = 64;            // jobs waiting for a worker; more: RESOURCE_EXHAUSTED
    int cancel_wait_s = 30;              // Cancel waits at most this long for the worker to stop
  };
  JobManager(Storage* store, Catalog* catalog, const Options& opts);
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Re-queues jobs left QUEUED or RUNNING, then starts the workers.
  absl::Status Start();
  // Stops workers before their next candidate evaluation (proxies
  // included). Running jobs stay RUNNING with their last checkpoint (the
  // generation in progress is dropped), so the next Start() resumes them
  // with identical results.
  void Shutdown();
  // The non-blocking half of Shutdown: flags every worker, waiter and Watch
  // to stop now; Shutdown() then joins the workers.
  void BeginShutdown();
  bool stopping() const { return stop_flag_; }

  // Validates (INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION naming the
  // field), fills defaults, pins table versions, checks feasibility
  // (submit_checks.h), stores and queues; RESOURCE_EXHAUSTED
  // "max_queued_jobs" when the queue is full. A non-empty request_id makes it
  // idempotent: a repeat returns the job the first call created. `cancelled`
  // (the caller's cancellation or deadline) ends the checks with CANCELLED,
  // storing nothing.
  absl::StatusOr<v1::Job> Submit(const v1::SearchSpec& spec, const std::string& request_id = "",
                                 const std::function<bool()>& cancelled = nullptr);
  // Cancel is stored (JOB_CANCELLED) before it is answered, so a cancelled
  // job never resumes after a crash; for a running job it then waits until
  // the worker has stopped (checked before every candidate evaluation, so
  // well under a second), so an answer of JOB_CANCELLED means nothing runs.
  absl::StatusOr<v1::Job> Cancel(int64_t id);
  // Listeners are called after every change of any job and at shutdown,
  // under a lock (so Unsubscribe() returns only once no call is running):
  // they must be quick and must not call Subscribe/Unsubscribe. Thread-safe.
  int64_t Subscribe(std::function<void()> listener);
  void Unsubscribe(int64_t token);
  // Returns when the job changed after `since_updated_ms`, or on timeout.
  absl::StatusOr<v1::Job> WaitForChange(int64_t id, int64_t since_updated_ms, int timeout_ms);
  // External objective. Ask waits (on a condition, woken by every change of
  // a job) while the job is queued or starting: at most `max_wait` (the
  // caller's deadline; DEADLINE_EXCEEDED when it passes) and at most 10 s
  // (UNAVAILABLE "not running yet; retry" then); `cancelled`, if given, is
  // checked every 100 ms and ends the wait with CANCELLED.
  absl::StatusOr<std::vector<v1::Candidate>> Ask(
      int64_t job_id, int count, std::chrono::milliseconds max_wait = std::chrono::milliseconds::max(),
      const std::function<bool()>& cancelled = nullptr);
  absl::StatusOr<int> Tell(int64_t job_id, const std::map<std::string, double>& scores);

  absl::StatusOr<std::shared_ptr<const space::Space>> ResolveSpace(const v1::SearchSpec& spec) const;
  // Per-hardware predictions (no blocks) for a stored or new candidate.
  v1::Candidate MakeCandidate(const v1::SearchSpec& spec, const space::Space& space,
                              const search::Individual& ind, int64_t job_id);

 private:
  struct Running;
  // Submit's halves: the spec's checks and defaults (CheckSubmitSpec in
  // submit_checks.h, errors relative to the spec: "population: ..."), then
  // the queue and the store.
  absl::StatusOr<v1::SearchSpec> CheckSpec(const v1::SearchSpec& in,
                                           const std::function<bool()>& cancelled) const;
  absl::StatusOr<v1::Job> Enqueue(const v1::SearchSpec& spec, const v1::SearchSpec& in,
                                  const std::string& request_id);
  void WorkerLoop();
  void RunJob(int64_t id, const std::shared_ptr<Running>& run);
  absl::Status RunJobInner(int64_t id, Running* run, v1::Progress* last);
  // Writes the job's state unless a Cancel got there first; false then.
  bool WriteUnlessCancelled(int64_t id, Running* run, v1::JobState state, const v1::Progress& p);
  void Notify();

  Storage* store_;
  Catalog* catalog_;
  Options opts_;
  latency::ProxyCache proxies_;

  // mu_ guards the queue, the running jobs and the change counter; the
  // condition variables below all wait on it. Lock order: mu_, then a
  // Running's db_mu or mu (never the other way round); listeners_mu_ is
  // never held with mu_.
  absl::Mutex mu_;
  absl::CondVar queue_cv_;     // queue_ grew, or stopping_
  absl::CondVar change_cv_;    // change_seq_ grew (Notify), or stopping_
  absl::CondVar finished_cv_;  // a Running ended (Running::done), or stopping_
  std::deque<int64_t> queue_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::shared_ptr<Running>> running_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int submitting_ ABSL_GUARDED_BY(mu_) = 0;  // Submits between the queue check and the push
  uint64_t change_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> stop_flag_{false};  // stopping_, readable without mu_
  // Started by Start() and joined by Shutdown(): callers of those two, not
  // a mutex, keep them apart (the daemon calls them from one thread).
  std::vector<std::thread> workers_;
  absl::Mutex listeners_mu_;
  std::map<int64_t, std::function<void()>> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  int64_t next_listener_ ABSL_GUARDED_BY(listeners_mu_) = 1;
};

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_JOB_MANAGER_H_
