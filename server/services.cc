#include "server/services.h"

#include <climits>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "latency_models/correction.h"
#include "latency_models/cost.h"
#include "latency_models/export_pytorch.h"
#include "latency_models/table_io.h"
#include "space/arch_util.h"
#include "core/hardware_catalogue.h"
#include "server/grpc_status.h"

namespace lutnas::server {
namespace {

using absl::StrCat;
using grpc::ServerContext;
using grpc::Status;

absl::Status Prefixed(const absl::Status& s, const std::string& prefix) {
  return absl::Status(s.code(), StrCat(prefix, s.message()));
}

// Validates and canonicalises a request's architecture; errors name "arch.".
absl::StatusOr<v1::Architecture> CheckArch(const v1::Architecture& a, const std::string& field) {
  if (a.ByteSizeLong() > space::kMaxJsonBytes)
    return absl::InvalidArgumentError(StrCat(field, ": larger than ", space::kMaxJsonBytes, " bytes"));
  auto st = space::ValidateArchitecture(a);
  if (!st.ok()) return Prefixed(st, field + ".");
  v1::Architecture c = space::Canonicalize(a);
  st = latency::CheckCostsFit(c);
  if (!st.ok()) return Prefixed(st, field + ".");
  return c;
}

absl::Status PositiveId(const char* field, int64_t v) {
  return absl::InvalidArgumentError(StrCat(field, ": must be > 0, got ", v));
}

// An empty list is fine: the answer then carries the costs alone.
absl::Status CheckHardwareList(const google::protobuf::RepeatedPtrField<std::string>& hw) {
  if (hw.size() > 16) return absl::InvalidArgumentError("hardware: at most 16 hardware names per call");
  return absl::OkStatus();
}

class HardwareServiceImpl final : public v1::HardwareService::Service {
 public:
  explicit HardwareServiceImpl(Core c) : c_(c) {}
  Status Register(ServerContext*, const v1::RegisterHardwareRequest* r, v1::Hardware* out) override {
    const auto& h = r->hardware();
    for (auto [name, v] : {std::pair<const char*, double>{"peak_gops", h.peak_gops()},
                           {"bandwidth_gbs", h.bandwidth_gbs()}})
      if (!std::isfinite(v) || v < 0)
        return ToGrpc(absl::InvalidArgumentError(StrCat("hardware.", name, ": must be finite and >= 0, got ", v)));
    if (h.threads() < 0 || h.threads() > 4096)
      return ToGrpc(absl::InvalidArgumentError(StrCat("hardware.threads: must be in 0..4096, got ", h.threads())));
    if (h.channel_alignment() < 0 || h.channel_alignment() > 256)
      return ToGrpc(absl::InvalidArgumentError(
          StrCat("hardware.channel_alignment: must be in 0..256, got ", h.channel_alignment())));
    for (auto [name, v, max] : {std::tuple<const char*, const std::string*, size_t>{"description", &h.description(), 4096},
                                {"source", &h.source(), 4096}, {"backend", &h.backend(), 64},
                                {"precision", &h.precision(), 32}})
      if (v->size() > max)
        return ToGrpc(absl::InvalidArgumentError(StrCat("hardware.", name, ": longer than ", max, " characters")));
    if (h.precisions_size() > 16)
      return ToGrpc(absl::InvalidArgumentError("hardware.precisions: at most 16 entries"));
    for (int i = 0; i < h.precisions_size(); ++i)
      if (h.precisions(i).size() > 32)
        return ToGrpc(absl::InvalidArgumentError(StrCat("hardware.precisions[", i, "]: longer than 32 characters")));
    if (auto bad = lutnas::core::CheckSpecPriorFields(h); !bad.ok()) return ToGrpc(bad);
    auto st = c_.store->PutHardware(h, r->update());
    if (!st.ok()) return ToGrpc(Prefixed(st, st.message().rfind("name", 0) == 0 ? "hardware." : ""));
    c_.catalog->Invalidate(h.name());
    auto got = c_.store->GetHardware(h.name());
    if (!got.ok()) return ToGrpc(got.status());
    *out = *got;
    return Status::OK;
  }
  Status Get(ServerContext*, const v1::GetHardwareRequest* r, v1::Hardware* out) override {
    if (r->name().empty()) return ToGrpc(absl::InvalidArgumentError("name: is required"));
    auto h = c_.store->GetHardware(r->name());
    if (!h.ok()) return ToGrpc(h.status());
    *out = *h;
    return Status::OK;
  }
  Status List(ServerContext*, const v1::ListHardwareRequest*, v1::ListHardwareResponse* out) override {
    auto l = c_.store->ListHardware();
    if (!l.ok()) return ToGrpc(l.status());
    for (auto& h : *l) *out->add_hardware() = std::move(h);
    return Status::OK;
  }
  Status Delete(ServerContext*, const v1::DeleteHardwareRequest* r, v1::DeleteHardwareResponse*) override {
    if (r->name().empty()) return ToGrpc(absl::InvalidArgumentError("name: is required"));
    auto st = c_.store->DeleteHardware(r->name());
    c_.catalog->Invalidate(r->name());
    return ToGrpc(st);
  }

