// The services' logic in the core (core/registry, core/predict,
// core/candidates, JobManager::Submit), reached without gRPC: a real SQLite
// file, the shipped hardware catalogue and spaces. Each error names its
// field path exactly as the gRPC answer does.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "base/status_reason.h"
#include "core/candidates.h"
#include "core/db_storage.h"
#include "core/fast_predict.h"
#include "core/field_path.h"
#include "core/hardware_catalogue.h"
#include "core/job_manager.h"
#include "core/limits.h"
#include "core/predict.h"
#include "core/registry.h"
#include "latency_models/export_pytorch.h"
#include "latency_models/table_io.h"
#include "space/space.h"

namespace lutnas::core {
namespace {

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lutnas-core-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto st = db::Store::Open(dir_ + "/t.db");
    ASSERT_TRUE(st.ok()) << st.status();
    store_ = std::move(*st);
    storage_ = std::make_unique<DbStorage>(store_.get());
    ASSERT_TRUE(SeedHardwareCatalogue(storage_.get(), "server/hardware_catalog.json").ok());
    catalog_ = std::make_unique<Catalog>(storage_.get());
    jobs_ = std::make_unique<JobManager>(storage_.get(), catalog_.get(), JobManager::Options{});
  }
  void TearDown() override {
    jobs_.reset();
    catalog_.reset();
    storage_.reset();
    store_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }
  // A tiny-space table for `hw` (every key measured).
  v1::LatencyTable TinyTable(const std::string& hw) {
    auto sp = space::Space::Load("search/spaces/tiny.json");
    EXPECT_TRUE(sp.ok());
    v1::LatencyTable t;
    t.mutable_info()->set_hardware(hw);
    double ms = 0.02;
    for (const auto& k : (*sp)->EnumerateKeys()) {
      auto* e = t.add_entries();
      e->set_key(k.key);
      e->set_median_ms(ms += 0.003);
      e->set_samples(9);
      e->set_status(v1::ENTRY_MEASURED);
    }
    return t;
  }
  static v1::Architecture SmallArch() {
    v1::Architecture a;
    a.set_resolution(64);
    a.add_stem()->mutable_conv()->set_out_channels(16);
    a.mutable_head()->set_num_classes(10);
    return a;
  }

  std::string dir_;
  std::unique_ptr<db::Store> store_;
  std::unique_ptr<DbStorage> storage_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<JobManager> jobs_;
};

// ---------------------------------------------------------------- registry

TEST_F(CoreTest, HardwareFieldChecksNameTheirField) {
  struct Case {
    const char* what;
    std::function<void(v1::Hardware*)> set;
    std::string message;  // "" = accepted
  };
  const std::vector<Case> cases = {
      {"valid", [](v1::Hardware*) {}, ""},
      {"peak_gops NaN", [](v1::Hardware* h) { h->set_peak_gops(std::nan("")); },
       "hardware.peak_gops: must be finite and >= 0, got nan"},
      {"bandwidth < 0", [](v1::Hardware* h) { h->set_bandwidth_gbs(-1); },
       "hardware.bandwidth_gbs: must be finite and >= 0, got -1"},
      {"threads", [](v1::Hardware* h) { h->set_threads(4097); },
       "hardware.threads: must be in 0..4096, got 4097"},
      {"alignment", [](v1::Hardware* h) { h->set_channel_alignment(-2); },
       "hardware.channel_alignment: must be in 0..256, got -2"},
      {"backend", [](v1::Hardware* h) { h->set_backend(std::string(65, 'x')); },
       "hardware.backend: longer than 64 characters"},
      {"precisions",
       [](v1::Hardware* h) {
         for (int i = 0; i < 17; ++i) h->add_precisions("int8");
       },
       "hardware.precisions: at most 16 entries"},
      {"precisions[1]",
       [](v1::Hardware* h) {
         h->add_precisions("int8");
         h->add_precisions(std::string(33, 'p'));
       },
       "hardware.precisions[1]: longer than 32 characters"},
      {"name", [](v1::Hardware* h) { h->set_name("Bad Name"); },
       "hardware.name: must match [a-z0-9][a-z0-9._-]{0,63}, got 'Bad Name'"},
      {"empty name", [](v1::Hardware* h) { h->set_name(""); },
       "hardware.name: must match [a-z0-9][a-z0-9._-]{0,63}, got ''"},
      // The numeric fields are checked before the name, as before the move.
      {"threads before name",
       [](v1::Hardware* h) {
         h->set_name("Bad");
         h->set_threads(-1);
       },
       "hardware.threads: must be in 0..4096, got -1"},
  };
  for (const auto& c : cases) {
    v1::Hardware h;
    h.set_name("edge-box");
    c.set(&h);
    const absl::Status st = CheckHardwareFields(h);
    if (c.message.empty()) {
      EXPECT_TRUE(st.ok()) << c.what << ": " << st;
    } else {
      EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.what;
      EXPECT_EQ(st.message(), c.message) << c.what;
    }
  }
}

