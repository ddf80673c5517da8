// The job core (core::JobManager, Catalog, SeedHardwareCatalogue) under
// storage faults: a real SQLite file behind core::DbStorage, wrapped in
// fault::FaultStorage to fail chosen calls, and real searches (tiny space,
// PARAMS objective, so no LibTorch proxy runs).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "core/db_storage.h"
#include "core/hardware_catalogue.h"
#include "core/job_manager.h"
#include "core/predictor_catalog.h"
#include "db/store.h"
#include "space/space.h"
#include "tests/fault_storage.h"

namespace lutnas::core {
namespace {

namespace fs = std::filesystem;
using fault::DiskFull;
using fault::FaultStorage;

bool Terminal(v1::JobState s) {
  return s == v1::JOB_SUCCEEDED || s == v1::JOB_FAILED || s == v1::JOB_CANCELLED;
}

class JobCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lutnas-job-core-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto st = db::Store::Open(dir_ + "/t.db");
    ASSERT_TRUE(st.ok()) << st.status();
    store_ = std::move(*st);
    db_storage_ = std::make_unique<DbStorage>(store_.get());
    fault_ = std::make_unique<FaultStorage>(db_storage_.get());
    ASSERT_TRUE(SeedHardwareCatalogue(fault_.get(), "server/hardware_catalog.json").ok());
    AddTinyTable();
    catalog_ = std::make_unique<Catalog>(fault_.get());
    jobs_ = std::make_unique<JobManager>(fault_.get(), catalog_.get(), JobManager::Options());
  }
  void TearDown() override {
    jobs_.reset();
    catalog_.reset();
    fault_.reset();
    db_storage_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  // A synthetic table of every tiny-space key for host-cpu, stored directly.
  void AddTinyTable() {
    auto sp = space::Space::Load("search/spaces/tiny.json");
    ASSERT_TRUE(sp.ok()) << sp.status();
    v1::LatencyTable t;
    t.mutable_info()->set_hardware("host-cpu");
    t.mutable_info()->set_backend("libtorch-cpu");
    t.mutable_info()->set_space("tiny");
    double ms = 0.02;
    for (const auto& k : (*sp)->EnumerateKeys()) {
      auto* e = t.add_entries();
      e->set_key(k.key);
      e->set_median_ms(ms += 0.003);
      e->set_samples(9);
      e->set_status(v1::ENTRY_MEASURED);
    }
    auto info = store_->AddTable(t);
    ASSERT_TRUE(info.ok()) << info.status();
  }

  static v1::SearchSpec Spec() {
    v1::SearchSpec spec;
    spec.set_space("tiny");
    spec.set_objective(v1::PARAMS);
    spec.set_algorithm(v1::NSGA2);
    spec.set_population(8);
    spec.set_generations(4);
    spec.set_seed(3);
    auto* b = spec.add_budgets();
    b->set_hardware("host-cpu");
    b->set_max_ms(1000);
    return spec;
  }

  v1::Job WaitForEnd(int64_t id) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    v1::Job job;
    while (std::chrono::steady_clock::now() < deadline) {
      auto j = store_->GetJob(id);
      EXPECT_TRUE(j.ok()) << j.status();
      if (!j.ok()) break;
      job = *j;
      if (Terminal(job.state())) return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "job " << id << " did not end: " << job.ShortDebugString();
    return job;
  }

  // (arch hash, generation) of every stored candidate of a job.
  std::set<std::pair<std::string, int>> Stored(int64_t job_id) {
    v1::ListCandidatesRequest req;
    req.set_job_id(job_id);
    req.set_page_size(1000);
    auto page = store_->ListCandidates(req);
    EXPECT_TRUE(page.ok()) << page.status();
    std::set<std::pair<std::string, int>> out;
    if (page.ok())
      for (const auto& c : page->candidates) out.insert({c.arch_hash(), c.generation()});
    return out;
  }

  std::string dir_;
  std::unique_ptr<db::Store> store_;
  std::unique_ptr<DbStorage> db_storage_;
  std::unique_ptr<FaultStorage> fault_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<JobManager> jobs_;
};

// A full disk on the third generation's commit ends the job FAILED with the
// store's message; the two generations committed before stay whole (the same
// candidates an unfaulted run of the same seed stores for them), the failed
// generation leaves nothing, and later writes succeed once the disk is freed.
TEST_F(JobCoreTest, CandidateWriteFailingMidSearchFailsTheJobAndKeepsEarlierGenerations) {
  ASSERT_TRUE(jobs_->Start().ok());
  fault_->FailAfter("CommitGeneration", 2, DiskFull("CommitGeneration"));
  auto submitted = jobs_->Submit(Spec());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const v1::Job failed = WaitForEnd(submitted->id());
  EXPECT_EQ(failed.state(), v1::JOB_FAILED);
  EXPECT_EQ(failed.error(), "CommitGeneration: database or disk is full (free disk space and try again)");
  EXPECT_EQ(fault_->calls("CommitGeneration"), 2);
  EXPECT_EQ(fault_->failures("CommitGeneration"), 1);
  EXPECT_EQ(failed.progress().generation(), 1);  // the last committed generation
  auto checkpoint = store_->LoadCheckpoint(failed.id());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_FALSE(checkpoint->empty());
  const auto kept = Stored(failed.id());
  EXPECT_GE(kept.size(), 8u);

  // Disk freed: the same search runs to the end, and its first two
  // generations are exactly what the failed job kept.
  fault_->Heal();
  auto again = jobs_->Submit(Spec());
  ASSERT_TRUE(again.ok()) << again.status();
  const v1::Job done = WaitForEnd(again->id());
  EXPECT_EQ(done.state(), v1::JOB_SUCCEEDED) << done.error();
  EXPECT_EQ(done.progress().generation(), 4);
  std::set<std::pair<std::string, int>> first_two;
  for (const auto& [hash, gen] : Stored(again->id()))
    if (gen <= 1) first_two.insert({hash, gen});
  EXPECT_EQ(kept, first_two);
  EXPECT_GT(Stored(again->id()).size(), kept.size());
  // The failed job is still there, unchanged.
  auto reread = store_->GetJob(failed.id());
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->state(), v1::JOB_FAILED);
  EXPECT_EQ(Stored(failed.id()), kept);
}

