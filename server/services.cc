#include "server/services.h"

#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

#include "core/candidates.h"
#include "core/predict.h"
#include "core/registry.h"
#include "latency_models/table_io.h"
#include "server/grpc_status.h"

namespace lutnas::server {
namespace {

using absl::StrCat;
using grpc::ServerContext;
using grpc::Status;

absl::Status PositiveId(const char* field, int64_t v) {
  return absl::InvalidArgumentError(StrCat(field, ": must be > 0, got ", v));
}

// What is left of the call's deadline (0 once it passed; a call without a
// deadline gets milliseconds::max()).
std::chrono::milliseconds CallTimeLeft(const ServerContext* ctx) {
  const auto deadline = ctx->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::chrono::milliseconds::max();
  const auto left = deadline - std::chrono::system_clock::now();
  if (left <= left.zero()) return std::chrono::milliseconds(0);
  // A day is "no deadline" for a wait capped at seconds; no overflow below.
  if (left > std::chrono::hours(24)) return std::chrono::milliseconds::max();
  return std::chrono::duration_cast<std::chrono::milliseconds>(left);
}

// Answers `out` with the value of an OK result, or the status.
template <typename T, typename Out>
Status Reply(absl::StatusOr<T> v, Out* out) {
  if (!v.ok()) return ToGrpc(v.status());
  *out = std::move(*v);
  return Status::OK;
}

class HardwareServiceImpl final : public v1::HardwareService::Service {
 public:
  explicit HardwareServiceImpl(Core c) : c_(c) {}
  Status Register(ServerContext*, const v1::RegisterHardwareRequest* r, v1::Hardware* out) override {
    return Reply(core::RegisterHardware(c_.store, c_.catalog, r->hardware(), r->update()), out);
  }
  Status Get(ServerContext*, const v1::GetHardwareRequest* r, v1::Hardware* out) override {
    if (r->name().empty()) return ToGrpc(absl::InvalidArgumentError("name: is required"));
    return Reply(c_.store->GetHardware(r->name()), out);
  }
  Status List(ServerContext*, const v1::ListHardwareRequest*, v1::ListHardwareResponse* out) override {
    auto l = c_.store->ListHardware();
    if (!l.ok()) return ToGrpc(l.status());
    for (auto& h : *l) *out->add_hardware() = std::move(h);
    return Status::OK;
  }
  Status Delete(ServerContext*, const v1::DeleteHardwareRequest* r, v1::DeleteHardwareResponse*) override {
    return ToGrpc(core::DeleteHardware(c_.store, c_.catalog, r->name()));
  }

 private:
  Core c_;
};

class TableServiceImpl final : public v1::TableService::Service {
 public:
  explicit TableServiceImpl(Core c) : c_(c) {}
  // The stream's shape here (info first, a last marker, bounded bytes); the
  // table's checks and storage in core::AddTable.
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
        return ToGrpc(absl::ResourceExhaustedError(
            StrCat("entries: more than ", latency::kMaxTableEntries, " entries")));
      for (auto& e : *msg.mutable_entries()) *t.add_entries() = std::move(e);
    }
    // A cancelled stream ends the loop like a half-close does: store nothing.
    if (ctx->IsCancelled()) return Status(grpc::StatusCode::CANCELLED, "upload cancelled: nothing stored");
    if (first) return ToGrpc(absl::InvalidArgumentError("info: empty upload stream"));
    // Read() ends the same way for a clean half-close and a broken stream
    // (a corrupt or oversized message): only an explicit last marker proves
    // the client sent everything it meant to.
    if (!last)
      return ToGrpc(
          absl::InvalidArgumentError("last: the stream ended without a message marked last; "
                                     "nothing stored"));
    return Reply(core::AddTable(c_.store, c_.catalog, std::move(t), "upload"), out);
  }
  Status Import(ServerContext*, const v1::ImportTableRequest* r, v1::ImportTableResponse* out) override {
    return Reply(core::ImportTable(c_.store, c_.catalog, {c_.import_dir, c_.import_limits}, *r), out);
  }
  Status Export(ServerContext* ctx, const v1::ExportTableRequest* r,
                grpc::ServerWriter<v1::ExportTableChunk>* w) override {
    auto t = core::TableToExport(c_.store, *r);
    if (!t.ok()) return ToGrpc(t.status());
    v1::ExportTableChunk chunk;
    *chunk.mutable_info() = t->info();
    for (int i = 0; i < t->entries_size(); ++i) {
      *chunk.add_entries() = t->entries(i);
      if (chunk.entries_size() == 1000 || i + 1 == t->entries_size()) {
        if (ctx->IsCancelled() || !w->Write(chunk))
          return Status(grpc::StatusCode::CANCELLED, "export cancelled");
        chunk.Clear();
      }
    }
    return Status::OK;
  }
  Status List(ServerContext*, const v1::ListTablesRequest* r, v1::ListTablesResponse* out) override {
    return Reply(core::ListTables(c_.store, r->hardware()), out);
  }
  Status SetCorrection(ServerContext*, const v1::SetCorrectionRequest* r, v1::TableInfo* out) override {
    return Reply(core::SetCorrection(c_.store, c_.catalog, *r), out);
  }

