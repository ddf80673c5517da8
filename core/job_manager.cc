#include "core/job_manager.h"

#include <dirent.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "base/status_macros.h"
#include "base/status_reason.h"
#include "core/evaluator.h"
#include "core/field_path.h"
#include "core/names.h"
#include "core/submit_checks.h"
#include "latency_models/cost.h"

namespace lutnas::core {
namespace {

using absl::StrCat;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status Invalid(const std::string& field, const std::string& msg) {
  return absl::InvalidArgumentError(StrCat(field, ": ", msg));
}

bool SafeName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

bool Terminal(v1::JobState s) {
  return s == v1::JOB_SUCCEEDED || s == v1::JOB_FAILED || s == v1::JOB_CANCELLED;
}

}  // namespace

// State of one job while a worker runs it.
struct JobManager::Running {
  std::atomic<bool> cancel{false};
  // Orders the worker's writes of the job row against Cancel's: whoever
  // holds it sees `cancel` and `final_written` current.
  absl::Mutex db_mu;
  bool final_written ABSL_GUARDED_BY(db_mu) = false;  // the worker stored the job's end state
  // The worker is finished with it. Guarded by JobManager::mu_ (which an
  // annotation on a member of this struct cannot name); finished_cv_ waits on it.
  bool done = false;
  // Orders the worker's engine steps against Ask and Tell.
  absl::Mutex mu;
  absl::CondVar told;  // a Tell, a Cancel or shutdown: the waiting worker steps again
  search::Engine* engine ABSL_GUARDED_BY(mu) = nullptr;
  std::map<std::string, std::string> pending ABSL_GUARDED_BY(mu);  // arch hash -> genotype key
  // Written by the worker before it publishes `engine` under mu, read-only
  // after: Ask and Tell read them only once they saw `engine` set.
  std::shared_ptr<const space::Space> space;
  v1::SearchSpec spec;
};

JobManager::JobManager(Storage* store, Catalog* catalog, const Options& opts)
    : store_(store), catalog_(catalog), opts_(opts) {}

JobManager::~JobManager() { Shutdown(); }

absl::Status JobManager::Start() {
  std::vector<int64_t> ids;
  for (auto state : {v1::JOB_RUNNING, v1::JOB_QUEUED}) {
    ASSIGN_OR_RETURN(auto some, store_->JobsInState(state));
    ids.insert(ids.end(), some.begin(), some.end());
  }
  std::sort(ids.begin(), ids.end());
  absl::MutexLock l(&mu_);
  for (int64_t id : ids) queue_.push_back(id);
  stopping_ = false;
  stop_flag_ = false;
  for (int i = 0; i < std::max(1, opts_.workers); ++i) workers_.emplace_back([this] { WorkerLoop(); });
  return absl::OkStatus();
}

void JobManager::BeginShutdown() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    stop_flag_ = true;
    for (auto& [id, r] : running_) r->told.SignalAll();
  }
  queue_cv_.SignalAll();
  change_cv_.SignalAll();
  finished_cv_.SignalAll();
  Notify();  // Watch streams end
}

