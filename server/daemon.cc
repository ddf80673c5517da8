#include "server/daemon.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

#include "base/file.h"
#include "core/hardware_catalogue.h"
#include "server/auth.h"
#include "server/fast_predict_service.h"
#include "server/services.h"

namespace lutnas::server {

using absl::StrCat;

Daemon::Daemon(Options opts) : opts_(std::move(opts)) {}

Daemon::~Daemon() { Shutdown(); }

absl::StatusOr<int> Daemon::Start() {
  if (store_) return absl::FailedPreconditionError("the daemon is already started");
  auto store = db::Store::Open(opts_.db_path);
  if (!store.ok())
    return absl::Status(store.status().code(),
                        StrCat("--db ", opts_.db_path, ": ", store.status().message()));
  store_ = std::move(*store);
  storage_ = std::make_unique<core::DbStorage>(store_.get());
  if (auto st = core::SeedHardwareCatalogue(storage_.get(), opts_.root + "/server/hardware_catalog.json");
      !st.ok())
    return st;
  catalog_ = std::make_unique<core::Catalog>(storage_.get());
  core::JobManager::Options jo = opts_.jobs;
  jo.workers = std::max(1, jo.workers);
  jo.eval_threads = std::max(1, jo.eval_threads);
  jo.spaces_dir = opts_.root + "/search/spaces";
  for (auto [name, v] : {std::pair<const char*, int>{"max_queued_jobs", jo.max_queued_jobs},
                         {"max_uploads", opts_.max_uploads},
                         {"max_upload_mb", opts_.max_upload_mb},
                         {"max_watch_streams", opts_.max_watch_streams},
                         {"max_import_mb", opts_.max_import_mb},
                         {"max_predict_calls", opts_.max_predict_calls},
                         {"max_predict_mb", opts_.max_predict_mb},
                         {"max_response_mb", opts_.max_response_mb}})
    if (v < 1) return absl::InvalidArgumentError(StrCat("--", name, ": must be >= 1, got ", v));
  if (opts_.max_predict_mb < 2 * opts_.max_response_mb)
    return absl::InvalidArgumentError(StrCat("--max_predict_mb: must be at least twice --max_response_mb (",
                                             opts_.max_response_mb,
                                             "): an encoded answer counts twice, the "
                                             "message and its serialized copy; got ",
                                             opts_.max_predict_mb));
  jobs_ = std::make_unique<core::JobManager>(storage_.get(), catalog_.get(), jo);

  Core core{storage_.get(), catalog_.get(), jobs_.get(), opts_.import_dir};
  core.limits = std::make_shared<core::ResourceLimits>(
      opts_.max_uploads, int64_t{opts_.max_upload_mb} << 20, opts_.max_watch_streams, opts_.max_predict_calls,
      int64_t{opts_.max_predict_mb} << 20, int64_t{opts_.max_response_mb} << 20);
  core.limits->predict_wait_ms = static_cast<int64_t>(std::max(0.0, opts_.predict_wait_s) * 1000);
  core.import_limits.max_bytes = int64_t{opts_.max_import_mb} << 20;
  core.import_limits.deadline_s = opts_.import_deadline_s;
  services_.push_back(MakeHardwareService(core));
  services_.push_back(MakeTableService(core));
  services_.push_back(MakePredictService(core));
  services_.push_back(MakeSearchService(core));
  services_.push_back(MakeCandidateService(core));
  services_.push_back(MakeFastPredictService(core));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  const bool tls = !opts_.tls_cert_path.empty() || !opts_.tls_key_path.empty();
  if (tls) {
    auto cert = base::ReadFileToString(opts_.tls_cert_path);
    auto key = base::ReadFileToString(opts_.tls_key_path);
    if (!cert.ok() || !key.ok())
      return absl::InvalidArgumentError("--tls_cert/--tls_key: cannot read the files");
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    creds = grpc::SslServerCredentials(ssl);
    if (!opts_.token.empty()) RequireBearerToken(creds, opts_.token);
  } else if (!opts_.token.empty()) {
    return absl::InvalidArgumentError(
        "--token_file needs --tls_cert and --tls_key (tokens are only sent over TLS)");
  }
  int port = 0;
  // Without SO_REUSEPORT gRPC opens one listener: with it, it opens one per
  // poller, and with port 0 each gets its own free port (--port_file named one).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(opts_.listen, creds, &port);
  builder.SetMaxReceiveMessageSize(opts_.max_message_mb << 20);
  for (auto& s : services_) builder.RegisterService(s.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    return absl::UnavailableError(StrCat("cannot listen on ", opts_.listen));
  }
  if (auto st = jobs_->Start(); !st.ok()) return st;
  return port;
}

void Daemon::Shutdown() {
  absl::MutexLock l(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  // Jobs, Watch streams and waits stop first, so that the handlers in
  // flight return before the grace period ends.
  if (jobs_) jobs_->BeginShutdown();
  if (server_) {
    const double grace = std::max(0.0, std::min(60.0, opts_.shutdown_grace_s));
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(grace * 1000)));
    server_->Wait();
  }
  if (jobs_) jobs_->Shutdown();  // workers stop before their next evaluation; running jobs stay resumable
  // The server and services stay until the destructor (Wait() may still hold
  // the server); nothing calls into the core any more.
  jobs_.reset();
  catalog_.reset();
  storage_.reset();
  store_.reset();  // closes the database
}

void Daemon::Wait() {
  grpc::Server* s = nullptr;
  {
    absl::MutexLock l(&shutdown_mu_);
    if (shut_down_) return;
    s = server_.get();
  }
  if (s) s->Wait();
}

}  // namespace lutnas::server