 private:
  Core c_;
};

class PredictServiceImpl final : public v1::PredictService::Service {
 public:
  explicit PredictServiceImpl(Core c) : c_(c) {}
  Status Predict(ServerContext*, const v1::PredictRequest* r, v1::PredictResponse* out) override {
    return Reply(core::Predict(c_.catalog, *r), out);
  }
  // A heavy prediction: it waits for one of --max_predict_calls.
  Status PredictBatch(ServerContext* ctx, const v1::PredictBatchRequest* r,
                      v1::PredictBatchResponse* out) override {
    const auto cancelled = [ctx] { return ctx->IsCancelled(); };
    core::Taken slot(&c_.limits->predict_calls);
    if (auto s = slot.Acquire(1, "this PredictBatch", c_.limits->predict_wait_ms, cancelled); !s.ok())
      return ToGrpc(s);
    return Reply(core::PredictBatch(c_.catalog, *r, c_.max_batch, cancelled, c_.limits->max_response_bytes),
                 out);
  }

 private:
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
      absl::MutexLock g(&mu_);
      PollLocked();
    });
    absl::MutexLock l(&mu_);
    PollLocked();
  }
  void OnWriteDone(bool ok) override {
    absl::MutexLock l(&mu_);
    in_flight_ = false;
    if (!ok) return FinishLocked(Status(grpc::StatusCode::CANCELLED, "watcher went away"));
    if (sent_terminal_) return FinishLocked(Status::OK);
    PollLocked();
  }
  void OnCancel() override {
    absl::MutexLock l(&mu_);
    FinishLocked(Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }
  void OnDone() override {
    c_.jobs->Unsubscribe(token_);  // waits for a listener call in progress
    c_.limits->watches.Sub(1);
    delete this;
  }

 private:
  void FinishLocked(const Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }
  void PollLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || in_flight_) return;  // OnWriteDone polls again
    if (c_.jobs->stopping())
      return FinishLocked(
          Status(grpc::StatusCode::UNAVAILABLE, "lutnasd is shutting down; watch again after it restarts"));
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
  absl::Mutex mu_;
  int64_t token_ = 0;  // set by the constructor, read by OnDone: no mutex needed
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool sent_terminal_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_sent_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer out_ ABSL_GUARDED_BY(mu_);  // the write in flight
};

class SearchServiceImpl final
    : public v1::SearchService::WithRawCallbackMethod_Watch<v1::SearchService::Service> {
 public:
  explicit SearchServiceImpl(Core c) : c_(c) {}
  // Its feasibility sampling stops when the caller goes away or its deadline passes.
  Status Submit(ServerContext* ctx, const v1::SubmitRequest* r, v1::Job* out) override {
    const auto cancelled = [ctx] { return ctx->IsCancelled(); };
    return Reply(c_.jobs->Submit(r->spec(), r->request_id(), cancelled), out);
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
      return new FinishedWatch(
          Status(grpc::StatusCode::UNAVAILABLE, "lutnasd is shutting down; watch again after it restarts"));
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
  // A job still queued or starting is waited for on a condition, within the
  // call's deadline and cancellation (JobManager::Ask).
  Status Ask(ServerContext* ctx, const v1::AskRequest* r, v1::AskResponse* out) override {
    if (r->job_id() <= 0) return ToGrpc(PositiveId("job_id", r->job_id()));
    const auto cancelled = [ctx] { return ctx->IsCancelled(); };
    auto c = c_.jobs->Ask(r->job_id(), r->count(), CallTimeLeft(ctx), cancelled);
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
    return Reply(core::ListCandidates(c_.store, *r), out);
  }
  Status Get(ServerContext*, const v1::GetCandidateRequest* r, v1::Candidate* out) override {
    return Reply(core::GetCandidate(c_.store, c_.catalog, r->id()), out);
  }
  Status Export(ServerContext*, const v1::ExportCandidateRequest* r,
                v1::ExportCandidateResponse* out) override {
    return Reply(core::ExportCandidate(c_.store, *r), out);
  }

 private:
  Core c_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeHardwareService(const Core& c) {
  return std::make_unique<HardwareServiceImpl>(c);
}
std::unique_ptr<grpc::Service> MakeTableService(const Core& c) {
  return std::make_unique<TableServiceImpl>(c);
}
std::unique_ptr<grpc::Service> MakePredictService(const Core& c) {
  return std::make_unique<PredictServiceImpl>(c);
}
std::unique_ptr<grpc::Service> MakeSearchService(const Core& c) {
  return std::make_unique<SearchServiceImpl>(c);
}
std::unique_ptr<grpc::Service> MakeCandidateService(const Core& c) {
  return std::make_unique<CandidateServiceImpl>(c);
}

}  // namespace lutnas::server