TEST_F(CoreTest, RegisterStoresRefusesDuplicatesAndDropsCachedPredictors) {
  v1::Hardware h;
  h.set_name("edge-box");
  h.set_peak_gops(100);
  h.set_bandwidth_gbs(10);
  auto got = RegisterHardware(storage_.get(), catalog_.get(), h, /*update=*/false);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name(), "edge-box");
  EXPECT_EQ(got->peak_gops(), 100);
  auto again = RegisterHardware(storage_.get(), catalog_.get(), h, false);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(again.status().message(), "hardware 'edge-box' is already registered");

  v1::PredictRequest r;
  *r.mutable_arch() = SmallArch();
  r.add_hardware("edge-box");
  auto before = Predict(catalog_.get(), r);
  ASSERT_TRUE(before.ok()) << before.status();
  h.set_peak_gops(1);  // 100x slower compute: the spec prior must see it
  ASSERT_TRUE(RegisterHardware(storage_.get(), catalog_.get(), h, /*update=*/true).ok());
  auto after = Predict(catalog_.get(), r);
  ASSERT_TRUE(after.ok());
  EXPECT_GT(after->predictions(0).latency_ms(), before->predictions(0).latency_ms());

  EXPECT_EQ(DeleteHardware(storage_.get(), catalog_.get(), "").message(), "name: is required");
  ASSERT_TRUE(DeleteHardware(storage_.get(), catalog_.get(), "edge-box").ok());
  EXPECT_EQ(Predict(catalog_.get(), r).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoreTest, ImportIsConfinedAndNamesItsFields) {
  const v1::LatencyTable t = TinyTable("host-cpu");
  const std::string csv = latency::WriteTableCsv(t);
  ASSERT_TRUE(std::ofstream(dir_ + "/tiny.csv") << csv);
  const ImportPolicy policy{dir_, {}};
  struct Case {
    std::string content, path, hardware;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {csv, "tiny.csv", "host-cpu", absl::StatusCode::kInvalidArgument,
       "path: give either content or path, not both"},
      {"", "", "host-cpu", absl::StatusCode::kInvalidArgument, "content: the file is empty"},
      {csv, "", "", absl::StatusCode::kInvalidArgument, "hardware: is required"},
      {"", "missing.csv", "host-cpu", absl::StatusCode::kNotFound,
       "path: no such file under --import_dir: 'missing.csv'"},
  };
  for (const auto& c : cases) {
    v1::ImportTableRequest r;
    r.set_content(c.content);
    r.set_path(c.path);
    r.set_hardware(c.hardware);
    auto got = ImportTable(storage_.get(), catalog_.get(), policy, r);
    EXPECT_EQ(got.status().code(), c.code) << c.message;
    EXPECT_EQ(got.status().message(), c.message);
  }
  // Outside the directory: refused whether or not the file exists.
  v1::ImportTableRequest out;
  out.set_hardware("host-cpu");
  out.set_path("/etc/passwd");
  auto refused = ImportTable(storage_.get(), catalog_.get(), policy, out);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  out.set_path("tiny.csv");
  auto none = ImportTable(storage_.get(), catalog_.get(), ImportPolicy{}, out);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(none.status().message(), "path: file imports are disabled (start lutnasd with --import_dir)");
  // Inside: stored as version 1 with its source, and the predictor sees it.
  auto ok = ImportTable(storage_.get(), catalog_.get(), policy, out);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->info().version(), 1);
  EXPECT_EQ(ok->info().hardware(), "host-cpu");
  EXPECT_EQ(ok->info().source(), "import:csv");
  EXPECT_EQ(ok->unmapped_size(), 0);
  auto p = catalog_->Get("host-cpu", 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->table_version(), 1);

  auto tables = ListTables(storage_.get(), "host-cpu");
  ASSERT_TRUE(tables.ok());
  EXPECT_EQ(tables->tables_size(), 1);
  EXPECT_EQ(ListTables(storage_.get(), "no-such-hw").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoreTest, TablesCorrectionsAndExportCheckTheirFields) {
  auto info = AddTable(storage_.get(), catalog_.get(), TinyTable("host-cpu"), "upload");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->source(), "upload");
  v1::LatencyTable bad = TinyTable("host-cpu");
  bad.mutable_entries(0)->set_median_ms(-1);
  EXPECT_EQ(AddTable(storage_.get(), catalog_.get(), bad, "upload").status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::SetCorrectionRequest c;
  EXPECT_EQ(SetCorrection(storage_.get(), catalog_.get(), c).status().message(), "hardware: is required");
  c.set_hardware("host-cpu");
  c.mutable_correction()->set_scale(1.5);
  EXPECT_EQ(SetCorrection(storage_.get(), catalog_.get(), c).status().message(),
            "version: must be > 0, got 0");
  c.set_version(1);
  auto corrected = SetCorrection(storage_.get(), catalog_.get(), c);
  ASSERT_TRUE(corrected.ok()) << corrected.status();
  EXPECT_DOUBLE_EQ(corrected->correction().scale(), 1.5);

  v1::ExportTableRequest e;
  EXPECT_EQ(TableToExport(storage_.get(), e).status().message(), "hardware: is required");
  e.set_hardware("host-cpu");
  e.set_version(-1);
  EXPECT_EQ(TableToExport(storage_.get(), e).status().message(), "version: must be >= 0, got -1");
  e.set_version(0);
  auto t = TableToExport(storage_.get(), e);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->entries_size(), TinyTable("host-cpu").entries_size());
}