void JobManager::Shutdown() {
  {
    absl::MutexLock l(&mu_);
    if (stopping_ && workers_.empty()) return;
  }
  BeginShutdown();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

void JobManager::Notify() {
  {
    absl::MutexLock l(&mu_);
    ++change_seq_;
  }
  change_cv_.SignalAll();
  absl::MutexLock l(&listeners_mu_);
  for (auto& [token, f] : listeners_) f();
}

int64_t JobManager::Subscribe(std::function<void()> listener) {
  absl::MutexLock l(&listeners_mu_);
  listeners_[next_listener_] = std::move(listener);
  return next_listener_++;
}

void JobManager::Unsubscribe(int64_t token) {
  absl::MutexLock l(&listeners_mu_);
  listeners_.erase(token);
}

absl::StatusOr<std::shared_ptr<const space::Space>> JobManager::ResolveSpace(
    const v1::SearchSpec& spec) const {
  if (spec.has_space_inline()) {
    if (!spec.space().empty()) return Invalid("space", "give either space or space_inline, not both");
    // Its name starts every candidate's name (space.h: "<name>:<genotype>").
    RETURN_IF_ERROR(CheckName(spec.space_inline().name(), "space_inline.name"));
    auto s = space::Space::Create(spec.space_inline());
    if (!s.ok()) return Invalid("space_inline", std::string(s.status().message()));
    return s;
  }
  if (spec.space().empty()) return Invalid("space", "a space name (e.g. 'edge') or space_inline is required");
  std::vector<std::string> names;
  if (DIR* d = opendir(opts_.spaces_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.substr(n.size() - 5) == ".json") names.push_back(n.substr(0, n.size() - 5));
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  // Names match in any case, as enum values do ("Edge" is edge).
  auto same = [&](const std::string& n) {
    return absl::AsciiStrToLower(n) == absl::AsciiStrToLower(spec.space());
  };
  auto it = std::find(names.begin(), names.end(), spec.space());
  if (it == names.end()) it = std::find_if(names.begin(), names.end(), same);
  if (it == names.end() || !SafeName(*it))
    return absl::NotFoundError(StrCat("space: unknown space '", spec.space().substr(0, 64), "'",
                                      DidYouMean(spec.space(), names),
                                      " (available: ", absl::StrJoin(names, ", "), ")"));
  return space::Space::Load(StrCat(opts_.spaces_dir, "/", *it, ".json"));
}

absl::StatusOr<v1::Job> JobManager::Submit(const v1::SearchSpec& in, const std::string& request_id,
                                           const std::function<bool()>& cancelled) {
  RETURN_IF_ERROR(CheckRequestId(request_id));
  std::unique_lock<std::mutex> request_lock(SubmitRequestMutex(), std::defer_lock);
  if (!request_id.empty()) request_lock.lock();
  ASSIGN_OR_RETURN(auto prior, PriorSubmit(store_, request_id, in));
  if (prior) return *prior;
  // CheckSpec's fields are the spec's: their paths get "spec." here, where that is known.
  // A cancellation names no field.
  auto checked = CheckSpec(in, cancelled);
  if (!checked.ok() && absl::IsCancelled(checked.status())) return checked.status();
  if (!checked.ok()) return InField(checked.status(), "spec.");
  return Enqueue(*checked, in, request_id);
}

absl::StatusOr<v1::SearchSpec> JobManager::CheckSpec(const v1::SearchSpec& in,
                                                     const std::function<bool()>& cancelled) const {
  SubmitContext c;
  c.store = store_;
  c.catalog = catalog_;
  c.resolve_space = [this](const v1::SearchSpec& s) { return ResolveSpace(s); };
  c.max_population = opts_.max_population;
  c.max_generations = opts_.max_generations;
  c.max_evaluations = opts_.max_evaluations;
  c.max_runtime_s = opts_.max_runtime_s;
  c.cancelled = cancelled;
  return CheckSubmitSpec(in, c);
}

absl::StatusOr<v1::Job> JobManager::Enqueue(const v1::SearchSpec& spec, const v1::SearchSpec& in,
                                            const std::string& request_id) {
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return absl::UnavailableError("lutnasd is shutting down; submit again after it restarts");
    if (static_cast<int64_t>(queue_.size()) + submitting_ >= opts_.max_queued_jobs)
      return absl::ResourceExhaustedError(StrCat(
          "max_queued_jobs: ", queue_.size() + submitting_, " jobs already wait for a worker (limit ",
          opts_.max_queued_jobs, ", lutnasd --max_queued_jobs); wait for some to finish or cancel them"));
    ++submitting_;
  }
  auto created =
      request_id.empty() ? store_->CreateJob(spec) : store_->CreateJobForRequest(spec, request_id, in);
  {
    absl::MutexLock l(&mu_);
    --submitting_;
    if (created.ok()) queue_.push_back(*created);
  }
  if (!created.ok()) return created.status();
  queue_cv_.Signal();
  return store_->GetJob(*created);
}

absl::StatusOr<v1::Job> JobManager::Cancel(int64_t id) {
  ASSIGN_OR_RETURN(v1::Job job, store_->GetJob(id));
  auto ended = [&](const v1::Job& j) {
    return absl::FailedPreconditionError(
        StrCat("job ", id, " already ended (", v1::JobState_Name(j.state()), ")"));
  };
  if (Terminal(job.state())) return ended(job);
  std::shared_ptr<Running> run;
  {
    // A worker takes a job off the queue and into running_ under mu_, so
    // here it is in exactly one of them (or neither: it ended).
    absl::ReleasableMutexLock l(&mu_);
    auto it = running_.find(id);
    if (it != running_.end()) {
      run = it->second;
    } else {
      queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
      ASSIGN_OR_RETURN(job, store_->GetJob(id));
      if (Terminal(job.state())) return ended(job);
      RETURN_IF_ERROR(
          store_->UpdateJob(id, v1::JOB_CANCELLED, "cancelled before it started", job.progress()));
      l.Release();
      Notify();
      return store_->GetJob(id);
    }
  }
  {
    // Stored before it is answered: after a crash the job does not resume.
    absl::MutexLock l(&run->db_mu);
    ASSIGN_OR_RETURN(job, store_->GetJob(id));
    if (run->final_written || Terminal(job.state())) return ended(job);
    run->cancel = true;
    RETURN_IF_ERROR(store_->UpdateJob(id, v1::JOB_CANCELLED, "cancelled", job.progress()));
  }
  run->told.SignalAll();
  Notify();
  // The worker checks before every candidate evaluation; wait until it has
  // stopped, so that no answer of JOB_CANCELLED leaves it running.
  {
    absl::MutexLock l(&mu_);
    const absl::Time deadline = absl::Now() + absl::Seconds(opts_.cancel_wait_s);
    while (!run->done && !stopping_)
      if (finished_cv_.WaitWithDeadline(&mu_, deadline)) break;  // true: timed out
  }
  return store_->GetJob(id);
}

absl::StatusOr<v1::Job> JobManager::WaitForChange(int64_t id, int64_t since, int timeout_ms) {
  ASSIGN_OR_RETURN(v1::Job job, store_->GetJob(id));
  if (job.updated_unix_ms() != since || Terminal(job.state())) return job;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return job;
    const uint64_t seq = change_seq_;
    const absl::Time deadline = absl::Now() + absl::Milliseconds(timeout_ms);
    while (change_seq_ == seq && !stopping_)
      if (change_cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return store_->GetJob(id);
}

v1::Candidate JobManager::MakeCandidate(const v1::SearchSpec& spec, const space::Space& space,
                                        const search::Individual& ind, int64_t job_id) {
  v1::Candidate c;
  c.set_job_id(job_id);
  const v1::Architecture arch = space.ToArchitecture(ind.genotype);
  c.set_arch_hash(space::ArchHash(arch));
  *c.mutable_arch() = arch;
  c.set_genotype(ind.key);
  c.set_score(ind.eval.score);
  c.set_params(ind.eval.params);
  c.set_macs(ind.eval.macs);
  c.set_mac_bytes(latency::AnalyzeNetwork(arch).total.mac_bytes);  // not in Evaluation: computed here
  c.set_feasible(ind.feasible);
  c.set_generation(ind.generation);
  std::vector<std::pair<std::string, int64_t>> hws;
  for (const auto& b : spec.budgets()) hws.push_back({b.hardware(), b.table_version()});
  for (const auto& h : spec.report_hardware()) hws.push_back({h, 0});
  for (const auto& [hw, ver] : hws) {
    auto p = catalog_->Get(hw, ver);
    if (!p.ok()) continue;
    *c.add_latency() = (*p)->Predict(arch, false);
  }
  return c;
}

void JobManager::WorkerLoop() {
  for (;;) {
    int64_t id;
    auto run = std::make_shared<Running>();
    {
      absl::MutexLock l(&mu_);
      while (!stopping_ && queue_.empty()) queue_cv_.Wait(&mu_);
      if (stopping_) return;
      id = queue_.front();
      queue_.pop_front();
      running_[id] = run;  // with the pop, under one lock: Cancel sees it in one place
    }
    RunJob(id, run);
  }
}

bool JobManager::WriteUnlessCancelled(int64_t id, Running* run, v1::JobState state, const v1::Progress& p) {
  absl::MutexLock l(&run->db_mu);
  if (run->cancel) return false;
  (void)store_->UpdateJob(id, state, "", p);
  return true;
}

void JobManager::RunJob(int64_t id, const std::shared_ptr<Running>& run) {
  v1::Progress last;
  auto job = store_->GetJob(id);
  absl::Status st = absl::OkStatus();
  const bool skip = job.ok() && Terminal(job->state());  // cancelled while queued
  if (!skip) st = job.ok() ? RunJobInner(id, run.get(), &last) : job.status();
  const bool stopping = stop_flag_;
  // An ended job has nothing in progress.
  last.set_generation_evaluated(0);
  last.set_generation_eta_s(0);
  last.set_eta_s(0);
  {
    absl::MutexLock l(&run->db_mu);
    if (skip) {
    } else if (run->cancel) {
      (void)store_->UpdateJob(id, v1::JOB_CANCELLED, "cancelled", last);
    } else if (stopping && st.code() == absl::StatusCode::kAborted) {
      // Stays RUNNING: resumes at next start from its last checkpoint.
    } else if (!st.ok()) {
      (void)store_->UpdateJob(id, v1::JOB_FAILED, std::string(st.message()), last);
    } else {
      (void)store_->UpdateJob(id, v1::JOB_SUCCEEDED, "", last);
    }
    run->final_written = true;
  }
  {
    absl::MutexLock l(&mu_);
    running_.erase(id);
    run->done = true;
  }
  finished_cv_.SignalAll();
  Notify();
}

absl::Status JobManager::RunJobInner(int64_t id, Running* run, v1::Progress* last) {
  ASSIGN_OR_RETURN(v1::Job job, store_->GetJob(id));
  run->spec = job.spec();
  *last = job.progress();
  ASSIGN_OR_RETURN(run->space, ResolveSpace(run->spec));
  std::vector<std::shared_ptr<const latency::LatencyPredictor>> preds;
  for (const auto& b : run->spec.budgets()) {
    ASSIGN_OR_RETURN(auto p, catalog_->Get(b.hardware(), b.table_version()));
    preds.push_back(p);
  }
  const absl::Status kShutdown =
      absl::AbortedError("lutnasd is shutting down; the job resumes at next start");
  LutEvaluator::Options eo;
  eo.objective = run->spec.objective();
  eo.proxy.resolution = run->spec.proxy_resolution();
  eo.proxy.batch = run->spec.proxy_batch();
  eo.proxy.seed = run->spec.seed();
  eo.threads = opts_.eval_threads;
  // Cancel and shutdown take effect before the next candidate evaluation.
  eo.check = [this, run, &kShutdown]() -> absl::Status {
    if (run->cancel) return absl::CancelledError("cancelled");
    if (stop_flag_) return kShutdown;
    return absl::OkStatus();
  };
  // Progress within a generation: one event per evaluated batch, with ETAs.
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  v1::Progress step_base;     // the last committed progress
  int64_t step_done = 0;      // evaluations finished in the generation in progress (earlier calls)
  int64_t run_evaluated = 0;  // evaluations in this run (for the rate)
  auto last_event = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  double base_elapsed = 0;
  eo.on_batch = [&](size_t done, size_t total) {
    const int64_t in_gen = step_done + static_cast<int64_t>(done);
    if (done == total) {
      step_done += static_cast<int64_t>(total);
      run_evaluated += static_cast<int64_t>(total);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_event < std::chrono::milliseconds(200)) return;  // cheap objectives: at most 5 events/s
    last_event = now;
    const double elapsed = seconds_since(t0);
    const int64_t evals_here = run_evaluated + (done == total ? 0 : static_cast<int64_t>(done));
    const double per_eval = evals_here > 0 ? elapsed / static_cast<double>(evals_here) : 0;
    const int64_t pop = run->spec.population();
    const int64_t job_total = pop * (static_cast<int64_t>(run->spec.generations()) + 1);
    v1::Progress p = step_base;
    p.set_elapsed_s(base_elapsed + elapsed);
    // The evaluations this generation needs so far: the population, or more
    // once initial samples or repairs outnumber it (so never "112/16").
    const int64_t planned =
        std::max(pop, done == total ? step_done : step_done + static_cast<int64_t>(total));
    p.set_generation_evaluated(in_gen);
    p.set_generation_size(static_cast<int32_t>(std::min<int64_t>(planned, INT32_MAX)));
    p.set_generation_eta_s(per_eval * static_cast<double>(std::max<int64_t>(0, planned - in_gen)));
    p.set_eta_s(per_eval *
                static_cast<double>(std::max<int64_t>(0, job_total - step_base.evaluated() - in_gen)));
    if (WriteUnlessCancelled(id, run, v1::JOB_RUNNING, p)) Notify();
  };
  LutEvaluator evaluator(run->space, preds, eo, &proxies_);
  ASSIGN_OR_RETURN(
      auto engine,
      search::Engine::Create(run->space, EngineOptionsOf(run->spec, opts_.max_evaluations), &evaluator));
  auto cp = store_->LoadCheckpoint(id);
  if (cp.ok()) {
    RETURN_IF_ERROR(engine->Restore(*cp));
    const v1::Progress at = engine->progress();
    // The daemon's log says so: a restart resumed this job, not a new start.
    std::fprintf(stderr,
                 "lutnasd: job %lld resumed from its checkpoint at generation %d of %d (%lld evaluated)\n",
                 static_cast<long long>(id), at.generation(), at.generations(),
                 static_cast<long long>(at.evaluated()));
  } else if (cp.status().code() != absl::StatusCode::kNotFound) {
    return cp.status();
  }
  {
    absl::MutexLock l(&run->mu);
    run->engine = engine.get();
  }
  step_base = engine->progress();
  base_elapsed = step_base.elapsed_s();
  if (!WriteUnlessCancelled(id, run, v1::JOB_RUNNING, step_base)) return absl::CancelledError("cancelled");
  Notify();
  absl::Status result = absl::OkStatus();
  while (!engine->Done()) {
    if (stop_flag_) {
      result = kShutdown;
      break;
    }
    if (run->cancel) break;
    const double elapsed = base_elapsed + seconds_since(t0);
    if (elapsed > run->spec.max_runtime_s()) {
      result = absl::DeadlineExceededError(
          StrCat("stopped: the job ran past its max_runtime_s of ", run->spec.max_runtime_s(), " s"));
      break;
    }
    absl::ReleasableMutexLock l(&run->mu);
    step_done = 0;
    auto report = engine->Step();
    if (!report.ok()) {
      if (run->spec.objective() == v1::EXTERNAL &&
          base::HasReason(report.status(), search::kWaitingForScores)) {
        run->told.WaitWithTimeout(&run->mu, absl::Milliseconds(200));
        continue;
      }
      result = report.status();
      break;
    }
    const std::string checkpoint = engine->Checkpoint();
    const v1::Progress progress = engine->progress();
    l.Release();
    std::vector<v1::Candidate> cands;
    for (const auto& ind : report->evaluated) cands.push_back(MakeCandidate(run->spec, *run->space, ind, id));
    std::vector<std::string> pareto;
    for (const auto& ind : report->pareto)
      pareto.push_back(space::ArchHash(run->space->ToArchitecture(ind.genotype)));
    {
      absl::MutexLock dl(&run->db_mu);
      if (run->cancel) break;  // cancelled and stored as such: nothing more is written
      RETURN_IF_ERROR(store_->CommitGeneration(id, checkpoint, cands, pareto, progress));
    }
    *last = progress;
    step_base = progress;
    Notify();
  }
  {
    absl::MutexLock l(&run->mu);
    run->engine = nullptr;
  }
  // *last stays the last committed progress: the engine's own counts the
  // generation a cancel, a failure or the runtime cap dropped (evaluations,
  // a best score and a Pareto front nobody can find among the candidates).
  last->set_elapsed_s(base_elapsed + seconds_since(t0));
  return result;
}

absl::StatusOr<std::vector<v1::Candidate>> JobManager::Ask(int64_t job_id, int count,
                                                           std::chrono::milliseconds max_wait,
                                                           const std::function<bool()>& cancelled) {
  if (count < 1 || count > 1000) return Invalid("count", StrCat("must be in 1..1000, got ", count));
  ASSIGN_OR_RETURN(v1::Job job, store_->GetJob(job_id));
  if (job.spec().objective() != v1::EXTERNAL)
    return absl::FailedPreconditionError(StrCat("job ", job_id, " does not use the EXTERNAL objective"));
  // A queued or starting job: wait for a change of any job (Notify follows
  // the worker publishing its engine, and the end of every job), up to the
  // caller's deadline and at most kMaxWait; cancellation is checked between
  // slices of the wait (a gRPC thread learns of it only by asking).
  constexpr auto kMaxWait = std::chrono::seconds(10);
  constexpr auto kSlice = std::chrono::milliseconds(100);
  const bool caller_first = max_wait < kMaxWait;
  const auto until =
      std::chrono::steady_clock::now() +
      (caller_first ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(max_wait)
                    : std::chrono::duration_cast<std::chrono::steady_clock::duration>(kMaxWait));
  for (;;) {
    std::shared_ptr<Running> run;
    uint64_t seq;
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return absl::UnavailableError("lutnasd is shutting down; ask again after it restarts");
      seq = change_seq_;  // read before looking: a change after this wakes the wait below
      auto it = running_.find(job_id);
      if (it != running_.end()) run = it->second;
    }
    if (run) {
      absl::MutexLock l(&run->mu);
      if (run->engine) {
        ASSIGN_OR_RETURN(auto inds, run->engine->Ask(count));
        std::vector<v1::Candidate> out;
        for (const auto& ind : inds) {
          out.push_back(MakeCandidate(run->spec, *run->space, ind, job_id));
          run->pending[out.back().arch_hash()] = ind.key;
        }
        return out;
      }
    }
    ASSIGN_OR_RETURN(job, store_->GetJob(job_id));
    if (Terminal(job.state()))
      return absl::FailedPreconditionError(
          StrCat("job ", job_id, " already ended (", v1::JobState_Name(job.state()), ")"));
    if (cancelled && cancelled()) return absl::CancelledError("ask cancelled");
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) {
      if (caller_first)
        return absl::DeadlineExceededError(
            StrCat("job ", job_id, " did not start running before the call's deadline; retry"));
      return absl::UnavailableError(StrCat("job ", job_id, " is not running yet; retry"));
    }
    absl::MutexLock l(&mu_);
    const absl::Time slice_end = absl::Now() + absl::FromChrono(std::min(until, now + kSlice) - now);
    while (change_seq_ == seq && !stopping_)
      if (change_cv_.WaitWithDeadline(&mu_, slice_end)) break;
  }
}