 private:
  Core c_;
};

class TableServiceImpl final : public v1::TableService::Service {
 public:
  explicit TableServiceImpl(Core c) : c_(c) {}
  Status Upload(ServerContext* ctx, grpc::ServerReader<v1::UploadTableRequest>* reader,
                v1::TableInfo* out) override {
    core::Held slot(&c_.limits->uploads), bytes(&c_.limits->upload_bytes);
    if (auto s = slot.Add(1, "this upload"); !s.ok()) return ToGrpc(s);
    v1::LatencyTable t;
    v1::UploadTableRequest msg;
    bool first = true, last = false;
    while (reader->Read(&msg)) {
      if (auto s = bytes.Add(static_cast<int64_t>(msg.ByteSizeLong()), "this upload's next message"); !s.ok())
        return ToGrpc(s);
      if (last) return ToGrpc(absl::InvalidArgumentError("last: messages after the one marked last"));
      last = msg.last();
      if (ctx->IsCancelled()) return Status(grpc::StatusCode::CANCELLED, "upload cancelled");
      if (first) {
        if (!msg.has_info())
          return ToGrpc(absl::InvalidArgumentError("info: the first message must carry the table info"));
        *t.mutable_info() = msg.info();
        first = false;
      }
      if (t.entries_size() + msg.entries_size() > static_cast<int>(latency::kMaxTableEntries))
        return ToGrpc(absl::ResourceExhaustedError(StrCat("entries: more than ", latency::kMaxTableEntries, " entries")));
      for (auto& e : *msg.mutable_entries()) *t.add_entries() = std::move(e);
    }
    // A cancelled stream ends the loop like a half-close does: store nothing.
    if (ctx->IsCancelled()) return Status(grpc::StatusCode::CANCELLED, "upload cancelled: nothing stored");
    if (first) return ToGrpc(absl::InvalidArgumentError("info: empty upload stream"));
    // Read() ends the same way for a clean half-close and a broken stream
    // (a corrupt or oversized message): only an explicit last marker proves
    // the client sent everything it meant to.
    if (!last)
      return ToGrpc(absl::InvalidArgumentError("last: the stream ended without a message marked last; "
                                               "nothing stored"));
    return Store(&t, "upload", out);
  }
  Status Import(ServerContext*, const v1::ImportTableRequest* r, v1::ImportTableResponse* out) override {
    std::string content = r->content();
    if (!r->path().empty()) {
      if (!content.empty())
        return ToGrpc(absl::InvalidArgumentError("path: give either content or path, not both"));
      auto data = core::ReadImportFile(c_.import_dir, r->path(), c_.import_limits);
      if (!data.ok()) return ToGrpc(data.status());
      content = *data;
    }
    if (content.empty()) return ToGrpc(absl::InvalidArgumentError("content: the file is empty"));
    if (r->hardware().empty()) return ToGrpc(absl::InvalidArgumentError("hardware: is required"));
    std::vector<std::string> unmapped;
    auto t = latency::ParseTable(content, r->format(), r->hardware(), &unmapped);
    if (!t.ok()) return ToGrpc(t.status());
    t->mutable_info()->set_hardware(r->hardware());
    for (auto& u : unmapped) out->add_unmapped(u);
    return Store(&*t, StrCat("import:", r->format().empty() ? "csv" : r->format()), out->mutable_info());
  }
  Status Export(ServerContext* ctx, const v1::ExportTableRequest* r,
                grpc::ServerWriter<v1::ExportTableChunk>* w) override {
    if (r->hardware().empty()) return ToGrpc(absl::InvalidArgumentError("hardware: is required"));
    if (r->version() < 0)
      return ToGrpc(absl::InvalidArgumentError(StrCat("version: must be >= 0, got ", r->version())));
    auto t = c_.store->GetTable(r->hardware(), r->version());
    if (!t.ok()) return ToGrpc(t.status());
    v1::ExportTableChunk chunk;
    *chunk.mutable_info() = t->info();
    for (int i = 0; i < t->entries_size(); ++i) {
      *chunk.add_entries() = t->entries(i);
      if (chunk.entries_size() == 1000 || i + 1 == t->entries_size()) {
        if (ctx->IsCancelled() || !w->Write(chunk)) return Status(grpc::StatusCode::CANCELLED, "export cancelled");
        chunk.Clear();
      }
    }
    return Status::OK;
  }
  Status List(ServerContext*, const v1::ListTablesRequest* r, v1::ListTablesResponse* out) override {
    if (!r->hardware().empty()) {
      auto h = c_.store->GetHardware(r->hardware());
      if (!h.ok()) return ToGrpc(h.status());
    }
    auto l = c_.store->ListTables(r->hardware());
    if (!l.ok()) return ToGrpc(l.status());
    for (auto& i : *l) *out->add_tables() = std::move(i);
    return Status::OK;
  }
  Status SetCorrection(ServerContext*, const v1::SetCorrectionRequest* r, v1::TableInfo* out) override {
    const auto& c = r->correction();
    if (r->hardware().empty()) return ToGrpc(absl::InvalidArgumentError("hardware: is required"));
    // The fields here; the store checks it over the table's range (correction.h).
    if (auto st = latency::CheckCorrectionFields(c, "correction", /*required=*/true); !st.ok()) return ToGrpc(st);
    if (r->version() <= 0)
      return ToGrpc(absl::InvalidArgumentError(StrCat("version: must be > 0, got ", r->version())));
    auto info = c_.store->SetCorrection(r->hardware(), r->version(), c);
    if (!info.ok()) return ToGrpc(info.status());
    c_.catalog->Invalidate(r->hardware());
    *out = *info;
    return Status::OK;
  }

