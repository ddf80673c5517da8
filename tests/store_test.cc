// Tests of db::Store against real SQLite files in a fresh temp directory.
// A raw sqlite3 connection stands in for "another process" (locks, foreign
// schema versions) and checks integrity after every test.
#include "db/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

#include "tests/fault_vfs.h"

namespace lutnas::db {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

void ExpectStatus(const absl::Status& st, absl::StatusCode code, const std::string& message) {
  EXPECT_EQ(st.code(), code) << st;
  EXPECT_EQ(st.message(), message);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A raw connection: "another process" for lock tests, and integrity checks.
class RawDb {
 public:
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  int Exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  // The first column of the first row, as text ("" when none).
  std::string Query(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

v1::Hardware MakeHardware(const std::string& name) {
  v1::Hardware hw;
  hw.set_name(name);
  hw.set_description("test device " + name);
  hw.set_backend("libtorch-cpu");
  hw.set_precision("fp32");
  hw.set_threads(4);
  hw.set_peak_gops(123.5);
  hw.add_precisions("fp32");
  hw.add_precisions("int8");
  return hw;
}

v1::LatencyEntry Entry(const std::string& key, double median, v1::EntryStatus status,
                       const std::string& error = "") {
  v1::LatencyEntry e;
  e.set_key(key);
  e.set_median_ms(median);
  e.set_iqr_ms(median / 10);
  e.set_p10_ms(median * 0.9);
  e.set_p90_ms(median * 1.1);
  e.set_samples(status == v1::ENTRY_MEASURED ? 30 : 0);
  e.set_status(status);
  e.set_error(error);
  return e;
}

v1::LatencyTable MakeTable(const std::string& hardware, int n_measured) {
  v1::LatencyTable t;
  t.mutable_info()->set_hardware(hardware);
  t.mutable_info()->set_backend("libtorch-cpu");
  t.mutable_info()->set_tool("lutnas-profile 0.1");
  t.mutable_info()->set_space("edge");
  t.mutable_info()->set_source("profile");
  t.mutable_info()->set_reference_ms(3.25);
  for (int i = 0; i < n_measured; ++i) {
    *t.add_entries() =
        Entry(absl::StrCat("conv:o", 16 * (i + 1), ",k3,s1,g1,relu@16x16x16"), 0.5 + i, v1::ENTRY_MEASURED);
  }
  *t.add_entries() =
      Entry("mbconv:o16,e6,k7,s1,se0,relu6@16x16x16", 0, v1::ENTRY_FAILED, "unsupported op 'hardswish'");
  return t;
}

v1::Candidate MakeCandidate(const std::string& hash, double score, int64_t params,
                            const std::vector<std::pair<std::string, double>>& latency = {}) {
  v1::Candidate c;
  c.set_arch_hash(hash);
  c.set_score(score);
  c.set_params(params);
  c.set_macs(params * 10);
  c.set_mac_bytes(params * 4);
  c.set_feasible(params % 2 == 0);
  c.set_generation(1);
  c.set_genotype("genotype-" + hash);
  c.mutable_arch()->set_name("net-" + hash);
  c.mutable_arch()->set_resolution(64);
  c.mutable_arch()->mutable_head()->set_num_classes(10);
  for (const auto& [hw, ms] : latency) {
    v1::Prediction* p = c.add_latency();
    p->set_hardware(hw);
    p->set_table_version(1);
    p->set_latency_ms(ms);
    p->set_sum_ms(ms * 0.9);
    v1::BlockLatency* b = p->add_blocks();
    b->set_where("head");
    b->set_key("linear_c10");
    b->set_latency_ms(ms);
  }
  return c;
}

v1::Progress MakeProgress(int generation) {
  v1::Progress p;
  p.set_generation(generation);
  p.set_generations(20);
  p.set_evaluated(100 * generation);
  p.set_best_score(0.5 * generation);
  return p;
}

std::vector<int64_t> Ids(const CandidatePage& page) {
  std::vector<int64_t> ids;
  for (const v1::Candidate& c : page.candidates) ids.push_back(c.id());
  return ids;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lutnas_store_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/nested/dir/lutnas.db";  // Open creates the parents
    store_ = OpenOrDie();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    if (check_integrity_ && fs::exists(path_)) {
      RawDb raw(path_);
      EXPECT_EQ(raw.Query("PRAGMA integrity_check"), "ok");
      EXPECT_EQ(raw.Query("PRAGMA foreign_key_check"), "");
    }
    fs::remove_all(dir_);
  }

  std::unique_ptr<Store> OpenOrDie(const OpenOptions& opts = {}) {
    absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(path_, opts);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  int64_t NewJob(const std::string& name = "job") {
    v1::SearchSpec spec;
    spec.set_name(name);
    absl::StatusOr<int64_t> id = store_->CreateJob(spec);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or(0);
  }

  CandidatePage List(const v1::ListCandidatesRequest& req) {
    absl::StatusOr<CandidatePage> page = store_->ListCandidates(req);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? std::move(*page) : CandidatePage();
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  bool check_integrity_ = true;
};

// ------------------------------------------------------------- hardware

TEST_F(StoreTest, HardwareCrud) {
  const v1::Hardware rk = MakeHardware("rk3588-npu");
  ASSERT_TRUE(store_->PutHardware(rk, false).ok());
  absl::StatusOr<v1::Hardware> got = store_->GetHardware("rk3588-npu");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*got, rk));

  ExpectStatus(store_->PutHardware(rk, false), absl::StatusCode::kAlreadyExists,
               "hardware 'rk3588-npu' is already registered");
  v1::Hardware changed = rk;
  changed.set_description("updated");
  ASSERT_TRUE(store_->PutHardware(changed, true).ok());
  EXPECT_EQ(store_->GetHardware("rk3588-npu")->description(), "updated");

  ASSERT_TRUE(store_->PutHardware(MakeHardware("x86-avx2"), false).ok());
  ASSERT_TRUE(store_->PutHardware(MakeHardware("a100"), true).ok());  // update creates
  absl::StatusOr<std::vector<v1::Hardware>> all = store_->ListHardware();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name(), "a100");
  EXPECT_EQ((*all)[1].name(), "rk3588-npu");
  EXPECT_EQ((*all)[2].name(), "x86-avx2");

  ExpectStatus(store_->GetHardware("nope").status(), absl::StatusCode::kNotFound,
               "hardware 'nope' is not registered");
  ExpectStatus(store_->DeleteHardware("nope"), absl::StatusCode::kNotFound,
               "hardware 'nope' is not registered");
  ASSERT_TRUE(store_->DeleteHardware("a100").ok());
  EXPECT_EQ(store_->GetHardware("a100").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListHardware()->size(), 2u);
}

class HardwareNameTest : public StoreTest,
                         public ::testing::WithParamInterface<std::pair<std::string, bool>> {};

TEST_P(HardwareNameTest, ValidatesName) {
  const auto& [name, valid] = GetParam();
  const absl::Status st = store_->PutHardware(MakeHardware(name), false);
  if (valid) {
    EXPECT_TRUE(st.ok()) << st;
  } else {
    ExpectStatus(st, absl::StatusCode::kInvalidArgument,
                 "name: must match [a-z0-9][a-z0-9._-]{0,63}, got '" + name + "'");
  }
}

INSTANTIATE_TEST_SUITE_P(Names, HardwareNameTest,
                         ::testing::Values(std::make_pair("a", true), std::make_pair("0", true),
                                           std::make_pair("jetson-orin.nano_fp16", true),
                                           std::make_pair(std::string(64, 'z'), true),
                                           std::make_pair("", false), std::make_pair("Upper", false),
                                           std::make_pair("-lead", false), std::make_pair(".lead", false),
                                           std::make_pair("has space", false), std::make_pair("a/b", false),
                                           std::make_pair("dot.", true),
                                           std::make_pair(std::string(65, 'z'), false)));

TEST_F(StoreTest, HardwareNameIsEscapedInMessages) {
  ExpectStatus(store_->PutHardware(MakeHardware("quote'd"), false), absl::StatusCode::kInvalidArgument,
               "name: must match [a-z0-9][a-z0-9._-]{0,63}, got 'quote\\'d'");
  const absl::Status st = store_->PutHardware(MakeHardware(std::string("a\nb\0z", 5)), false);
  ExpectStatus(st, absl::StatusCode::kInvalidArgument,
               "name: must match [a-z0-9][a-z0-9._-]{0,63}, got 'a\\nb\\x00z'");
}

// ------------------------------------------------------------- tables

TEST_F(StoreTest, TablesAreVersioned) {
  ASSERT_TRUE(store_->PutHardware(MakeHardware("cpu"), false).ok());
  ASSERT_TRUE(store_->PutHardware(MakeHardware("npu"), false).ok());
  v1::LatencyTable t1 = MakeTable("cpu", 3);
  {  // the store applies the one table rule (latency_models/table_io): no inf/NaN stored
    v1::LatencyTable bad = t1;
    bad.mutable_entries(0)->set_p90_ms(kInf);
    ExpectStatus(store_->AddTable(bad).status(), absl::StatusCode::kInvalidArgument,
                 "entries[0]: p90_ms: must be a finite number >= 0, got inf");
    bad = t1;
    bad.mutable_entries(1)->set_iqr_ms(kNaN);
    EXPECT_EQ(store_->AddTable(bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
  const v1::LatencyTable t2 = MakeTable("cpu", 5);

  absl::StatusOr<v1::TableInfo> info1 = store_->AddTable(t1);
  ASSERT_TRUE(info1.ok()) << info1.status();
  EXPECT_EQ(info1->hardware(), "cpu");
  EXPECT_EQ(info1->version(), 1);
  EXPECT_EQ(info1->entries(), 4);
  EXPECT_EQ(info1->failed(), 1);
  EXPECT_GT(info1->created_unix_ms(), 1600000000000);
  EXPECT_EQ(info1->tool(), "lutnas-profile 0.1");
  EXPECT_EQ(info1->reference_ms(), 3.25);
  absl::StatusOr<v1::TableInfo> info2 = store_->AddTable(t2);
  ASSERT_TRUE(info2.ok()) << info2.status();
  EXPECT_EQ(info2->version(), 2);
  EXPECT_EQ(info2->entries(), 6);
  ASSERT_TRUE(store_->AddTable(MakeTable("npu", 1)).ok());

  absl::StatusOr<v1::LatencyTable> latest = store_->GetTable("cpu", 0);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_TRUE(MessageDifferencer::Equals(latest->info(), *info2));
  absl::StatusOr<v1::LatencyTable> first = store_->GetTable("cpu", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(MessageDifferencer::Equals(first->info(), *info1));
  ASSERT_EQ(first->entries_size(), t1.entries_size());
  for (int i = 0; i < t1.entries_size(); ++i) {  // exact, in upload order
    EXPECT_TRUE(MessageDifferencer::Equals(first->entries(i), t1.entries(i)))
        << first->entries(i).DebugString();
  }
  EXPECT_EQ(first->entries(3).error(), "unsupported op 'hardswish'");
  EXPECT_EQ(first->entries(3).status(), v1::ENTRY_FAILED);
  EXPECT_TRUE(MessageDifferencer::Equals(*store_->GetTableInfo("cpu", 2), *info2));

  absl::StatusOr<std::vector<v1::TableInfo>> all = store_->ListTables("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].hardware(), "cpu");
  EXPECT_EQ((*all)[0].version(), 2);
  EXPECT_EQ((*all)[1].version(), 1);
  EXPECT_EQ((*all)[2].hardware(), "npu");
  EXPECT_EQ(store_->ListTables("npu")->size(), 1u);
  ExpectStatus(store_->ListTables("ghost").status(), absl::StatusCode::kNotFound,
               "hardware 'ghost' is not registered");
}

TEST_F(StoreTest, TableErrors) {
  ASSERT_TRUE(store_->PutHardware(MakeHardware("cpu"), false).ok());
  ASSERT_TRUE(store_->PutHardware(MakeHardware("empty"), false).ok());
  ExpectStatus(store_->AddTable(MakeTable("ghost", 1)).status(), absl::StatusCode::kNotFound,
               "hardware 'ghost' is not registered");
  ExpectStatus(store_->AddTable(MakeTable("", 1)).status(), absl::StatusCode::kInvalidArgument,
               "info.hardware: must match [a-z0-9][a-z0-9._-]{0,63}, got ''");
  v1::LatencyTable dup = MakeTable("cpu", 2);
  *dup.add_entries() = dup.entries(1);
  ExpectStatus(store_->AddTable(dup).status(), absl::StatusCode::kInvalidArgument,
               "entries[3]: key: duplicate of entries[1]");
  EXPECT_TRUE(store_->ListTables("cpu")->empty());  // nothing half-stored

  ASSERT_TRUE(store_->AddTable(MakeTable("cpu", 1)).ok());
  ExpectStatus(store_->GetTable("cpu", 2).status(), absl::StatusCode::kNotFound,
               "latency table 'cpu' version 2 not found");
  ExpectStatus(store_->GetTable("empty", 0).status(), absl::StatusCode::kNotFound,
               "hardware 'empty' has no latency table");
  ExpectStatus(store_->GetTableInfo("ghost", 0).status(), absl::StatusCode::kNotFound,
               "hardware 'ghost' is not registered");
  ExpectStatus(store_->GetTable("cpu", -1).status(), absl::StatusCode::kInvalidArgument,
               "version: must be >= 0, got -1");
  ASSERT_TRUE(store_->AddTable(MakeTable("cpu", 0)).ok());
  ExpectStatus(store_->DeleteHardware("cpu"), absl::StatusCode::kFailedPrecondition,
               "hardware 'cpu' still has 2 latency tables; it cannot be deleted");
  EXPECT_TRUE(store_->DeleteHardware("empty").ok());
}

TEST_F(StoreTest, SetCorrectionChangesOnlyThatVersion) {
  ASSERT_TRUE(store_->PutHardware(MakeHardware("cpu"), false).ok());
  const v1::LatencyTable t1 = MakeTable("cpu", 2);
  ASSERT_TRUE(store_->AddTable(t1).ok());
  ASSERT_TRUE(store_->AddTable(MakeTable("cpu", 3)).ok());
  v1::Correction c;
  c.set_scale(1.15);
  c.set_offset_ms(0.4);
  c.set_fitted_on(12);
  c.set_mape_before(0.21);
  c.set_mape_after(0.06);

  absl::StatusOr<v1::TableInfo> info = store_->SetCorrection("cpu", 1, c);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(MessageDifferencer::Equals(info->correction(), c));
  EXPECT_EQ(info->version(), 1);
  EXPECT_TRUE(MessageDifferencer::Equals(store_->GetTableInfo("cpu", 1)->correction(), c));
  EXPECT_FALSE(store_->GetTableInfo("cpu", 2)->has_correction());
  absl::StatusOr<v1::LatencyTable> back = store_->GetTable("cpu", 1);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->entries_size(), t1.entries_size());
  EXPECT_TRUE(MessageDifferencer::Equals(back->entries(0), t1.entries(0)));

  c.set_scale(0.9);
  ASSERT_TRUE(store_->SetCorrection("cpu", 0, c).ok());  // 0: latest
  EXPECT_EQ(store_->GetTableInfo("cpu", 2)->correction().scale(), 0.9);
  EXPECT_EQ(store_->GetTableInfo("cpu", 1)->correction().scale(), 1.15);

  c.set_scale(kNaN);
  ExpectStatus(store_->SetCorrection("cpu", 1, c).status(), absl::StatusCode::kInvalidArgument,
               "correction.scale: must be finite, got nan");
  c.set_scale(1);
  c.set_offset_ms(-kInf);
  ExpectStatus(store_->SetCorrection("cpu", 1, c).status(), absl::StatusCode::kInvalidArgument,
               "correction.offset_ms: must be finite, got -inf");
  c.set_offset_ms(0);
  ExpectStatus(store_->SetCorrection("cpu", 7, c).status(), absl::StatusCode::kNotFound,
               "latency table 'cpu' version 7 not found");
}

// ------------------------------------------------------------- jobs

TEST_F(StoreTest, JobLifecycle) {
  v1::SearchSpec spec;
  spec.set_name("edge-search");
  spec.set_space("edge");
  spec.set_algorithm(v1::NSGA2);
  v1::LatencyBudget* b = spec.add_budgets();
  b->set_hardware("cpu");
  b->set_max_ms(12.5);
  spec.set_seed(42);
  absl::StatusOr<int64_t> id = store_->CreateJob(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 1);

  absl::StatusOr<v1::Job> job = store_->GetJob(*id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->id(), 1);
  EXPECT_TRUE(MessageDifferencer::Equals(job->spec(), spec));
  EXPECT_EQ(job->state(), v1::JOB_QUEUED);
  EXPECT_EQ(job->error(), "");
  EXPECT_TRUE(MessageDifferencer::Equals(job->progress(), v1::Progress()));
  EXPECT_GT(job->created_unix_ms(), 1600000000000);
  EXPECT_EQ(job->updated_unix_ms(), job->created_unix_ms());

  const int64_t second = NewJob("second");
  EXPECT_EQ(second, 2);
  absl::StatusOr<std::vector<v1::Job>> jobs = store_->ListJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].id(), 2);  // newest first
  EXPECT_EQ((*jobs)[0].spec().name(), "second");
  EXPECT_EQ(*store_->JobsInState(v1::JOB_QUEUED), (std::vector<int64_t>{1, 2}));

  ASSERT_TRUE(store_->UpdateJob(1, v1::JOB_RUNNING, "", MakeProgress(3)).ok());
  job = store_->GetJob(1);
  EXPECT_EQ(job->state(), v1::JOB_RUNNING);
  EXPECT_TRUE(MessageDifferencer::Equals(job->progress(), MakeProgress(3)));
  EXPECT_GE(job->updated_unix_ms(), job->created_unix_ms());
  EXPECT_EQ(*store_->JobsInState(v1::JOB_RUNNING), (std::vector<int64_t>{1}));
  EXPECT_EQ(*store_->JobsInState(v1::JOB_QUEUED), (std::vector<int64_t>{2}));
  ASSERT_TRUE(store_->UpdateJob(1, v1::JOB_FAILED, "proxy ran out of memory", MakeProgress(4)).ok());
  EXPECT_EQ(store_->GetJob(1)->error(), "proxy ran out of memory");
  EXPECT_TRUE(store_->JobsInState(v1::JOB_SUCCEEDED)->empty());

  ExpectStatus(store_->GetJob(99).status(), absl::StatusCode::kNotFound, "job 99 not found");
  ExpectStatus(store_->UpdateJob(99, v1::JOB_RUNNING, "", {}), absl::StatusCode::kNotFound,
               "job 99 not found");
  ExpectStatus(store_->UpdateJob(1, static_cast<v1::JobState>(42), "", {}),
               absl::StatusCode::kInvalidArgument, "state: must be a known job state, got 42");
  ExpectStatus(store_->JobsInState(v1::JOB_STATE_UNSPECIFIED).status(), absl::StatusCode::kInvalidArgument,
               "state: must be a known job state, got 0");
  ExpectStatus(store_->LoadCheckpoint(1).status(), absl::StatusCode::kNotFound,
               "job 1 has no checkpoint yet");
  ExpectStatus(store_->LoadCheckpoint(99).status(), absl::StatusCode::kNotFound, "job 99 not found");
}

TEST_F(StoreTest, ConcurrentCallersAreSerialised) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<int64_t> job = store_->CreateJob(v1::SearchSpec());
        ASSERT_TRUE(job.ok()) << job.status();
        ASSERT_TRUE(store_
                        ->CommitGeneration(*job, "ck",
                                           {MakeCandidate(absl::StrCat(t, "-", i), i, 10, {{"cpu", 1.0}})},
                                           {}, MakeProgress(1))
                        .ok());
        ASSERT_TRUE(store_->ListCandidates(v1::ListCandidatesRequest()).ok());
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(store_->ListJobs()->size(), 40u);
  EXPECT_EQ(*store_->CountCandidates(0), 40);
}

// ------------------------------------------------------------- generations

TEST_F(StoreTest, CommitGenerationIsIdempotent) {
  const int64_t job = NewJob();
  std::vector<v1::Candidate> gen0;
  for (int i = 0; i < 10; ++i) {
    gen0.push_back(MakeCandidate(absl::StrCat("h", i), i * 0.1, 1000 + i, {{"cpu", 2.0 + i}}));
  }
  ASSERT_TRUE(store_->CommitGeneration(job, "ck0", gen0, {"h1", "h2"}, MakeProgress(0)).ok());
  EXPECT_EQ(*store_->CountCandidates(job), 10);
  const std::vector<int64_t> ids0 = Ids(List(v1::ListCandidatesRequest()));
  ASSERT_EQ(ids0.size(), 10u);

  // Replaying the same generation (crash before the engine moved on).
  ASSERT_TRUE(store_->CommitGeneration(job, "ck0", gen0, {"h1", "h2"}, MakeProgress(0)).ok());
  EXPECT_EQ(*store_->CountCandidates(job), 10);
  EXPECT_EQ(Ids(List(v1::ListCandidatesRequest())), ids0);
  EXPECT_EQ(*store_->CountCandidates(0), 10);

  // Next generation overlaps the first in h5..h9.
  std::vector<v1::Candidate> gen1;
  for (int i = 5; i < 15; ++i) {
    gen1.push_back(MakeCandidate(absl::StrCat("h", i), i * 0.1, 1000 + i, {{"cpu", 2.0 + i}}));
  }
  const std::string checkpoint("binary\0checkpoint\xff", 18);
  ASSERT_TRUE(store_->CommitGeneration(job, checkpoint, gen1, {"h12"}, MakeProgress(1)).ok());
  EXPECT_EQ(*store_->CountCandidates(job), 15);
  EXPECT_EQ(*store_->LoadCheckpoint(job), checkpoint);
  EXPECT_TRUE(MessageDifferencer::Equals(store_->GetJob(job)->progress(), MakeProgress(1)));

  v1::ListCandidatesRequest pareto;
  pareto.set_pareto_only(true);
  CandidatePage front = List(pareto);
  ASSERT_EQ(front.candidates.size(), 1u);  // h1, h2 were reset
  EXPECT_EQ(front.candidates[0].arch_hash(), "h12");
  EXPECT_TRUE(front.candidates[0].pareto());
  EXPECT_EQ(front.total, 1);

  // Full round trip through GetCandidate; List drops per-block breakdowns.
  const int64_t id = front.candidates[0].id();
  absl::StatusOr<v1::Candidate> got = store_->GetCandidate(id);
  ASSERT_TRUE(got.ok()) << got.status();
  v1::Candidate want = gen1[7];
  want.set_id(id);
  want.set_job_id(job);
  want.set_pareto(true);
  EXPECT_TRUE(MessageDifferencer::Equals(*got, want)) << got->DebugString();
  EXPECT_EQ(front.candidates[0].latency(0).blocks_size(), 0);
  EXPECT_EQ(front.candidates[0].latency(0).latency_ms(), 14.0);

  ASSERT_TRUE(store_->CommitGeneration(job, "", {}, {}, MakeProgress(2)).ok());
  EXPECT_EQ(*store_->LoadCheckpoint(job), "");  // empty, not missing
  EXPECT_EQ(List(pareto).total, 0);
}

TEST_F(StoreTest, NonFiniteValuesRoundTrip) {
  const int64_t job = NewJob();
  v1::Candidate odd = MakeCandidate("odd", kNaN, 7, {{"cpu", kInf}, {"npu", kNaN}});
  ASSERT_TRUE(store_->CommitGeneration(job, "ck", {odd, MakeCandidate("even", 1, 8)}, {}, {}).ok());
  absl::StatusOr<v1::Candidate> got = store_->GetCandidate(1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(std::isnan(got->score()));
  EXPECT_EQ(got->latency(0).latency_ms(), kInf);
  EXPECT_TRUE(std::isnan(got->latency(1).latency_ms()));

  v1::ListCandidatesRequest req;
  req.set_hardware("cpu");
  req.set_max_latency_ms(kInf);
  EXPECT_EQ(List(req).total, 1);
  req.set_hardware("npu");  // NaN is no latency: never within a budget
  EXPECT_EQ(List(req).total, 0);
  req = v1::ListCandidatesRequest();
  req.set_order_by("score");
  EXPECT_EQ(List(req).candidates.size(), 2u);
}

TEST_F(StoreTest, CommitGenerationErrorsStoreNothing) {
  const int64_t job = NewJob();
  ExpectStatus(store_->CommitGeneration(99, "ck", {MakeCandidate("a", 1, 1)}, {}, {}),
               absl::StatusCode::kNotFound, "job 99 not found");
  ExpectStatus(
      store_->CommitGeneration(job, "ck", {MakeCandidate("a", 1, 1), MakeCandidate("", 1, 1)}, {}, {}),
      absl::StatusCode::kInvalidArgument, "candidates[1].arch_hash: must be set");
  v1::Candidate wrong_job = MakeCandidate("a", 1, 1);
  wrong_job.set_job_id(job + 1);
  ExpectStatus(store_->CommitGeneration(job, "ck", {wrong_job}, {}, {}), absl::StatusCode::kInvalidArgument,
               "candidates[0].job_id: must be 0 or 1, got 2");
  ExpectStatus(
      store_->CommitGeneration(job, "ck", {MakeCandidate("a", 1, 1, {{"cpu", 1}, {"cpu", 2}})}, {}, {}),
      absl::StatusCode::kInvalidArgument,
      "candidates[0].latency[1].hardware: must be set and unique, got 'cpu'");
  EXPECT_EQ(*store_->CountCandidates(0), 0);
  EXPECT_EQ(store_->LoadCheckpoint(job).status().code(), absl::StatusCode::kNotFound);
  ExpectStatus(store_->GetCandidate(42).status(), absl::StatusCode::kNotFound, "candidate 42 not found");
}

// ------------------------------------------------------------- candidates

class CandidateListTest : public StoreTest {
 protected:
  // Job 1: 20 candidates, score i % 7 (ties), params 1000 (i + 1), latency
  // on cpu 1 + i/2 ms, on npu (even i only) 20 - i ms; Pareto {h3, h4}.
  // Job 2: 5 candidates.
  void SetUp() override {
    StoreTest::SetUp();
    job1_ = NewJob("one");
    job2_ = NewJob("two");
    std::vector<v1::Candidate> cands;
    for (int i = 0; i < 20; ++i) {
      std::vector<std::pair<std::string, double>> lat = {{"cpu", 1.0 + i * 0.5}};
      if (i % 2 == 0) lat.emplace_back("npu", 20.0 - i);
      cands.push_back(MakeCandidate(absl::StrCat("h", i), i % 7, 1000 * (i + 1), lat));
    }
    ASSERT_TRUE(store_->CommitGeneration(job1_, "ck", cands, {"h3", "h4"}, {}).ok());
    cands.clear();
    for (int i = 0; i < 5; ++i) cands.push_back(MakeCandidate(absl::StrCat("h", i), 1, 1, {{"cpu", 1}}));
    ASSERT_TRUE(store_->CommitGeneration(job2_, "ck", cands, {"h0"}, {}).ok());
  }

  v1::ListCandidatesRequest Job1() {
    v1::ListCandidatesRequest req;
    req.set_job_id(job1_);
    return req;
  }

  int64_t job1_ = 0;
  int64_t job2_ = 0;
};

TEST_F(CandidateListTest, Filters) {
  CandidatePage all = List(v1::ListCandidatesRequest());
  EXPECT_EQ(all.total, 25);
  EXPECT_EQ(all.candidates.size(), 25u);
  EXPECT_EQ(all.next_page_token, "");

  CandidatePage one = List(Job1());
  EXPECT_EQ(one.total, 20);
  for (size_t i = 1; i < one.candidates.size(); ++i) {
    EXPECT_LT(one.candidates[i - 1].id(), one.candidates[i].id());
    EXPECT_EQ(one.candidates[i].job_id(), job1_);
  }

  v1::ListCandidatesRequest req = Job1();
  req.set_pareto_only(true);
  CandidatePage front = List(req);
  ASSERT_EQ(front.total, 2);
  EXPECT_EQ(front.candidates[0].arch_hash(), "h3");
  EXPECT_EQ(front.candidates[1].arch_hash(), "h4");

  req = Job1();
  req.set_hardware("cpu");
  req.set_max_latency_ms(3.0);  // i <= 4
  EXPECT_EQ(List(req).total, 5);
  req.set_max_latency_ms(kInf);
  EXPECT_EQ(List(req).total, 20);
  req.set_hardware("npu");  // only even i have an npu prediction
  EXPECT_EQ(List(req).total, 10);
  req.set_hardware("tpu");
  EXPECT_EQ(List(req).total, 0);

  req = Job1();
  req.set_max_params(5000);
  EXPECT_EQ(List(req).total, 5);
  req.set_hardware("cpu");
  req.set_max_latency_ms(2.0);  // i <= 2
  req.set_pareto_only(false);
  EXPECT_EQ(List(req).total, 3);

  req = v1::ListCandidatesRequest();
  req.set_job_id(12345);  // unknown job: an empty page, not an error
  CandidatePage none = List(req);
  EXPECT_EQ(none.total, 0);
  EXPECT_TRUE(none.candidates.empty());
  EXPECT_EQ(none.next_page_token, "");
}

TEST_F(CandidateListTest, Sorting) {
  v1::ListCandidatesRequest req = Job1();
  req.set_order_by("score");
  req.set_descending(true);
  CandidatePage page = List(req);
  ASSERT_EQ(page.candidates.size(), 20u);
  for (size_t i = 1; i < page.candidates.size(); ++i) {
    const v1::Candidate& a = page.candidates[i - 1];
    const v1::Candidate& b = page.candidates[i];
    EXPECT_TRUE(a.score() > b.score() || (a.score() == b.score() && a.id() < b.id())) << "position " << i;
  }
  EXPECT_EQ(page.candidates[0].score(), 6);

  req.set_order_by("params");
  EXPECT_EQ(List(req).candidates[0].params(), 20000);
  req.set_order_by("macs");
  req.set_descending(false);
  EXPECT_EQ(List(req).candidates[0].macs(), 10000);
  req.set_order_by("id");
  req.set_descending(true);
  EXPECT_EQ(List(req).candidates[0].arch_hash(), "h19");

  req = Job1();
  req.set_hardware("npu");
  req.set_max_latency_ms(100);
  req.set_order_by("latency");
  page = List(req);
  ASSERT_EQ(page.candidates.size(), 10u);
  EXPECT_EQ(page.candidates[0].arch_hash(), "h18");  // 2 ms on npu
  EXPECT_EQ(page.candidates[9].arch_hash(), "h0");   // 20 ms
  req.set_descending(true);
  EXPECT_EQ(List(req).candidates[0].arch_hash(), "h0");
}

struct BadRequest {
  std::string name;
  v1::ListCandidatesRequest req;
  std::string message;
};

std::vector<BadRequest> BadRequests() {
  std::vector<BadRequest> out;
  auto add = [&](const std::string& name, auto set, const std::string& message) {
    v1::ListCandidatesRequest req;
    set(req);
    out.push_back({name, req, message});
  };
  using R = v1::ListCandidatesRequest;
  add(
      "PageSizeNegative", [](R& r) { r.set_page_size(-1); }, "page_size: must be in 0..1000, got -1");
  add(
      "PageSizeTooBig", [](R& r) { r.set_page_size(1001); }, "page_size: must be in 0..1000, got 1001");
  add(
      "TokenGarbage", [](R& r) { r.set_page_token("garbage"); }, "page_token: malformed");
  add(
      "TokenNegative", [](R& r) { r.set_page_token("o-5"); }, "page_token: malformed");
  add(
      "TokenBare", [](R& r) { r.set_page_token("o"); }, "page_token: malformed");
  add(
      "TokenOverflow", [](R& r) { r.set_page_token("o99999999999999999999"); }, "page_token: malformed");
  add(
      "TokenNul", [](R& r) { r.set_page_token(std::string("o1\0", 3)); }, "page_token: malformed");
  add(
      "OrderUnknown", [](R& r) { r.set_order_by("name; DROP TABLE jobs"); },
      "order_by: must be one of id, score, params, macs, latency, got 'name; DROP TABLE jobs'");
  add(
      "OrderLatencyNoHardware", [](R& r) { r.set_order_by("latency"); },
      "order_by: 'latency' needs hardware to be set");
  add(
      "HardwareNegativeMax",
      [](R& r) {
        r.set_hardware("cpu");
        r.set_max_latency_ms(-1);
      },
      "max_latency_ms: must be >= 0 (0: no bound), got -1");
  add(
      "HardwareNaNMax",
      [](R& r) {
        r.set_hardware("cpu");
        r.set_max_latency_ms(kNaN);
      },
      "max_latency_ms: must be >= 0 (0: no bound), got nan");
  add(
      "MaxNoHardware", [](R& r) { r.set_max_latency_ms(5); },
      "hardware: must be set when max_latency_ms is set");
  add(
      "NaNMaxNoHardware", [](R& r) { r.set_max_latency_ms(kNaN); },
      "hardware: must be set when max_latency_ms is set");
  add(
      "MaxParamsNegative", [](R& r) { r.set_max_params(-1); }, "max_params: must be >= 0, got -1");
  add(
      "JobIdNegative", [](R& r) { r.set_job_id(-3); }, "job_id: must be >= 0, got -3");
  return out;
}

class BadListRequestTest : public CandidateListTest, public ::testing::WithParamInterface<BadRequest> {};

TEST_P(BadListRequestTest, IsInvalidArgument) {
  ExpectStatus(store_->ListCandidates(GetParam().req).status(), absl::StatusCode::kInvalidArgument,
               GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Requests, BadListRequestTest, ::testing::ValuesIn(BadRequests()),
                         [](const auto& p) { return p.param.name; });

TEST_F(StoreTest, PaginationVisitsEachCandidateOnce) {
  const int64_t job = NewJob();
  std::vector<v1::Candidate> cands;
  for (int i = 0; i < 237; ++i) {
    cands.push_back(MakeCandidate(absl::StrCat("p", i), i % 5, i, {{"cpu", 1}}));
  }
  ASSERT_TRUE(store_->CommitGeneration(job, "ck", cands, {}, {}).ok());

  v1::ListCandidatesRequest req;
  req.set_order_by("score");
  req.set_descending(true);
  std::vector<v1::Candidate> seen;
  int pages = 0;
  do {
    CandidatePage page = List(req);
    ASSERT_EQ(page.total, 237);
    ASSERT_LE(page.candidates.size(), 50u);  // page_size 0 -> 50
    seen.insert(seen.end(), page.candidates.begin(), page.candidates.end());
    req.set_page_token(page.next_page_token);
    ASSERT_LT(++pages, 10);
  } while (!req.page_token().empty());
  EXPECT_EQ(pages, 5);
  ASSERT_EQ(seen.size(), 237u);
  std::set<int64_t> ids;
  for (size_t i = 0; i < seen.size(); ++i) {
    ids.insert(seen[i].id());
    if (i > 0) {
      EXPECT_TRUE(seen[i - 1].score() > seen[i].score() ||
                  (seen[i - 1].score() == seen[i].score() && seen[i - 1].id() < seen[i].id()));
    }
  }
  EXPECT_EQ(ids.size(), 237u);

  req.set_page_size(1000);
  req.set_page_token("o500");  // past the end: empty, last page
  CandidatePage past = List(req);
  EXPECT_TRUE(past.candidates.empty());
  EXPECT_EQ(past.next_page_token, "");
  EXPECT_EQ(past.total, 237);
}

// ------------------------------------------------------------- files

TEST_F(StoreTest, PersistsAcrossReopen) {
  ASSERT_TRUE(store_->PutHardware(MakeHardware("cpu"), false).ok());
  const v1::LatencyTable table = MakeTable("cpu", 4);
  ASSERT_TRUE(store_->AddTable(table).ok());
  const int64_t job = NewJob("persist");
  ASSERT_TRUE(
      store_->CommitGeneration(job, "ck", {MakeCandidate("a", 0.5, 10, {{"cpu", 3}})}, {"a"}, MakeProgress(1))
          .ok());
  store_.reset();

  OpenOptions opts;
  opts.create_if_missing = false;
  store_ = OpenOrDie(opts);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->GetHardware("cpu")->name(), "cpu");
  absl::StatusOr<v1::LatencyTable> back = store_->GetTable("cpu", 0);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->entries_size(), table.entries_size());
  EXPECT_TRUE(MessageDifferencer::Equals(back->entries(4), table.entries(4)));
  EXPECT_EQ(store_->GetJob(job)->spec().name(), "persist");
  EXPECT_EQ(*store_->LoadCheckpoint(job), "ck");
  EXPECT_EQ(*store_->CountCandidates(job), 1);
  EXPECT_TRUE(store_->GetCandidate(1)->pareto());
  EXPECT_EQ(NewJob(), job + 1);

  RawDb raw(path_);
  EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Query("PRAGMA user_version"), "3");
}

TEST_F(StoreTest, OpenValidatesArguments) {
  store_.reset();
  OpenOptions opts;
  opts.create_if_missing = false;
  const std::string missing = dir_ + "/absent/lutnas.db";
  ExpectStatus(Store::Open(missing, opts).status(), absl::StatusCode::kNotFound,
               "database file '" + missing + "' does not exist");
  EXPECT_FALSE(fs::exists(dir_ + "/absent"));
  ExpectStatus(Store::Open("", {}).status(), absl::StatusCode::kInvalidArgument, "path: must not be empty");
  opts.busy_timeout_ms = -1;
  ExpectStatus(Store::Open(path_, opts).status(), absl::StatusCode::kInvalidArgument,
               "busy_timeout_ms: must be >= 0, got -1");
  EXPECT_EQ(Store::Open(dir_, {}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StoreTest, NewerSchemaIsRefusedAndUntouched) {
  store_.reset();
  {
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec("PRAGMA user_version = 7"), SQLITE_OK);
  }
  const std::string before = ReadFile(path_);
  ExpectStatus(Store::Open(path_, {}).status(), absl::StatusCode::kFailedPrecondition,
               "database schema version 7 is newer than this lutnasd supports (3)");
  EXPECT_EQ(ReadFile(path_), before);
  RawDb raw(path_);
  EXPECT_EQ(raw.Query("PRAGMA user_version"), "7");
}

TEST_F(StoreTest, GarbageFileIsDataLossAndUntouched) {
  check_integrity_ = false;
  store_.reset();
  const std::string garbage = dir_ + "/garbage.db";
  std::string bytes;
  for (int i = 0; i < 200; ++i) bytes += "this is not an SQLite database. ";
  WriteFile(garbage, bytes);
  absl::Status st = Store::Open(garbage, {}).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find(garbage), std::string::npos) << st;
  EXPECT_EQ(ReadFile(garbage), bytes);
  EXPECT_FALSE(fs::exists(garbage + "-wal"));
}

TEST_F(StoreTest, CorruptPageIsDataLoss) {
  check_integrity_ = false;
  const int64_t job = NewJob();
  std::vector<v1::Candidate> cands;
  for (int i = 0; i < 200; ++i) cands.push_back(MakeCandidate(absl::StrCat("c", i), i, i));
  ASSERT_TRUE(store_->CommitGeneration(job, "ck", cands, {}, {}).ok());
  store_.reset();
  std::string bytes = ReadFile(path_);
  ASSERT_GT(bytes.size(), 8 * 4096u);
  for (size_t i = 4 * 4096; i < 6 * 4096; ++i) bytes[i] = static_cast<char>(0xA5 ^ i);
  WriteFile(path_, bytes);
  absl::Status st = Store::Open(path_, {}).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find(path_), std::string::npos) << st;
  EXPECT_EQ(ReadFile(path_), bytes);
}

TEST_F(StoreTest, LockedByAnotherProcessIsUnavailable) {
  OpenOptions fast;
  fast.busy_timeout_ms = 50;
  // A database another process holds exclusively (rollback journal).
  const std::string other = dir_ + "/other.db";
  {
    RawDb raw(other);
    ASSERT_EQ(raw.Exec("BEGIN EXCLUSIVE; CREATE TABLE t (x);"), SQLITE_OK);
    absl::Status st = Store::Open(other, fast).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
    EXPECT_NE(st.message().find("locked"), std::string::npos) << st;
    ASSERT_EQ(raw.Exec("ROLLBACK"), SQLITE_OK);
  }
  EXPECT_TRUE(Store::Open(other, fast).ok());

  // Our own WAL database while another connection holds the write lock.
  store_.reset();
  store_ = OpenOrDie(fast);
  ASSERT_NE(store_, nullptr);
  RawDb raw(path_);
  ASSERT_EQ(raw.Exec("BEGIN EXCLUSIVE"), SQLITE_OK);
  absl::Status st = store_->PutHardware(MakeHardware("cpu"), false);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_EQ(store_->CreateJob(v1::SearchSpec()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store_->ListHardware().ok());  // readers are not blocked in WAL
  ASSERT_EQ(raw.Exec("COMMIT"), SQLITE_OK);
  EXPECT_TRUE(store_->PutHardware(MakeHardware("cpu"), false).ok());
}

TEST_F(StoreTest, ReadOnlyFileIsFailedPrecondition) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
  store_.reset();
  fs::permissions(path_, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  absl::Status st = Store::Open(path_, {}).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  fs::permissions(path_, fs::perms::owner_write, fs::perm_options::add);
}

// The disk fills (tests/fault_vfs.h: writes that would grow a file fail with
// SQLITE_FULL, as ENOSPC does) in the middle of a large generation.
TEST_F(StoreTest, DiskFullIsResourceExhaustedAndRecoverable) {
  fault::FaultVfs& vfs = fault::FaultVfs::Install();
  struct Freed {  // the next tests get a disk with space, whatever happens here
    ~Freed() { fault::FaultVfs::Install().set_full(false); }
  } freed;
  store_.reset();
  store_ = OpenOrDie();  // through the fault VFS
  ASSERT_NE(store_, nullptr);
  const int64_t job = NewJob();
  ASSERT_TRUE(
      store_->CommitGeneration(job, "ck0", {MakeCandidate("first", 1, 1)}, {"first"}, MakeProgress(0)).ok());
  vfs.set_full(true);

  std::vector<v1::Candidate> big;
  for (int i = 0; i < 200; ++i) {
    v1::Candidate c = MakeCandidate(absl::StrCat("big", i), i, i, {{"cpu", 1}});
    c.set_genotype(std::string(2000, 'g'));
    big.push_back(c);
  }
  absl::Status st = store_->CommitGeneration(job, "ck1", big, {"big0"}, MakeProgress(1));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_EQ(st.message(), "CommitGeneration: database or disk is full (free disk space and try again)");
  EXPECT_GT(vfs.refused_writes(), 0);

  // Rolled back whole; reads work.
  EXPECT_EQ(*store_->CountCandidates(job), 1);
  EXPECT_EQ(*store_->LoadCheckpoint(job), "ck0");
  EXPECT_EQ(store_->GetJob(job)->progress().generation(), 0);
  v1::ListCandidatesRequest pareto;
  pareto.set_pareto_only(true);
  EXPECT_EQ(List(pareto).candidates.at(0).arch_hash(), "first");

  vfs.set_full(false);  // space freed
  ASSERT_TRUE(store_->CommitGeneration(job, "ck1", big, {"big0"}, MakeProgress(1)).ok());
  EXPECT_EQ(*store_->CountCandidates(job), 201);
  EXPECT_EQ(*store_->LoadCheckpoint(job), "ck1");
}

// Not a timing assertion: 100,000 candidates in 1,000 generations of 100
// must simply work (and stay quick enough for a unit test).
TEST_F(StoreTest, HundredThousandCandidates) {
  const int64_t job = NewJob();
  const auto start = std::chrono::steady_clock::now();
  std::vector<v1::Candidate> batch;
  for (int gen = 0; gen < 1000; ++gen) {
    batch.clear();
    for (int i = 0; i < 100; ++i) {
      const int n = gen * 100 + i;
      batch.push_back(
          MakeCandidate(absl::StrCat("bulk", n), n % 997, n, {{"cpu", (n % 1000) * 0.01}, {"npu", 1}}));
    }
    ASSERT_TRUE(store_->CommitGeneration(job, "ck", batch, {batch[0].arch_hash()}, MakeProgress(gen)).ok());
  }
  const double insert_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(*store_->CountCandidates(job), 100000);

  v1::ListCandidatesRequest req;
  req.set_job_id(job);
  req.set_hardware("cpu");
  req.set_max_latency_ms(0.055);  // n % 1000 <= 5: 600 rows
  req.set_order_by("latency");
  req.set_page_size(1000);
  CandidatePage page = List(req);
  EXPECT_EQ(page.total, 600);
  EXPECT_EQ(page.candidates.size(), 600u);
  req = v1::ListCandidatesRequest();
  req.set_pareto_only(true);
  EXPECT_EQ(List(req).total, 1);
  std::cout << "[ info     ] 100000 candidates inserted in " << insert_s << " s\n";
}

TEST_F(StoreTest, SetCorrectionRefusesWhatMapsTheTableToZeroAndKeepsHistory) {
  ASSERT_TRUE(store_->PutHardware(MakeHardware("cpu"), false).ok());
  ASSERT_TRUE(store_->AddTable(MakeTable("cpu", 3)).ok());  // smallest entry 0.5 ms, no head
  v1::Correction bad;
  bad.set_scale(1.495);
  bad.set_offset_ms(-2.43);
  ExpectStatus(store_->SetCorrection("cpu", 1, bad).status(), absl::StatusCode::kInvalidArgument,
               "correction.offset_ms: -2.43 maps the table's smallest block sum 0.5 ms to "
               "-1.683 ms: every sum must map to > 0");
  bad.set_offset_ms(0);
  bad.set_scale(7);
  ExpectStatus(store_->SetCorrection("cpu", 1, bad).status(), absl::StatusCode::kInvalidArgument,
               "correction.scale: 7 is outside the plausible band [0.25, 4] (docs/measurement.md)");
  EXPECT_FALSE(store_->GetTableInfo("cpu", 1)->has_correction());  // nothing changed

  v1::Correction c;
  c.set_scale(1.2);
  c.set_offset_ms(-0.1);
  c.set_fitted_on(30);
  c.set_fitted_unix_ms(1700000000000);
  c.set_reference_drift(0.03);
  c.set_seed(9);
  c.set_method("theil-sen");
  ASSERT_TRUE(store_->SetCorrection("cpu", 1, c).ok());
  v1::Correction c2 = c;
  c2.set_scale(1.1);
  ASSERT_TRUE(store_->SetCorrection("cpu", 1, c2).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(store_->GetTableInfo("cpu", 1)->correction(), c2));
  auto hist = store_->CorrectionHistory("cpu", 1);
  ASSERT_TRUE(hist.ok()) << hist.status();
  ASSERT_EQ(hist->size(), 2u);
  EXPECT_TRUE(MessageDifferencer::Equals((*hist)[0], c));  // the replaced one is kept
  EXPECT_TRUE(MessageDifferencer::Equals((*hist)[1], c2));

  // An upload whose own correction is unsafe over its entries is refused too.
  v1::LatencyTable t = MakeTable("cpu", 2);
  *t.mutable_info()->mutable_correction() = bad;
  t.mutable_info()->mutable_correction()->set_scale(1.0);
  t.mutable_info()->mutable_correction()->set_offset_ms(-0.6);
  ExpectStatus(store_->AddTable(t).status(), absl::StatusCode::kInvalidArgument,
               "info.correction.offset_ms: -0.6 maps the table's smallest block sum 0.5 ms to "
               "-0.1 ms: every sum must map to > 0");
}

TEST_F(StoreTest, SchemaOneDatabaseMigratesAndKeepsItsTables) {
  ASSERT_TRUE(store_->PutHardware(MakeHardware("cpu"), false).ok());
  const v1::LatencyTable t = MakeTable("cpu", 3);
  ASSERT_TRUE(store_->AddTable(t).ok());
  store_.reset();
  {  // what a lutnasd of schema 1 left behind
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec("DROP TABLE submit_requests; DROP TABLE correction_history; PRAGMA user_version = 1"),
              SQLITE_OK);
  }
  auto s = Store::Open(path_, {});
  ASSERT_TRUE(s.ok()) << s.status();
  store_ = std::move(*s);
  auto back = store_->GetTable("cpu", 1);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->entries_size(), t.entries_size());
  v1::Correction c;
  c.set_scale(1.1);
  c.set_fitted_on(12);
  ASSERT_TRUE(store_->SetCorrection("cpu", 1, c).ok());
  EXPECT_EQ(store_->CorrectionHistory("cpu", 1)->size(), 1u);
  RawDb raw(path_);
  EXPECT_EQ(raw.Query("PRAGMA user_version"), "3");
}