// ---------------------------------------------------------------- predict

TEST_F(CoreTest, PredictChecksArchAndHardwareWithFieldPaths) {
  v1::PredictRequest r;
  *r.mutable_arch() = SmallArch();
  r.mutable_arch()->mutable_stem(0)->mutable_conv()->set_out_channels(-3);
  r.add_hardware("rk3588-npu");
  EXPECT_EQ(Predict(catalog_.get(), r).status().message(),
            "arch.stem[0].conv.out_channels: must be > 0, got -3");
  r.mutable_arch()->mutable_stem(0)->mutable_conv()->set_out_channels(16);
  auto ok = Predict(catalog_.get(), r);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->predictions_size(), 1);
  EXPECT_TRUE(ok->predictions(0).estimated_from_spec());
  EXPECT_GT(ok->macs(), 0);
  EXPECT_EQ(ok->arch_hash().size(), 16u);
  r.add_hardware("unknown-hw");
  auto unknown = Predict(catalog_.get(), r);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message().rfind("hardware[1]: ", 0), 0u) << unknown.status();
  r.clear_hardware();
  for (int i = 0; i < 17; ++i) r.add_hardware("host-cpu");
  EXPECT_EQ(Predict(catalog_.get(), r).status().message(), "hardware: at most 16 hardware names per call");
}

TEST_F(CoreTest, PredictBreakdownHasBlocksFromTheTable) {
  ASSERT_TRUE(AddTable(storage_.get(), catalog_.get(), TinyTable("host-cpu"), "upload").ok());
  auto sp = space::Space::Load("search/spaces/tiny.json");
  ASSERT_TRUE(sp.ok());
  base::Rng rng(5);
  v1::PredictRequest r;
  *r.mutable_arch() = (*sp)->ToArchitecture((*sp)->Sample(rng));
  r.add_hardware("host-cpu");
  r.set_breakdown(true);
  auto got = Predict(catalog_.get(), r);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->predictions_size(), 1);
  const auto& p = got->predictions(0);
  EXPECT_DOUBLE_EQ(p.measured_fraction(), 1.0);
  ASSERT_GT(p.blocks_size(), 2);
  double sum = 0;
  for (const auto& b : p.blocks()) sum += b.latency_ms();
  EXPECT_NEAR(sum, p.latency_ms(), 1e-9 + 1e-9 * p.latency_ms());
}