// A disk that fills during the third generation's commit also refuses the
// job's FAILED state: the row stays RUNNING at its last committed generation,
// and once space is freed the next start resumes it from that checkpoint to
// the very results of an unfaulted run of the same seed.
TEST_F(JobCoreTest, AJobTheFullDiskCouldNotMarkFailedResumesAtNextStart) {
  ASSERT_TRUE(jobs_->Start().ok());
  fault_->FillDiskAfter("CommitGeneration", 2);
  auto submitted = jobs_->Submit(Spec());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const int64_t id = submitted->id();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (fault_->failures("CommitGeneration") == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(fault_->failures("CommitGeneration"), 1);
  jobs_->Shutdown();  // joins the worker: its write of JOB_FAILED has been refused
  EXPECT_GE(fault_->failures("UpdateJob"), 1);
  auto stuck = store_->GetJob(id);
  ASSERT_TRUE(stuck.ok()) << stuck.status();
  EXPECT_EQ(stuck->state(), v1::JOB_RUNNING);
  EXPECT_EQ(stuck->progress().generation(), 1);
  const auto kept = Stored(id);

  fault_->Heal();
  jobs_ = std::make_unique<JobManager>(fault_.get(), catalog_.get(), JobManager::Options());
  ASSERT_TRUE(jobs_->Start().ok());
  const v1::Job resumed = WaitForEnd(id);
  EXPECT_EQ(resumed.state(), v1::JOB_SUCCEEDED) << resumed.error();
  EXPECT_EQ(resumed.progress().generation(), 4);
  auto control = jobs_->Submit(Spec());
  ASSERT_TRUE(control.ok()) << control.status();
  EXPECT_EQ(WaitForEnd(control->id()).state(), v1::JOB_SUCCEEDED);
  const auto all = Stored(id);
  EXPECT_EQ(all, Stored(control->id()));
  for (const auto& row : kept) EXPECT_EQ(all.count(row), 1u) << row.first;
}

// A full disk when the job row is created: Submit answers the store's
// RESOURCE_EXHAUSTED, no job is stored or queued, and the next Submit works.
TEST_F(JobCoreTest, SubmitOnAFullDiskStoresNothingAndTheNextSubmitWorks) {
  ASSERT_TRUE(jobs_->Start().ok());
  fault_->FailAfter("CreateJob", 0, DiskFull("CreateJob"));
  auto refused = jobs_->Submit(Spec());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_EQ(refused.status().message(),
            "CreateJob: database or disk is full (free disk space and try again)");
  EXPECT_TRUE(store_->ListJobs()->empty());
  fault_->Heal();
  auto ok = jobs_->Submit(Spec());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->id(), 1);
  EXPECT_EQ(WaitForEnd(ok->id()).state(), v1::JOB_SUCCEEDED);
}