absl::StatusOr<int> JobManager::Tell(int64_t job_id, const std::map<std::string, double>& scores) {
  if (scores.empty()) return Invalid("scores", "at least one score is needed");
  ASSIGN_OR_RETURN(v1::Job job, store_->GetJob(job_id));
  std::shared_ptr<Running> run;
  {
    absl::MutexLock l(&mu_);
    auto it = running_.find(job_id);
    if (it != running_.end()) run = it->second;
  }
  if (!run) return absl::FailedPreconditionError(StrCat("job ", job_id, " is not running"));
  absl::MutexLock l(&run->mu);
  if (!run->engine) return absl::FailedPreconditionError(StrCat("job ", job_id, " is not running"));
  for (const auto& [hash, score] : scores) {
    if (!std::isfinite(score))
      return Invalid(StrCat("scores[", hash.substr(0, 32), "]"), StrCat("must be finite, got ", score));
    if (!run->pending.count(hash))
      return absl::NotFoundError(
          StrCat("scores[", hash.substr(0, 32), "]: no pending candidate with that arch_hash"));
  }
  int n = 0;
  for (const auto& [hash, score] : scores) {
    RETURN_IF_ERROR(run->engine->Tell(run->pending[hash], score));
    run->pending.erase(hash);
    ++n;
  }
  run->told.SignalAll();
  return n;
}

}  // namespace lutnas::core