TEST_F(CoreTest, PredictBatchNamesTheArchitectureAndStopsWhenCancelled) {
  v1::PredictBatchRequest r;
  r.add_hardware("rk3588-npu");
  EXPECT_EQ(PredictBatch(catalog_.get(), r, 4, nullptr).status().message(),
            "archs: at least one architecture is needed");
  for (int i = 0; i < 5; ++i) *r.add_archs() = SmallArch();
  EXPECT_EQ(PredictBatch(catalog_.get(), r, 4, nullptr).status().message(),
            "archs: at most 4 per call, got 5");
  r.mutable_archs(1)->set_resolution(0);
  auto bad = PredictBatch(catalog_.get(), r, 10, nullptr);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind("archs[1].resolution", 0), 0u) << bad.status();
  r.mutable_archs(1)->set_resolution(64);
  auto ok = PredictBatch(catalog_.get(), r, 10, [] { return false; });
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->results_size(), 5);
  int asked = 0;
  auto cancelled = PredictBatch(catalog_.get(), r, 10, [&] { return ++asked > 2; });
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(asked, 3);
}

// ---------------------------------------------------------------- candidates

TEST_F(CoreTest, ExportInlineArchitectureByFormat) {
  struct Case {
    std::string format;
    absl::StatusCode code;
    std::string suffix_or_message;
  };
  const std::vector<Case> cases = {
      {"", absl::StatusCode::kOk, ".py"},
      {"pytorch", absl::StatusCode::kOk, ".py"},
      {"json", absl::StatusCode::kOk, ".json"},
      {"onnx", absl::StatusCode::kInvalidArgument, "format: must be pytorch or json, got 'onnx'"},
  };
  for (const auto& c : cases) {
    v1::ExportCandidateRequest r;
    *r.mutable_arch() = SmallArch();
    r.set_format(c.format);
    auto got = ExportCandidate(storage_.get(), r);
    EXPECT_EQ(got.status().code(), c.code) << c.format;
    if (!got.ok()) {
      EXPECT_EQ(got.status().message(), c.suffix_or_message);
      continue;
    }
    EXPECT_EQ(got->filename().rfind("arch_", 0), 0u);
    EXPECT_EQ(got->filename().size(), 5 + 12 + c.suffix_or_message.size()) << got->filename();
    EXPECT_FALSE(got->content().empty());
  }
  v1::ExportCandidateRequest both;
  *both.mutable_arch() = SmallArch();
  both.set_id(3);
  EXPECT_EQ(ExportCandidate(storage_.get(), both).status().message(),
            "arch: give either id or arch, not both");
  v1::ExportCandidateRequest bad;
  *bad.mutable_arch() = SmallArch();
  bad.mutable_arch()->mutable_stem(0)->mutable_conv()->set_out_channels(0);
  EXPECT_EQ(ExportCandidate(storage_.get(), bad).status().message(),
            "arch.stem[0].conv.out_channels: must be > 0, got 0");
  v1::ExportCandidateRequest none;
  EXPECT_EQ(ExportCandidate(storage_.get(), none).status().message(), "id: must be > 0, got 0");
  none.set_id(77);
  EXPECT_EQ(ExportCandidate(storage_.get(), none).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoreTest, CandidateLookupsNameWhatDoesNotExist) {
  EXPECT_EQ(GetCandidate(storage_.get(), catalog_.get(), -4).status().message(), "id: must be > 0, got -4");
  EXPECT_EQ(GetCandidate(storage_.get(), catalog_.get(), 12).status().code(), absl::StatusCode::kNotFound);
  v1::ListCandidatesRequest r;
  r.set_job_id(99);
  auto job = ListCandidates(storage_.get(), r);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(job.status().message(), "job_id: job 99 not found");
  r.set_job_id(0);
  r.set_hardware("nope");
  EXPECT_EQ(ListCandidates(storage_.get(), r).status().message(), "hardware: 'nope' is not registered");
  r.set_hardware("");
  auto empty = ListCandidates(storage_.get(), r);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->total(), 0);
}

// ---------------------------------------------------------------- submit