 private:
  Status Store(v1::LatencyTable* t, const std::string& source, v1::TableInfo* out) {
    if (t->info().source().empty()) t->mutable_info()->set_source(source);
    auto st = latency::ValidateTable(*t);
    if (!st.ok()) return ToGrpc(st);
    auto info = c_.store->AddTable(*t);
    if (!info.ok()) return ToGrpc(info.status());
    c_.catalog->Invalidate(t->info().hardware());
    *out = *info;
    return Status::OK;
  }
  Core c_;
};

class PredictServiceImpl final : public v1::PredictService::Service {
 public:
  explicit PredictServiceImpl(Core c) : c_(c) {}
  Status Predict(ServerContext*, const v1::PredictRequest* r, v1::PredictResponse* out) override {
    auto st = CheckHardwareList(r->hardware());
    if (!st.ok()) return ToGrpc(st);
    auto arch = CheckArch(r->arch(), "arch");
    if (!arch.ok()) return ToGrpc(arch.status());
    return ToGrpc(PredictOne(*arch, r->hardware(), r->breakdown(), out));
  }
  Status PredictBatch(ServerContext* ctx, const v1::PredictBatchRequest* r, v1::PredictBatchResponse* out) override {
    auto st = CheckHardwareList(r->hardware());
    if (!st.ok()) return ToGrpc(st);
    if (r->archs_size() == 0) return ToGrpc(absl::InvalidArgumentError("archs: at least one architecture is needed"));
    if (r->archs_size() > c_.max_batch)
      return ToGrpc(absl::InvalidArgumentError(StrCat("archs: at most ", c_.max_batch, " per call, got ", r->archs_size())));
    for (int i = 0; i < r->archs_size(); ++i) {
      if (ctx->IsCancelled()) return Status(grpc::StatusCode::CANCELLED, "cancelled");
      auto arch = CheckArch(r->archs(i), StrCat("archs[", i, "]"));
      if (!arch.ok()) return ToGrpc(arch.status());
      st = PredictOne(*arch, r->hardware(), false, out->add_results());
      if (!st.ok()) return ToGrpc(st);
    }
    return Status::OK;
  }

