// The gRPC glue in-process: real services on a loopback port, a real SQLite
// file, real stubs. Python tests drive the lutnasd binary end to end.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "lutnas/v1/service.grpc.pb.h"
#include "server/daemon.h"
#include "space/space.h"

namespace lutnas::server {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lutnas-server-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    Daemon::Options o;
    o.db_path = dir_ + "/t.db";
    o.import_dir = dir_;
    daemon_ = std::make_unique<Daemon>(o);
    auto port = daemon_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
    hw_ = v1::HardwareService::NewStub(ch);
    tables_ = v1::TableService::NewStub(ch);
    predict_ = v1::PredictService::NewStub(ch);
    search_ = v1::SearchService::NewStub(ch);
    cands_ = v1::CandidateService::NewStub(ch);
  }
  void TearDown() override {
    daemon_.reset();  // Shutdown
    std::system(("rm -rf " + dir_).c_str());
  }
  std::unique_ptr<grpc::ClientContext> Ctx() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return c;
  }
  // Uploads a synthetic tiny-space table for host-cpu (ms = 0.01 + MACs/1e9).
  void UploadTinyTable() {
    auto sp = space::Space::Load("search/spaces/tiny.json");
    ASSERT_TRUE(sp.ok());
    auto ctx = Ctx();
    v1::TableInfo info;
    auto w = tables_->Upload(ctx.get(), &info);
    v1::UploadTableRequest first;
    first.mutable_info()->set_hardware("host-cpu");
    ASSERT_TRUE(w->Write(first));
    v1::UploadTableRequest batch;
    double ms = 0.02;
    for (const auto& k : (*sp)->EnumerateKeys()) {
      auto* e = batch.add_entries();
      e->set_key(k.key);
      e->set_median_ms(ms += 0.003);
      e->set_samples(9);
      e->set_status(v1::ENTRY_MEASURED);
    }
    batch.set_last(true);
    ASSERT_TRUE(w->Write(batch));
    w->WritesDone();
    auto st = w->Finish();
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(info.version(), 1);
  }

  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<v1::HardwareService::Stub> hw_;
  std::unique_ptr<v1::TableService::Stub> tables_;
  std::unique_ptr<v1::PredictService::Stub> predict_;
  std::unique_ptr<v1::SearchService::Stub> search_;
  std::unique_ptr<v1::CandidateService::Stub> cands_;
};

TEST_F(ServerTest, CatalogueIsSeededAndErrorsHaveCodes) {
  v1::ListHardwareResponse list;
  ASSERT_TRUE(hw_->List(Ctx().get(), {}, &list).ok());
  EXPECT_GE(list.hardware_size(), 12);
  v1::GetHardwareRequest get;
  get.set_name("nope");
  v1::Hardware h;
  auto st = hw_->Get(Ctx().get(), get, &h);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  v1::RegisterHardwareRequest reg;
  reg.mutable_hardware()->set_name("Bad Name");
  st = hw_->Register(Ctx().get(), reg, &h);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("name"), std::string::npos) << st.error_message();
}