// ------------------------------------------------------------- submit requests

TEST_F(StoreTest, RequestIdMapsToItsJobAcrossReopen) {
  v1::SearchSpec asked;
  asked.set_space("tiny");
  asked.set_name("idem");
  v1::SearchSpec stored = asked;
  stored.set_population(100);  // defaults filled by the job manager
  absl::StatusOr<int64_t> id = store_->CreateJobForRequest(stored, "req-1", asked);
  ASSERT_TRUE(id.ok()) << id.status();
  ExpectStatus(store_->CreateJobForRequest(stored, "req-1", asked).status(), absl::StatusCode::kAlreadyExists,
               "request_id: 'req-1' is already used");
  EXPECT_EQ(*store_->CountCandidates(0), 0);
  EXPECT_EQ(store_->ListJobs()->size(), 1u);  // the refused insert rolled back its job
  ExpectStatus(store_->FindRequest("req-2").status(), absl::StatusCode::kNotFound,
               "request_id: 'req-2' is unknown");
  store_ = OpenOrDie();
  ASSERT_NE(store_, nullptr);
  auto found = store_->FindRequest("req-1");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->first, *id);
  EXPECT_TRUE(MessageDifferencer::Equals(found->second, asked));
  EXPECT_EQ(store_->GetJob(*id)->spec().population(), 100);
}

}  // namespace
}  // namespace lutnas::db