TEST_F(CoreTest, SubmitErrorsCarryTheSpecPath) {
  ASSERT_TRUE(AddTable(storage_.get(), catalog_.get(), TinyTable("host-cpu"), "upload").ok());
  struct Case {
    std::string what;
    std::function<void(v1::SearchSpec*)> set;
    std::string request_id;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"population", [](v1::SearchSpec* s) { s->set_population(1); }, "", absl::StatusCode::kInvalidArgument,
       "spec.population: must be in 2..5000, got 1"},
      {"space", [](v1::SearchSpec* s) { s->clear_space(); }, "", absl::StatusCode::kInvalidArgument,
       "spec.space: a space name (e.g. 'edge') or space_inline is required"},
      {"budget hardware", [](v1::SearchSpec* s) { s->mutable_budgets(0)->set_hardware("nope"); }, "",
       absl::StatusCode::kNotFound, "spec.budgets[0].hardware: unknown hardware 'nope'"},
      {"soft weight", [](v1::SearchSpec* s) { s->set_soft_weight(2); }, "",
       absl::StatusCode::kInvalidArgument,
       "spec.soft_weight: must be in [-10, 0) (0 = default -0.07; a positive weight would reward slower "
       "networks), got 2"},
      {"request_id", [](v1::SearchSpec*) {}, "not ok!", absl::StatusCode::kInvalidArgument,
       "request_id: only letters, digits and . _ : - are allowed (e.g. a UUID)"},
  };
  for (const auto& c : cases) {
    v1::SearchSpec s;
    s.set_space("tiny");
    s.set_objective(v1::PARAMS);
    s.set_population(8);
    s.set_generations(1);
    auto* b = s.add_budgets();
    b->set_hardware("host-cpu");
    b->set_max_ms(1000);
    c.set(&s);
    auto got = jobs_->Submit(s, c.request_id);
    EXPECT_EQ(got.status().code(), c.code) << c.what;
    EXPECT_EQ(got.status().message(), c.message) << c.what;
  }
  // The same spec, valid: queued (no workers run in this test) with its defaults.
  v1::SearchSpec s;
  s.set_space("tiny");
  s.set_objective(v1::PARAMS);
  s.set_population(8);
  s.set_generations(1);
  s.add_budgets()->set_hardware("host-cpu");
  s.mutable_budgets(0)->set_max_ms(1000);
  auto job = jobs_->Submit(s, "req-1");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_QUEUED);
  EXPECT_EQ(job->spec().budgets(0).table_version(), 1);
  EXPECT_DOUBLE_EQ(job->spec().soft_weight(), -0.07);
  auto repeat = jobs_->Submit(s, "req-1");
  ASSERT_TRUE(repeat.ok());
  EXPECT_EQ(repeat->id(), job->id());
}

// ------------------------------------------------------- names and bounds

// Names a request chooses are one short line: a newline in Architecture.name
// or an inline space's name (every candidate's name starts with it) would
// become a Python statement of the exported module; a 1 MB name was accepted.
TEST_F(CoreTest, NamesAreOneShortLineAtPredictSubmitAndExport) {
  v1::PredictRequest r;
  *r.mutable_arch() = SmallArch();
  r.mutable_arch()->set_name("x\nimport os");
  auto nl = Predict(catalog_.get(), r);
  EXPECT_EQ(nl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nl.status().message(),
            "arch.name: control character 0x0a at byte 1; a name is one line of printable text");
  r.mutable_arch()->set_name(std::string(1 << 20, 'n'));
  EXPECT_EQ(Predict(catalog_.get(), r).status().message(),
            "arch.name: longer than 4096 bytes (1048576); a name is one short line");
  r.mutable_arch()->set_name(std::string("MobileNetV3 \xc3\xa9") + "dge:r224");  // printable UTF-8 is fine
  EXPECT_TRUE(Predict(catalog_.get(), r).ok());

  v1::ExportCandidateRequest e;
  *e.mutable_arch() = SmallArch();
  e.mutable_arch()->set_name("a\rb");
  EXPECT_EQ(
      ExportCandidate(storage_.get(), e).status().message().rfind("arch.name: control character 0x0d", 0),
      0u);

  auto tiny = space::Space::Load("search/spaces/tiny.json");
  ASSERT_TRUE(tiny.ok());
  v1::SearchSpec s;
  *s.mutable_space_inline() = (*tiny)->proto();
  s.mutable_space_inline()->set_name("tiny\nimport os; os.system('id')\n#");
  s.set_objective(v1::PARAMS);
  s.set_unconstrained(true);
  auto got = jobs_->Submit(s);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(got.status().message().rfind("spec.space_inline.name: control character 0x0a at byte 4", 0), 0u)
      << got.status();
  s.mutable_space_inline()->set_name("tiny");
  s.set_name(std::string(201, 'j'));
  EXPECT_EQ(jobs_->Submit(s).status().message(),
            "spec.name: longer than 200 bytes (201); a name is one short line");
}