TEST_F(ServerTest, PredictNamesFieldsAndSaysEstimatedFromSpec) {
  v1::PredictRequest req;
  req.add_hardware("rk3588-npu");
  req.mutable_arch()->set_resolution(64);
  req.mutable_arch()->add_stem()->mutable_conv()->set_out_channels(-3);
  req.mutable_arch()->mutable_head()->set_num_classes(10);
  v1::PredictResponse resp;
  auto st = predict_->Predict(Ctx().get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "arch.stem[0].conv.out_channels: must be > 0, got -3");
  req.mutable_arch()->mutable_stem(0)->mutable_conv()->set_out_channels(16);
  st = predict_->Predict(Ctx().get(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.predictions_size(), 1);
  EXPECT_TRUE(resp.predictions(0).estimated_from_spec());
  EXPECT_EQ(resp.predictions(0).table_version(), 0);
  req.add_hardware("unknown-hw");
  st = predict_->Predict(Ctx().get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("hardware[1]"), std::string::npos) << st.error_message();
}

TEST_F(ServerTest, UploadPredictSearchAndBrowse) {
  UploadTinyTable();
  v1::SubmitRequest sub;
  auto* spec = sub.mutable_spec();
  spec->set_space("tiny");
  spec->set_objective(v1::PARAMS);
  spec->set_algorithm(v1::NSGA2);
  spec->set_population(8);
  spec->set_generations(3);
  spec->set_seed(3);
  auto* b = spec->add_budgets();
  b->set_hardware("host-cpu");
  b->set_max_ms(1000);
  spec->add_report_hardware("rk3588-npu");
  v1::Job job;
  auto st = search_->Submit(Ctx().get(), sub, &job);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(job.spec().budgets(0).table_version(), 1);  // pinned at submit
  v1::WatchJobRequest w;
  w.set_id(job.id());
  auto ctx = Ctx();
  auto reader = search_->Watch(ctx.get(), w);
  v1::JobEvent ev;
  int events = 0;
  while (reader->Read(&ev)) ++events;
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(ev.job().state(), v1::JOB_SUCCEEDED) << ev.job().error();
  EXPECT_GE(events, 1);  // the job may end before the watch starts
  v1::ListCandidatesRequest lr;
  lr.set_job_id(job.id());
  lr.set_page_size(5);
  std::set<int64_t> ids;
  for (;;) {
    v1::ListCandidatesResponse page;
    ASSERT_TRUE(cands_->List(Ctx().get(), lr, &page).ok());
    for (const auto& c : page.candidates()) EXPECT_TRUE(ids.insert(c.id()).second);
    if (page.next_page_token().empty()) break;
    lr.set_page_token(page.next_page_token());
  }
  EXPECT_GE(ids.size(), 8u);
  v1::GetCandidateRequest g;
  g.set_id(*ids.begin());
  v1::Candidate c;
  ASSERT_TRUE(cands_->Get(Ctx().get(), g, &c).ok());
  ASSERT_EQ(c.latency_size(), 2);
  EXPECT_EQ(c.latency(0).hardware(), "host-cpu");
  EXPECT_DOUBLE_EQ(c.latency(0).measured_fraction(), 1.0);
  EXPECT_GT(c.latency(0).blocks_size(), 2);
  EXPECT_TRUE(c.latency(1).estimated_from_spec());
  v1::ExportCandidateRequest ex;
  ex.set_id(c.id());
  v1::ExportCandidateResponse code;
  ASSERT_TRUE(cands_->Export(Ctx().get(), ex, &code).ok());
  EXPECT_NE(code.content().find("def build_model"), std::string::npos);
  // A budget on hardware without a table fails before any work.
  spec->mutable_budgets(0)->set_hardware("nvidia-t4");
  st = search_->Submit(Ctx().get(), sub, &job);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("budgets[0].hardware"), std::string::npos) << st.error_message();
}

// ---------------------------------------------------------------- Daemon

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lutnas-daemon-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  Daemon::Options Opts() const {
    Daemon::Options o;
    o.db_path = dir_ + "/d.db";
    return o;
  }
  std::string dir_;
};

TEST_F(DaemonTest, StartErrorsNameTheOption) {
  struct Case {
    const char* what;
    std::function<void(Daemon::Options*)> set;
    absl::StatusCode code;
    std::string message_start;
  };
  const std::vector<Case> cases = {
      {"max_uploads", [](Daemon::Options* o) { o->max_uploads = 0; }, absl::StatusCode::kInvalidArgument,
       "--max_uploads: must be >= 1, got 0"},
      {"max_predict_calls", [](Daemon::Options* o) { o->max_predict_calls = 0; },
       absl::StatusCode::kInvalidArgument, "--max_predict_calls: must be >= 1, got 0"},
      {"max_response_mb", [](Daemon::Options* o) { o->max_response_mb = 0; },
       absl::StatusCode::kInvalidArgument, "--max_response_mb: must be >= 1, got 0"},
      {"max_predict_mb", [](Daemon::Options* o) { o->max_predict_mb = 40; },
       absl::StatusCode::kInvalidArgument, "--max_predict_mb: must be at least twice --max_response_mb (32)"},
      {"max_queued_jobs", [](Daemon::Options* o) { o->jobs.max_queued_jobs = -1; },
       absl::StatusCode::kInvalidArgument, "--max_queued_jobs: must be >= 1, got -1"},
      {"db", [this](Daemon::Options* o) { o->db_path = dir_; }, absl::StatusCode::kUnknown,  // a directory
       "--db " + dir_ + ": "},
      {"token without tls", [](Daemon::Options* o) { o->token = "0123456789abcdef"; },
       absl::StatusCode::kInvalidArgument,
       "--token_file needs --tls_cert and --tls_key (tokens are only sent over TLS)"},
      {"tls files", [](Daemon::Options* o) { o->tls_cert_path = "/nonexistent.pem"; },
       absl::StatusCode::kInvalidArgument, "--tls_cert/--tls_key: cannot read the files"},
      {"listen", [](Daemon::Options* o) { o->listen = "256.1.1.1:1"; }, absl::StatusCode::kUnavailable,
       "cannot listen on 256.1.1.1:1"},
  };
  for (const auto& c : cases) {
    Daemon::Options o = Opts();
    c.set(&o);
    Daemon d(o);
    auto port = d.Start();
    ASSERT_FALSE(port.ok()) << c.what << " started on port " << *port;
    if (c.code != absl::StatusCode::kUnknown) EXPECT_EQ(port.status().code(), c.code) << c.what;
    EXPECT_EQ(port.status().message().substr(0, c.message_start.size()), c.message_start) << port.status();
  }
}