 private:
  absl::Status PredictOne(const v1::Architecture& arch,
                          const google::protobuf::RepeatedPtrField<std::string>& hardware, bool breakdown,
                          v1::PredictResponse* out) {
    const latency::NetworkCost nc = latency::AnalyzeNetwork(arch);
    out->set_arch_hash(space::ArchHash(arch));
    out->set_params(nc.total.params);
    out->set_macs(nc.total.macs);
    out->set_mac_bytes(nc.total.mac_bytes);
    for (int i = 0; i < hardware.size(); ++i) {
      auto p = c_.catalog->Get(hardware[i], 0);
      if (!p.ok()) return Prefixed(p.status(), StrCat("hardware[", i, "]: "));
      auto* pred = out->add_predictions();
      *pred = (*p)->Predict(arch, breakdown);
      // Name what was estimated and how (breakdowns have it already).
      if (!breakdown && pred->measured_fraction() < 1) (*p)->AddEstimates(arch, pred);
    }
    return absl::OkStatus();
  }
  Core c_;
};

// Watch is a raw callback method (ByteBuffer in and out) so that a request
// that does not parse gets INVALID_ARGUMENT, as on the synchronous methods
// (the typed callback handler answers UNIMPLEMENTED with no message).
using WatchReactorBase = grpc::ServerWriteReactor<grpc::ByteBuffer>;

bool ParseBuffer(const grpc::ByteBuffer& in, google::protobuf::Message* out) {
  std::vector<grpc::Slice> slices;
  if (!in.Dump(&slices).ok()) return false;
  std::string data;
  for (const auto& sl : slices) data.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return out->ParseFromString(data);
}

// A Watch refused before it starts.
class FinishedWatch final : public WatchReactorBase {
 public:
  explicit FinishedWatch(Status s) { Finish(s); }
  void OnDone() override { delete this; }
};

// One Watch stream: a snapshot whenever the job's state, progress or
// timestamp changes; the last one sent is always the terminal state. At most
// one write is in flight; changes meanwhile are coalesced into the next one.
// gRPC never runs OnWriteDone/OnDone inline from StartWrite/Finish, and
// OnDone comes after every other reaction, so mu_ and the unsubscribe in
// OnDone are enough for the job manager's listener calls.
class WatchReactor final : public WatchReactorBase {
 public:
  WatchReactor(Core c, int64_t id, v1::SearchSpec spec) : c_(std::move(c)), id_(id), spec_(std::move(spec)) {
    // Not under mu_: a listener call holds the job manager's lock and takes mu_.
    token_ = c_.jobs->Subscribe([this] {
      std::lock_guard<std::mutex> g(mu_);
      PollLocked();
    });
    std::lock_guard<std::mutex> l(mu_);
    PollLocked();
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> l(mu_);
    in_flight_ = false;
    if (!ok) return FinishLocked(Status(grpc::StatusCode::CANCELLED, "watcher went away"));
    if (sent_terminal_) return FinishLocked(Status::OK);
    PollLocked();
  }
  void OnCancel() override {
    std::lock_guard<std::mutex> l(mu_);
    FinishLocked(Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }
  void OnDone() override {
    c_.jobs->Unsubscribe(token_);  // waits for a listener call in progress
    c_.limits->watches.Sub(1);
    delete this;
  }

 private:
  void FinishLocked(const Status& s) {
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }
  void PollLocked() {
    if (finished_ || in_flight_) return;  // OnWriteDone polls again
    if (c_.jobs->stopping())
      return FinishLocked(Status(grpc::StatusCode::UNAVAILABLE,
                                 "lutnasd is shutting down; watch again after it restarts"));
    auto job = c_.store->GetJob(id_);
    if (!job.ok()) return FinishLocked(ToGrpc(job.status()));
    job->clear_spec();  // sent once, in the first event
    std::string snapshot = job->SerializeAsString();
    if (snapshot == last_sent_) return;
    const bool first = last_sent_.empty();
    last_sent_ = std::move(snapshot);
    v1::JobEvent ev;
    *ev.mutable_job() = std::move(*job);
    if (first) *ev.mutable_job()->mutable_spec() = spec_;
    const auto st = ev.job().state();
    sent_terminal_ = st == v1::JOB_SUCCEEDED || st == v1::JOB_FAILED || st == v1::JOB_CANCELLED;
    const std::string bytes = ev.SerializeAsString();
    grpc::Slice slice(bytes);
    out_ = grpc::ByteBuffer(&slice, 1);
    in_flight_ = true;
    StartWrite(&out_);
  }

  Core c_;
  const int64_t id_;
  const v1::SearchSpec spec_;
  std::mutex mu_;
  int64_t token_ = 0;
  bool finished_ = false, in_flight_ = false, sent_terminal_ = false;
  std::string last_sent_;
  grpc::ByteBuffer out_;  // the write in flight
};

class SearchServiceImpl final : public v1::SearchService::WithRawCallbackMethod_Watch<v1::SearchService::Service> {
 public:
  explicit SearchServiceImpl(Core c) : c_(c) {}
  Status Submit(ServerContext*, const v1::SubmitRequest* r, v1::Job* out) override {
    auto j = c_.jobs->Submit(r->spec(), r->request_id());
    if (!j.ok()) {
      const auto& m = j.status().message();
      const bool named = m.rfind("spec", 0) == 0 || m.rfind("request_id", 0) == 0;
      return ToGrpc(named ? j.status() : Prefixed(j.status(), "spec."));
    }
    *out = *j;
    return Status::OK;
  }
  Status Get(ServerContext*, const v1::GetJobRequest* r, v1::Job* out) override {
    if (r->id() <= 0) return ToGrpc(PositiveId("id", r->id()));
    auto j = c_.store->GetJob(r->id());
    if (!j.ok()) return ToGrpc(j.status());
    *out = *j;
    return Status::OK;
  }
  Status List(ServerContext*, const v1::ListJobsRequest*, v1::ListJobsResponse* out) override {
    auto l = c_.store->ListJobs();
    if (!l.ok()) return ToGrpc(l.status());
    for (auto& j : *l) *out->add_jobs() = std::move(j);
    return Status::OK;
  }
  // Callback API: a Watch holds no thread while it waits; it writes when
  // the job manager reports a change (WatchReactor).
  WatchReactorBase* Watch(grpc::CallbackServerContext*, const grpc::ByteBuffer* raw) override {
    v1::WatchJobRequest req;
    const v1::WatchJobRequest* r = &req;
    if (!ParseBuffer(*raw, &req))
      return new FinishedWatch(ToGrpc(absl::InvalidArgumentError("request: not a valid WatchJobRequest")));
    if (r->id() <= 0) return new FinishedWatch(ToGrpc(PositiveId("id", r->id())));
    if (c_.jobs->stopping())
      return new FinishedWatch(Status(grpc::StatusCode::UNAVAILABLE,
                                      "lutnasd is shutting down; watch again after it restarts"));
    if (auto s = c_.limits->watches.Add(1, "this Watch"); !s.ok()) return new FinishedWatch(ToGrpc(s));
    auto j = c_.store->GetJob(r->id());
    if (!j.ok()) {
      c_.limits->watches.Sub(1);
      return new FinishedWatch(ToGrpc(j.status()));
    }
    return new WatchReactor(c_, r->id(), j->spec());
  }
  Status Cancel(ServerContext*, const v1::CancelJobRequest* r, v1::Job* out) override {
    if (r->id() <= 0) return ToGrpc(PositiveId("id", r->id()));
    auto j = c_.jobs->Cancel(r->id());
    if (!j.ok()) return ToGrpc(j.status());
    *out = *j;
    return Status::OK;
  }
  Status Ask(ServerContext*, const v1::AskRequest* r, v1::AskResponse* out) override {
    if (r->job_id() <= 0) return ToGrpc(PositiveId("job_id", r->job_id()));
    auto c = c_.jobs->Ask(r->job_id(), r->count());
    if (!c.ok()) return ToGrpc(c.status());
    for (auto& x : *c) *out->add_candidates() = std::move(x);
    return Status::OK;
  }
  Status Tell(ServerContext*, const v1::TellRequest* r, v1::TellResponse* out) override {
    if (r->job_id() <= 0) return ToGrpc(PositiveId("job_id", r->job_id()));
    std::map<std::string, double> scores(r->scores().begin(), r->scores().end());
    auto n = c_.jobs->Tell(r->job_id(), scores);
    if (!n.ok()) return ToGrpc(n.status());
    out->set_accepted(*n);
    return Status::OK;
  }

