// lutnasd: the lutnas daemon. Holds hardware and latency tables, predicts
// latency, runs search jobs in the background and stores every candidate in
// SQLite. Shutdown on SIGINT/SIGTERM: stop accepting calls, stop jobs at a
// generation boundary (they resume at next start), close the database.
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "db/store.h"
#include "latency_models/profiler.h"
#include "search/jobs/catalog.h"
#include "search/jobs/job_manager.h"
#include "server/auth.h"
#include "server/catalogue.h"
#include "server/fast_predict_service.h"
#include "server/services.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "address to listen on; port 0 picks a free port (see --port_file)");
ABSL_FLAG(std::string, port_file, "", "write the port actually bound to this file once serving");
ABSL_FLAG(std::string, db, "var/lutnas.db", "SQLite database (created on first start)");
ABSL_FLAG(int, workers, 1, "search jobs running at once");
ABSL_FLAG(int, eval_threads, 1, "proxy evaluations in parallel per job");
ABSL_FLAG(std::string, root, "", "lutnas source tree (spaces, hardware catalogue); default: found from the binary");
ABSL_FLAG(std::string, import_dir, "", "directory that table-import paths must resolve into (empty: no paths)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain (required off loopback)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key (required off loopback)");
ABSL_FLAG(std::string, token_file, "", "file holding the bearer token every call must carry (required off loopback)");
ABSL_FLAG(int, max_message_mb, 64, "largest request accepted, MiB");
ABSL_FLAG(int, max_population, 5000, "per-job cap on population");
ABSL_FLAG(int64_t, max_evaluations, 1000000, "per-job cap on evaluations");
ABSL_FLAG(double, max_runtime_s, 86400, "per-job cap on run time, seconds");

namespace {

bool IsLoopback(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host == "::1") return true;
  in_addr a;
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

std::string FindRoot(const char* argv0) {
  if (!absl::GetFlag(FLAGS_root).empty()) return absl::GetFlag(FLAGS_root);
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = 0;
    std::string dir(buf);
    for (int up = 0; up < 4 && dir.find('/') != std::string::npos; ++up) {
      dir = dir.substr(0, dir.rfind('/'));
      if (access((dir + "/search/spaces").c_str(), F_OK) == 0) return dir;
    }
  }
  (void)argv0;
  return ".";
}

int Die(const std::string& msg) {
  std::fprintf(stderr, "lutnasd: %s\n", msg.c_str());
  return 1;
}

// Threads that libraries start while loading, before main (OpenBLAS's pool,
// linked through LibTorch), do not block SIGINT/SIGTERM: without a handler a
// signal the kernel delivers to one of them kills the daemon uncleanly. The
// handler forwards it to the sigwait thread (pthread_kill is async-signal-safe).
std::atomic<bool> g_waiter_ready{false};
std::atomic<int> g_early_signal{0};
pthread_t g_waiter;
void ForwardSignal(int sig) {
  if (g_waiter_ready.load()) pthread_kill(g_waiter, sig);
  else g_early_signal.store(sig);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Signals are taken by one thread with sigwait; block them everywhere else.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  struct sigaction forward = {};
  forward.sa_handler = ForwardSignal;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGINT, &forward, nullptr);
  sigaction(SIGTERM, &forward, nullptr);

  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string root = FindRoot(argv[0]);
  const bool loopback = IsLoopback(listen);
  std::string token;
  if (!absl::GetFlag(FLAGS_token_file).empty()) {
    std::ifstream f(absl::GetFlag(FLAGS_token_file));
    std::getline(f, token);
    if (token.size() < 16) return Die("--token_file: the token must be at least 16 characters");
  }
  const bool tls = !absl::GetFlag(FLAGS_tls_cert).empty() || !absl::GetFlag(FLAGS_tls_key).empty();
  if (!loopback && (!tls || token.empty()))
    return Die(absl::StrCat("--listen ", listen, " is not a loopback address: it requires --tls_cert, "
                            "--tls_key and --token_file"));

  lutnas::SetTorchThreads(1);
  auto store = lutnas::db::Store::Open(absl::GetFlag(FLAGS_db));
  if (!store.ok()) return Die(absl::StrCat("--db ", absl::GetFlag(FLAGS_db), ": ", store.status().message()));
  if (auto st = lutnas::server::SeedHardwareCatalogue(store->get(), root + "/server/hardware_catalog.json");
      !st.ok())
    return Die(std::string(st.message()));

  lutnas::jobs::Catalog catalog(store->get());
  lutnas::jobs::JobManager::Options jo;
  jo.workers = std::max(1, absl::GetFlag(FLAGS_workers));
  jo.eval_threads = std::max(1, absl::GetFlag(FLAGS_eval_threads));
  jo.spaces_dir = root + "/search/spaces";
  jo.max_population = absl::GetFlag(FLAGS_max_population);
  jo.max_evaluations = absl::GetFlag(FLAGS_max_evaluations);
  jo.max_runtime_s = absl::GetFlag(FLAGS_max_runtime_s);
  lutnas::jobs::JobManager jobs(store->get(), &catalog, jo);

  lutnas::server::Core core{store->get(), &catalog, &jobs, absl::GetFlag(FLAGS_import_dir)};
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(lutnas::server::MakeHardwareService(core));
  services.push_back(lutnas::server::MakeTableService(core));
  services.push_back(lutnas::server::MakePredictService(core));
  services.push_back(lutnas::server::MakeSearchService(core));
  services.push_back(lutnas::server::MakeCandidateService(core));
  services.push_back(lutnas::server::MakeFastPredictService(core));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (tls) {
    auto cert = lutnas::ReadFileToString(absl::GetFlag(FLAGS_tls_cert));
    auto key = lutnas::ReadFileToString(absl::GetFlag(FLAGS_tls_key));
    if (!cert.ok() || !key.ok()) return Die("--tls_cert/--tls_key: cannot read the files");
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    creds = grpc::SslServerCredentials(ssl);
    if (!token.empty()) lutnas::server::RequireBearerToken(creds, token);
  } else if (!token.empty()) {
    return Die("--token_file needs --tls_cert and --tls_key (tokens are only sent over TLS)");
  }
  int port = 0;
  builder.AddListeningPort(listen, creds, &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_message_mb) << 20);
  for (auto& s : services) builder.RegisterService(s.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return Die(absl::StrCat("cannot listen on ", listen));
  if (auto st = jobs.Start(); !st.ok()) return Die(std::string(st.message()));

  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    const std::string tmp = absl::GetFlag(FLAGS_port_file) + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), absl::GetFlag(FLAGS_port_file).c_str());
  }
  std::fprintf(stderr, "lutnasd: serving on %s (port %d), database %s, %d worker(s)%s\n", listen.c_str(), port,
               absl::GetFlag(FLAGS_db).c_str(), jo.workers, tls ? ", TLS" : "");

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    std::fprintf(stderr, "lutnasd: signal %d: shutting down\n", sig);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  });
  g_waiter = waiter.native_handle();
  g_waiter_ready.store(true);
  if (int sig = g_early_signal.load()) pthread_kill(g_waiter, sig);
  server->Wait();
  jobs.Shutdown();  // jobs stop at a generation boundary, checkpointed
  waiter.join();
  store->reset();   // closes the database
  std::fprintf(stderr, "lutnasd: stopped cleanly\n");
  return 0;
}