// Stored names from before the check (or any text) reach generated code
// escaped, on one comment line after lines 1-2, which hold fixed text (PEP
// 263 reads an encoding declaration from them: "# ...encoding: v1;..." made
// every exported file a SyntaxError).
TEST(ExportPyTorchTest, NamesAreEscapedOnOneCommentLineAfterLineTwo) {
  v1::Architecture a;
  a.set_resolution(32);
  a.add_stem()->mutable_conv()->set_out_channels(8);
  a.mutable_head()->set_num_classes(10);
  a.set_name("x\nimport os; os.system('id')\n# coding: latin-1 \\ \x01 \xc3\xa9");
  const std::string code = latency::ExportPyTorch(a);
  std::vector<std::string> lines;
  for (size_t i = 0, j; i < code.size(); i = j + 1) {
    j = code.find('\n', i);
    if (j == std::string::npos) j = code.size();
    lines.push_back(code.substr(i, j - i));
  }
  ASSERT_GT(lines.size(), 5u);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(lines[i].find("coding"), std::string::npos) << lines[i];
  EXPECT_EQ(lines[3], "# name: x\\nimport os; os.system('id')\\n# coding: latin-1 \\\\ \\x01 \\xc3\\xa9");
  for (const auto& l : lines) {
    EXPECT_NE(l.rfind("import os", 0), 0u) << l;
    for (unsigned char c : l) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << l;
  }
  EXPECT_EQ(latency::CommentText(std::string(300, 'a'), 200), std::string(200, 'a') + "... (300 bytes)");
}