// An idempotent submit whose request row cannot be written leaves no job
// behind; its retry after the fault creates exactly one job.
TEST_F(JobCoreTest, RequestIdSubmitOnAFullDiskCanBeRetried) {
  ASSERT_TRUE(jobs_->Start().ok());
  fault_->FailAfter("CreateJobForRequest", 0, DiskFull("CreateJobForRequest"));
  auto refused = jobs_->Submit(Spec(), "req-1");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_TRUE(store_->ListJobs()->empty());
  fault_->Heal();
  auto first = jobs_->Submit(Spec(), "req-1");
  ASSERT_TRUE(first.ok()) << first.status();
  auto repeat = jobs_->Submit(Spec(), "req-1");
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_EQ(repeat->id(), first->id());
  EXPECT_EQ(store_->ListJobs()->size(), 1u);
  WaitForEnd(first->id());
}

// Start() reports a storage that cannot list jobs instead of running blind,
// and works once the storage answers again.
TEST_F(JobCoreTest, StartReportsAnUnreadableStore) {
  fault_->FailAfter("JobsInState", 0, absl::DataLossError("t.db: database disk image is malformed"));
  absl::Status st = jobs_->Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_EQ(st.message(), "t.db: database disk image is malformed");
  fault_->Heal();
  EXPECT_TRUE(jobs_->Start().ok());
}

// A lookup failing while the catalogue loads a predictor is passed on with
// its code, and nothing is cached: the next Get loads the table.
TEST_F(JobCoreTest, CatalogPassesOnATableReadErrorAndCachesNothing) {
  fault_->FailAfter("GetTable", 0, absl::UnavailableError("database is locked"));
  auto p = catalog_->Get("host-cpu");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnavailable) << p.status();
  fault_->Heal();
  p = catalog_->Get("host-cpu");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(fault_->calls("GetTable"), 1);
}

// Seeding the catalogue into an empty store stops at the first write that
// fails, naming the file and the hardware.
TEST_F(JobCoreTest, SeedingNamesTheHardwareAFullDiskRefused) {
  auto fresh = db::Store::Open(dir_ + "/fresh.db");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  DbStorage db(fresh->get());
  FaultStorage faulty(&db);
  faulty.FailAfter("PutHardware", 2, DiskFull("PutHardware"));
  absl::Status st = SeedHardwareCatalogue(&faulty, "server/hardware_catalog.json");
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_EQ(st.message().rfind("server/hardware_catalog.json: ", 0), 0u) << st;
  EXPECT_NE(st.message().find("database or disk is full"), std::string::npos) << st;
  EXPECT_EQ((*fresh)->ListHardware()->size(), 2u);  // the two written before stay
}