 private:
  Core c_;
};

class CandidateServiceImpl final : public v1::CandidateService::Service {
 public:
  explicit CandidateServiceImpl(Core c) : c_(c) {}
  Status List(ServerContext*, const v1::ListCandidatesRequest* r, v1::ListCandidatesResponse* out) override {
    // Filters on things that do not exist are errors, not empty pages.
    if (r->job_id() > 0 && !c_.store->GetJob(r->job_id()).ok())
      return ToGrpc(absl::NotFoundError(StrCat("job_id: job ", r->job_id(), " not found")));
    if (!r->hardware().empty() && !c_.store->GetHardware(r->hardware()).ok())
      return ToGrpc(absl::NotFoundError(StrCat("hardware: '", r->hardware().substr(0, 64), "' is not registered")));
    auto page = c_.store->ListCandidates(*r);
    if (!page.ok()) return ToGrpc(page.status());
    for (auto& c : page->candidates) *out->add_candidates() = std::move(c);
    out->set_next_page_token(page->next_page_token);
    out->set_total(page->total);
    return Status::OK;
  }
  Status Get(ServerContext*, const v1::GetCandidateRequest* r, v1::Candidate* out) override {
    if (r->id() <= 0) return ToGrpc(PositiveId("id", r->id()));
    auto c = c_.store->GetCandidate(r->id());
    if (!c.ok()) return ToGrpc(c.status());
    *out = *c;
    // Per-block breakdown, recomputed from the same pinned table versions.
    for (auto& p : *out->mutable_latency()) {
      auto pred = c_.catalog->Get(p.hardware(), p.table_version());
      if (pred.ok()) p = (*pred)->Predict(space::Canonicalize(out->arch()), true);
    }
    return Status::OK;
  }
  Status Export(ServerContext*, const v1::ExportCandidateRequest* r, v1::ExportCandidateResponse* out) override {
    if (r->has_arch()) return ExportArch(*r, out);
    if (r->id() <= 0) return ToGrpc(PositiveId("id", r->id()));
    auto c = c_.store->GetCandidate(r->id());
    if (!c.ok()) return ToGrpc(c.status());
    const std::string fmt = r->format().empty() ? "pytorch" : r->format();
    if (fmt == "pytorch") {
      out->set_content(latency::ExportPyTorch(c->arch()));
      out->set_filename(StrCat("candidate_", c->id(), ".py"));
    } else if (fmt == "json") {
      out->set_content(space::ArchitectureToJson(c->arch()));
      out->set_filename(StrCat("candidate_", c->id(), ".json"));
    } else {
      return ToGrpc(absl::InvalidArgumentError(StrCat("format: must be pytorch or json, got '",
                                                      fmt.substr(0, 40), "' (onnx is made client-side)")));
    }
    return Status::OK;
  }

