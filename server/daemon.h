// The daemon without its command line: opens the store, seeds the hardware
// catalogue, builds the core (predictor catalogue, job manager) and every
// gRPC service, listens and starts the job workers. lutnasd's main turns
// flags into Options and signals into Shutdown(); the server tests build the
// same daemon on a loopback port.
#ifndef LUTNAS_SERVER_DAEMON_H_
#define LUTNAS_SERVER_DAEMON_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "core/db_storage.h"
#include "core/job_manager.h"
#include "core/predictor_catalog.h"
#include "db/store.h"

namespace lutnas::server {

class Daemon {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";  // port 0 picks a free port (Start returns it)
    std::string db_path = "var/lutnas.db";
    std::string root = ".";                   // source tree: search/spaces, server/hardware_catalog.json
    std::string import_dir;                   // table-import paths must resolve into it ("" = no paths)
    std::string tls_cert_path, tls_key_path;  // PEM files; both or neither
    std::string token;                        // bearer token every call must carry (needs TLS)
    int max_message_mb = 64;                  // largest request accepted
    // Workers and per-job caps; spaces_dir is root + "/search/spaces".
    core::JobManager::Options jobs;
    // Resource bounds (each >= 1): beyond them RESOURCE_EXHAUSTED naming the flag.
    int max_uploads = 4;
    int max_upload_mb = 512;
    int max_watch_streams = 256;
    int max_import_mb = 64;
    int max_predict_calls = 4;  // PredictBatch calls and PredictEncoded answers computing at once
    int max_predict_mb =
        256;  // MiB of PredictEncoded answers being built or written (x2, >= 2 x max_response_mb)
    int max_response_mb = 32;    // largest PredictBatch / PredictEncoded answer
    double predict_wait_s = 10;  // how long a heavy prediction waits for room
    double import_deadline_s = 10;
    double shutdown_grace_s = 1.0;  // calls in flight get this long at Shutdown, then are cancelled
  };

  explicit Daemon(Options opts);
  ~Daemon();  // Shutdown()
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Opens everything and starts serving; returns the bound port. Errors say
  // what failed, naming the option as lutnasd's flag ("--db var/x.db: ...",
  // "--max_uploads: must be >= 1, got 0", "cannot listen on ..."). Once only.
  absl::StatusOr<int> Start();
  // Stops jobs, Watch streams and waits at once, gives calls in flight the
  // grace period, stops the server, joins the workers (running jobs stay
  // resumable from their last checkpoint) and closes the database. Safe from
  // another thread while one is in Wait(); later calls do nothing.
  void Shutdown();
  // Blocks until the server has stopped (after Shutdown()).
  void Wait();

  const Options& options() const { return opts_; }
  db::Store* store() const { return store_.get(); }
  core::Catalog* catalog() const { return catalog_.get(); }
  core::JobManager* jobs() const { return jobs_.get(); }

 private:
  Options opts_;
  std::unique_ptr<db::Store> store_;
  std::unique_ptr<core::DbStorage> storage_;  // the core's view of store_
  std::unique_ptr<core::Catalog> catalog_;
  std::unique_ptr<core::JobManager> jobs_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace lutnas::server

#endif  // LUTNAS_SERVER_DAEMON_H_