// A job cancelled in the middle of a generation reports the progress of what
// it stored: the generation in progress is dropped, so neither its
// evaluations nor its best score nor its Pareto front may be reported (a
// best score no stored candidate has). EXTERNAL scores make "the middle of a
// generation" exact: generation 0 is told in full and committed, then three
// of generation 1 are told scores above any of generation 0's, then Cancel.
TEST_F(JobCoreTest, ACancelledJobReportsOnlyWhatItStored) {
  ASSERT_TRUE(jobs_->Start().ok());
  v1::SearchSpec spec = Spec();
  spec.set_objective(v1::EXTERNAL);
  auto job = jobs_->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  const int64_t id = job->id();
  auto tell = [&](int count, double base) {
    auto asked = jobs_->Ask(id, 8);
    ASSERT_TRUE(asked.ok()) << asked.status();
    ASSERT_GE(static_cast<int>(asked->size()), count);
    std::map<std::string, double> scores;
    for (int i = 0; i < count; ++i) scores[(*asked)[i].arch_hash()] = base + i;
    auto told = jobs_->Tell(id, scores);
    ASSERT_TRUE(told.ok()) << told.status();
  };
  // Generation 0 in full (asked until the engine asks no more of it).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Stored(id).empty() && std::chrono::steady_clock::now() < deadline) {
    auto asked = jobs_->Ask(id, 8);
    ASSERT_TRUE(asked.ok()) << asked.status();
    std::map<std::string, double> scores;
    for (const auto& c : *asked) scores[c.arch_hash()] = 10;
    if (!scores.empty()) ASSERT_TRUE(jobs_->Tell(id, scores).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(Stored(id).empty()) << "generation 0 was never committed";
  tell(3, 1000);  // generation 1, in part
  auto cancelled = jobs_->Cancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  const v1::Job end = WaitForEnd(id);
  ASSERT_EQ(end.state(), v1::JOB_CANCELLED);

  v1::ListCandidatesRequest req;
  req.set_job_id(id);
  req.set_page_size(1000);
  auto page = store_->ListCandidates(req);
  ASSERT_TRUE(page.ok()) << page.status();
  double best = 0;
  int pareto = 0;
  for (const auto& c : page->candidates) {
    if (c.feasible()) best = std::max(best, c.score());
    pareto += c.pareto();
  }
  EXPECT_EQ(end.progress().evaluated(), page->total);
  EXPECT_EQ(end.progress().best_score(), best);
  EXPECT_LT(end.progress().best_score(), 1000);
  EXPECT_EQ(end.progress().pareto_size(), pareto);
  EXPECT_EQ(end.progress().generation(), 0);
  EXPECT_EQ(end.progress().generation_evaluated(), 0);
  EXPECT_EQ(end.progress().eta_s(), 0);
}

// Ask on a job that is queued (no worker started) waits on the job
// manager's change condition within the caller's bounds: the caller's
// deadline ends it with DEADLINE_EXCEEDED, the caller's cancellation with
// CANCELLED, and the job starting wakes it with candidates.
TEST_F(JobCoreTest, AskWaitsForAQueuedJobWithinTheCallersDeadlineAndCancellation) {
  v1::SearchSpec spec = Spec();
  spec.set_objective(v1::EXTERNAL);
  auto job = jobs_->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  const int64_t id = job->id();

  auto late = jobs_->Ask(id, 4, std::chrono::milliseconds(30));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();

  auto gone = jobs_->Ask(id, 4, std::chrono::milliseconds::max(), [] { return true; });
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kCancelled) << gone.status();

  // A caller with a long deadline is woken by the worker publishing its
  // engine (Notify), not by a timer running out.
  absl::StatusOr<std::vector<v1::Candidate>> asked = absl::UnknownError("not asked");
  std::thread asker([&] {
    // UNAVAILABLE "not running yet; retry" after Ask's own 10 s cap, on a very slow host.
    for (int i = 0; i < 30; ++i) {
      asked = jobs_->Ask(id, 4, std::chrono::minutes(5));
      if (asked.status().code() != absl::StatusCode::kUnavailable) break;
    }
  });
  ASSERT_TRUE(jobs_->Start().ok());
  asker.join();
  ASSERT_TRUE(asked.ok()) << asked.status();
  EXPECT_EQ(asked->size(), 4u);
  for (const auto& c : *asked) EXPECT_EQ(c.job_id(), id);
  ASSERT_TRUE(jobs_->Cancel(id).ok());
}

// Submit's feasibility sampling stops when the caller goes away (a gRPC
// call's cancellation or deadline): a budget no network meets is refused
// with FAILED_PRECONDITION after sampling, but a caller cancelled during the
// sampling gets CANCELLED, and nothing is stored either way.
TEST_F(JobCoreTest, ACancelledSubmitStopsItsFeasibilitySamplingAndStoresNothing) {
  v1::SearchSpec spec = Spec();
  spec.mutable_budgets(0)->set_max_ms(1e-6);  // no tiny network is this fast
  auto refused = jobs_->Submit(spec);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();

  std::atomic<int> asked{0};
  auto cancelled = jobs_->Submit(spec, "", [&] { return ++asked > 3; });
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  EXPECT_EQ(cancelled.status().message(), "submit cancelled: nothing stored");
  auto jobs = store_->ListJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_TRUE(jobs->empty());
}

}  // namespace
}  // namespace lutnas::core