 private:
  // Export of an architecture given inline (a candidate from Ask has no id yet).
  Status ExportArch(const v1::ExportCandidateRequest& r, v1::ExportCandidateResponse* out) {
    if (r.id() != 0) return ToGrpc(absl::InvalidArgumentError("arch: give either id or arch, not both"));
    auto arch = CheckArch(r.arch(), "arch");
    if (!arch.ok()) return ToGrpc(arch.status());
    const std::string fmt = r.format().empty() ? "pytorch" : r.format();
    const std::string stem = StrCat("arch_", space::ArchHash(*arch).substr(0, 12));
    if (fmt == "pytorch") {
      out->set_content(latency::ExportPyTorch(*arch));
      out->set_filename(stem + ".py");
    } else if (fmt == "json") {
      out->set_content(space::ArchitectureToJson(*arch));
      out->set_filename(stem + ".json");
    } else {
      return ToGrpc(absl::InvalidArgumentError(StrCat("format: must be pytorch or json, got '", fmt.substr(0, 40), "'")));
    }
    return Status::OK;
  }
  Core c_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeHardwareService(const Core& c) { return std::make_unique<HardwareServiceImpl>(c); }
std::unique_ptr<grpc::Service> MakeTableService(const Core& c) { return std::make_unique<TableServiceImpl>(c); }
std::unique_ptr<grpc::Service> MakePredictService(const Core& c) { return std::make_unique<PredictServiceImpl>(c); }
std::unique_ptr<grpc::Service> MakeSearchService(const Core& c) { return std::make_unique<SearchServiceImpl>(c); }
std::unique_ptr<grpc::Service> MakeCandidateService(const Core& c) { return std::make_unique<CandidateServiceImpl>(c); }

}  // namespace lutnas::server