TEST_F(DaemonTest, ShutdownEndsWaitKeepsDataAndARestartServesIt) {
  {
    Daemon d(Opts());
    auto port = d.Start();
    ASSERT_TRUE(port.ok()) << port.status();
    EXPECT_GT(*port, 0);
    EXPECT_EQ(d.Start().status().code(), absl::StatusCode::kFailedPrecondition);  // once only
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
    auto hw = v1::HardwareService::NewStub(ch);
    v1::RegisterHardwareRequest reg;
    reg.mutable_hardware()->set_name("kept-box");
    reg.mutable_hardware()->set_peak_gops(50);
    v1::Hardware out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(hw->Register(&ctx, reg, &out).ok());
    // Shutdown from another thread ends Wait(), as lutnasd's signal thread does.
    std::thread stopper([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      d.Shutdown();
    });
    const auto t0 = std::chrono::steady_clock::now();
    d.Wait();
    stopper.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    EXPECT_EQ(d.store(), nullptr);  // the database is closed
    d.Shutdown();                   // a second call does nothing
    d.Wait();                       // nor does a Wait after it
  }
  Daemon again(Opts());
  auto port = again.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
  v1::GetHardwareRequest get;
  get.set_name("kept-box");
  v1::Hardware h;
  grpc::ClientContext ctx;
  ASSERT_TRUE(v1::HardwareService::NewStub(ch)->Get(&ctx, get, &h).ok());
  EXPECT_EQ(h.peak_gops(), 50);
  // Every service is registered, FastPredict included.
  v1::EncodingRequest er;
  er.set_space("tiny");
  v1::EncodingResponse enc;
  grpc::ClientContext ctx2;
  auto st = v1::FastPredictService::NewStub(ch)->DescribeEncoding(&ctx2, er, &enc);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GT(enc.slots_size(), 0);
}

// --max_response_mb bounds each PredictEncoded answer over the wire: a
// message whose answer would pass it ends the stream with RESOURCE_EXHAUSTED
// naming the flag and the rows that fit; one under it is answered.
TEST_F(DaemonTest, PredictEncodedAnswersAreBoundedByMaxResponseMb) {
  Daemon::Options o = Opts();
  o.max_response_mb = 1;
  Daemon d(o);
  auto port = d.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
  auto fast = v1::FastPredictService::NewStub(ch);
  v1::EncodingRequest er;
  er.set_space("tiny");
  v1::EncodingResponse enc;
  grpc::ClientContext ctx0;
  ASSERT_TRUE(fast->DescribeEncoding(&ctx0, er, &enc).ok());
  auto run = [&](size_t rows, v1::PredictEncodedResponse* out) {
    grpc::ClientContext ctx;
    auto stream = fast->PredictEncoded(&ctx);
    v1::PredictEncodedRequest req;
    req.set_space("tiny");
    req.add_hardware("rk3588-npu");
    req.set_skip_invalid(true);
    req.set_choices(std::string(rows * enc.width(), '\0'));
    EXPECT_TRUE(stream->Write(req));
    stream->WritesDone();
    while (stream->Read(out)) {
    }
    return stream->Finish();
  };
  v1::PredictEncodedResponse out;
  auto ok = run(100000, &out);  // 800,000 bytes of latencies
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(out.count(), 100000);
  auto refused = run(200000, &out);  // 1.5 MiB
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(),
            "max_response_mb: choices: 200000 rows x 1 hardware would make a response of 1.5 MiB, over the "
            "limit of 1.0 MiB (lutnasd --max_response_mb); send at most 131072 rows per message");
}

}  // namespace
}  // namespace lutnas::server