// PredictBatch's answer is compact (estimated keys counted, not listed per
// place) and capped: 1,000 networks of 512 blocks x 16 hardware built 189 MiB.
TEST_F(CoreTest, PredictBatchCountsEstimatedPlacesAndCapsItsAnswer) {
  v1::Architecture deep = SmallArch();
  auto* st = deep.add_stages();
  for (int i = 0; i < 64; ++i) {
    auto* c = st->add_blocks()->mutable_conv();
    c->set_out_channels(16);
    c->set_kernel(3);
  }
  v1::PredictBatchRequest r;
  for (int i = 0; i < 16; ++i) r.add_hardware("rk3588-npu");  // no table: every key estimated
  for (int i = 0; i < 4; ++i) *r.add_archs() = deep;
  auto ok = PredictBatch(catalog_.get(), r, 1000, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status();
  int estimated = 0, listed = 0, places = 0;
  for (const auto& res : ok->results())
    for (const auto& p : res.predictions())
      for (const auto& ek : p.estimated_keys()) {
        ++estimated;
        listed += ek.where_size();
        places += ek.occurrences();
      }
  EXPECT_GT(estimated, 0);
  EXPECT_EQ(listed, 0);
  EXPECT_EQ(places, 4 * 16 * (1 + 64 + 1));  // stem, 64 blocks, head: every place counted once
  // Single Predict keeps the places.
  v1::PredictRequest one;
  *one.mutable_arch() = deep;
  one.add_hardware("rk3588-npu");
  auto single = Predict(catalog_.get(), one);
  ASSERT_TRUE(single.ok());
  int single_places = 0;
  for (const auto& ek : single->predictions(0).estimated_keys()) {
    EXPECT_EQ(ek.where_size(), ek.occurrences()) << ek.key();
    single_places += ek.occurrences();
  }
  EXPECT_EQ(single_places, 66);
  // The cap: the answer stops at max_response_bytes, naming how many fit.
  const int64_t one_answer = ok->results(0).ByteSizeLong();
  auto capped = PredictBatch(catalog_.get(), r, 1000, nullptr, 2 * one_answer + 40);
  EXPECT_EQ(capped.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(capped.status().message().rfind("max_response_mb: archs[0..2] would make a response of ", 0), 0u)
      << capped.status();
  EXPECT_NE(
      capped.status().message().find("(lutnasd --max_response_mb); send at most 2 architectures per call"),
      std::string::npos)
      << capped.status();
}

// One PredictEncoded message is refused before any work when its answer
// would pass the response cap (1,048,576 rows x 16 hardware with costs made
// 152 MiB), naming how many rows a message may carry.
TEST_F(CoreTest, EncodedAnswerOverTheResponseCapIsRefusedBeforeAnyWork) {
  EncodingCache encodings(jobs_.get());
  v1::PredictEncodedRequest first;
  first.set_space("tiny");
  for (int i = 0; i < 16; ++i) first.add_hardware("rk3588-npu");
  first.set_cost(true);
  first.set_skip_invalid(true);
  auto stream = EncodedStream::Open(&encodings, catalog_.get(), first, int64_t{32} << 20);
  ASSERT_TRUE(stream.ok()) << stream.status();
  auto enc = encodings.Get("tiny");
  ASSERT_TRUE(enc.ok());
  first.set_choices(std::string(size_t{1 << 20} * (*enc)->width(), '\0'));
  auto big = (*stream)->Answer(first);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(
      big.status().message(),
      "max_response_mb: choices: 1048576 rows x 16 hardware with costs would make a response of 152.0 "
      "MiB, over the limit of 32.0 MiB (lutnasd --max_response_mb); send at most 220752 rows per message");
  first.set_choices(std::string(size_t{220752} * (*enc)->width(), '\0'));
  auto fits = (*stream)->AnswerBytes(first);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(*fits, int64_t{220752} * 152);
  first.set_choices(std::string(size_t{1000} * (*enc)->width(), '\0'));
  auto small = (*stream)->Answer(first);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->count(), 1000);
  EXPECT_EQ(small->latency_ms().size(), 1000u * 16 * 8);
  EXPECT_EQ(small->params().size(), 1000u * 8);
}

// Heavy predictions share a semaphore: a taker waits for room, then gives up
// with RESOURCE_EXHAUSTED naming the flag; more than the limit alone is
// refused at once.
TEST(SemaphoreTest, WaitsThenRefusesNamingTheFlag) {
  Semaphore sem("max_predict_mb", "bytes", 100);
  Taken a(&sem);
  ASSERT_TRUE(a.Acquire(80, "one answer", 0, nullptr).ok());
  auto over = sem.Acquire(101, "a big answer", 1000, nullptr);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(over.message(),
            "max_predict_mb: a big answer needs 101 bytes, more than the limit of 100 (lutnasd "
            "--max_predict_mb)");
  auto busy = sem.Acquire(30, "another answer", 0, nullptr);
  EXPECT_EQ(busy.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(
      busy.message().rfind("max_predict_mb: another answer waited 0 s for 30 bytes while others held 80", 0),
      0u)
      << busy;
  EXPECT_EQ(sem.Acquire(30, "x", 60000, [] { return true; }).code(), absl::StatusCode::kCancelled);
  std::thread release([&] { a.Release(); });
  EXPECT_TRUE(sem.Acquire(30, "waiting answer", 60000, nullptr).ok());  // waits for the release
  release.join();
  EXPECT_EQ(sem.value(), 30);
  sem.Release(30);
}

TEST(FieldPathTest, InFieldPrefixesErrorsAndKeepsOk) {
  EXPECT_TRUE(InField(absl::OkStatus(), "spec.").ok());
  const absl::Status st = InField(absl::NotFoundError("space: x"), "spec.");
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "spec.space: x");
  absl::StatusOr<int> v = InField(absl::StatusOr<int>(absl::InvalidArgumentError("a: b")), "c.");
  EXPECT_EQ(v.status().message(), "c.a: b");
}

TEST(StatusReasonTest, ReasonIsAPayloadNotText) {
  const absl::Status waiting =
      base::WithReason(absl::FailedPreconditionError("anything at all"), "waiting-for-scores");
  EXPECT_TRUE(base::HasReason(waiting, "waiting-for-scores"));
  EXPECT_FALSE(base::HasReason(waiting, "other"));
  EXPECT_FALSE(
      base::HasReason(absl::FailedPreconditionError("waiting for 3 external scores"), "waiting-for-scores"));
  EXPECT_TRUE(base::WithReason(absl::OkStatus(), "x").ok());
}

}  // namespace
}  // namespace lutnas::core
