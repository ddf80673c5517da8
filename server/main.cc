// lutnasd: the lutnas daemon. Holds hardware and latency tables, predicts
// latency, runs search jobs in the background and stores every candidate in
// SQLite. Shutdown on SIGINT/SIGTERM, within about a second in any phase:
// stop accepting calls, end Watch streams, stop jobs before their next
// candidate evaluation (they resume at next start from their last
// checkpoint, with identical results), close the database. A second
// SIGINT/SIGTERM forces exit at once (the database is transactional: the
// same as a kill -9).
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "base/file.h"
#include "latency_models/profiler.h"
#include "server/daemon.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "address to listen on; port 0 picks a free port (see --port_file)");
ABSL_FLAG(std::string, port_file, "", "write the port actually bound to this file once serving");
ABSL_FLAG(std::string, db, "var/lutnas.db", "SQLite database (created on first start)");
ABSL_FLAG(int, workers, 1, "search jobs running at once");
ABSL_FLAG(int, eval_threads, 1, "proxy evaluations in parallel per job");
ABSL_FLAG(std::string, root, "",
          "lutnas source tree (spaces, hardware catalogue); default: found from the binary");
ABSL_FLAG(std::string, import_dir, "",
          "directory that table-import paths must resolve into (empty: no paths)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain (required off loopback)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key (required off loopback)");
ABSL_FLAG(std::string, token_file, "",
          "file holding the bearer token every call must carry (required off loopback)");
ABSL_FLAG(int, max_message_mb, 64, "largest request accepted, MiB");
ABSL_FLAG(int, max_population, 5000, "per-job cap on population");
ABSL_FLAG(int64_t, max_evaluations, 1000000, "per-job cap on evaluations");
ABSL_FLAG(double, max_runtime_s, 86400, "per-job cap on run time, seconds");
// Resource bounds: a request over one is refused with RESOURCE_EXHAUSTED naming the flag.
ABSL_FLAG(int, max_queued_jobs, 64, "jobs waiting for a worker; Submit beyond it: RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_uploads, 4, "table uploads in progress at once; more: RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_upload_mb, 512,
          "MiB that all uploads in progress may buffer together; more: RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_watch_streams, 256,
          "Watch streams open at once (callback API: they hold no thread, only memory); more: "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_import_mb, 64, "largest file a path import reads, MiB; larger: RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_predict_calls, 4,
          "heavy predictions (PredictBatch calls, PredictEncoded answers) computing at once; more wait "
          "--predict_wait_s, then RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_predict_mb, 256,
          "MiB that PredictEncoded answers being built or written may hold together (each counts twice: the "
          "message and its serialized copy; at least 2 x --max_response_mb); more wait "
          "--predict_wait_s, then RESOURCE_EXHAUSTED");
ABSL_FLAG(
    int, max_response_mb, 32,
    "largest answer of one PredictBatch call or PredictEncoded message, MiB; larger: RESOURCE_EXHAUSTED "
    "naming how many architectures or rows fit");
ABSL_FLAG(double, predict_wait_s, 10, "how long a heavy prediction waits for room before RESOURCE_EXHAUSTED");
ABSL_FLAG(double, import_deadline_s, 10,
          "time a path import may spend reading its file; then DEADLINE_EXCEEDED");
ABSL_FLAG(double, shutdown_grace_s, 1.0,
          "on SIGTERM/SIGINT, seconds calls in flight get before they are cancelled");
ABSL_FLAG(double, shutdown_timeout_s, 10,
          "on SIGTERM/SIGINT, exit (code 1) after this many seconds even if something has not stopped; "
          "the database is transactional, so this is no worse than kill -9");

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

// Reads the token: the first line, without its line ending (CRLF too) or
// surrounding blanks. An error names the file and why it cannot be read.
absl::StatusOr<std::string> ReadToken(const std::string& path) {
  auto text = lutnas::base::ReadFileToString(path, 64 << 10);
  if (!text.ok()) {
    const int err = errno;
    return absl::NotFoundError(absl::StrCat("--token_file ", path, ": cannot read the file (",
                                            err ? std::strerror(err) : text.status().message(), ")"));
  }
  std::string token = text->substr(0, text->find('\n'));
  const auto blank = [](char c) { return c == '\r' || c == '\n' || c == ' ' || c == '\t'; };
  while (!token.empty() && blank(token.back())) token.pop_back();
  size_t i = 0;
  while (i < token.size() && blank(token[i])) ++i;
  return token.substr(i);
}

// SIGINT/SIGTERM reach a pipe the signal thread reads. A handler, not
// sigwait alone: libraries start threads before main (OpenBLAS's pool) that
// main cannot block signals in, and the kernel may hand the signal to one.
int g_signal_pipe[2] = {-1, -1};

extern "C" void OnSignal(int sig) {
  const char c = static_cast<char>(sig);
  const ssize_t n = write(g_signal_pipe[1], &c, 1);  // async-signal-safe
  (void)n;
}

int NextSignal() {
  char c = 0;
  for (;;) {
    const ssize_t n = read(g_signal_pipe[0], &c, 1);
    if (n == 1) return c;
    if (n < 0 && errno == EINTR) continue;
    return 0;
  }
}

int Die(const std::string& msg) {
  std::fprintf(stderr, "lutnasd: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the lutnas daemon: hardware, latency tables, predictions and search jobs over gRPC.\n"
      "Usage: lutnasd [--listen 127.0.0.1:50051] [--db var/lutnas.db] [flags]\n"
      "Resource bounds (--max_queued_jobs, --max_uploads, --max_upload_mb, --max_watch_streams,\n"
      "--max_import_mb, --import_deadline_s, --max_predict_calls, --max_predict_mb, --max_response_mb)\n"
      "refuse what passes them with RESOURCE_EXHAUSTED naming the flag.\n"
      "SIGTERM/SIGINT: clean exit within about a second (jobs resume at next start); a second one forces "
      "exit.");
  absl::FlagsUsageConfig usage;
  // --help lists this file's flags (absl matches files named after the binary by default).
  // They are listed as "Flags from lutnasd:", not under the build's source path.
  const auto ours = [](absl::string_view f) { return absl::EndsWith(f, "server/main.cc") || f == "lutnasd"; };
  usage.contains_help_flags = ours;
  usage.normalize_filename = [ours](absl::string_view f) { return ours(f) ? "lutnasd" : std::string(f); };
  usage.contains_helpshort_flags = ours;
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  // Signals are taken by one thread through a pipe; threads main starts
  // block them, so that they rarely interrupt a system call.
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) return Die("cannot create the signal pipe");
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string root = FindRoot(argv[0]);
  const bool loopback = IsLoopback(listen);
  std::string token;
  if (!absl::GetFlag(FLAGS_token_file).empty()) {
    errno = 0;
    auto read = ReadToken(absl::GetFlag(FLAGS_token_file));
    if (!read.ok()) return Die(std::string(read.status().message()));
    token = *read;
    if (token.size() < 16)
      return Die(absl::StrCat("--token_file ", absl::GetFlag(FLAGS_token_file),
                              ": the token (its first line) must be at least 16 characters, got ",
                              token.size()));
  }
  const bool tls = !absl::GetFlag(FLAGS_tls_cert).empty() || !absl::GetFlag(FLAGS_tls_key).empty();
  if (!loopback && (!tls || token.empty()))
    return Die(absl::StrCat("--listen ", listen,
                            " is not a loopback address: it requires --tls_cert, "
                            "--tls_key and --token_file"));

  lutnas::latency::SetTorchThreads(1);
  lutnas::server::Daemon::Options o;
  o.listen = listen;
  o.db_path = absl::GetFlag(FLAGS_db);
  o.root = root;
  o.import_dir = absl::GetFlag(FLAGS_import_dir);
  o.tls_cert_path = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key_path = absl::GetFlag(FLAGS_tls_key);
  o.token = token;
  o.max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  o.jobs.workers = std::max(1, absl::GetFlag(FLAGS_workers));
  o.jobs.eval_threads = std::max(1, absl::GetFlag(FLAGS_eval_threads));
  o.jobs.max_population = absl::GetFlag(FLAGS_max_population);
  o.jobs.max_evaluations = absl::GetFlag(FLAGS_max_evaluations);
  o.jobs.max_runtime_s = absl::GetFlag(FLAGS_max_runtime_s);
  o.jobs.max_queued_jobs = absl::GetFlag(FLAGS_max_queued_jobs);
  o.max_uploads = absl::GetFlag(FLAGS_max_uploads);
  o.max_upload_mb = absl::GetFlag(FLAGS_max_upload_mb);
  o.max_watch_streams = absl::GetFlag(FLAGS_max_watch_streams);
  o.max_import_mb = absl::GetFlag(FLAGS_max_import_mb);
  o.import_deadline_s = absl::GetFlag(FLAGS_import_deadline_s);
  o.max_predict_calls = absl::GetFlag(FLAGS_max_predict_calls);
  o.max_predict_mb = absl::GetFlag(FLAGS_max_predict_mb);
  o.max_response_mb = absl::GetFlag(FLAGS_max_response_mb);
  o.predict_wait_s = absl::GetFlag(FLAGS_predict_wait_s);
  o.shutdown_grace_s = absl::GetFlag(FLAGS_shutdown_grace_s);
  lutnas::server::Daemon daemon(o);
  auto port = daemon.Start();
  if (!port.ok()) return Die(std::string(port.status().message()));

  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    const std::string tmp = absl::GetFlag(FLAGS_port_file) + ".tmp";
    std::ofstream(tmp) << *port << "\n";
    std::rename(tmp.c_str(), absl::GetFlag(FLAGS_port_file).c_str());
  }
  std::fprintf(stderr, "lutnasd: serving on %s (port %d), database %s, %d worker(s)%s\n", listen.c_str(),
               *port, o.db_path.c_str(), o.jobs.workers, tls ? ", TLS" : "");

  const double grace = std::max(0.0, std::min(60.0, o.shutdown_grace_s));
  std::thread waiter([&] {
    pthread_sigmask(SIG_UNBLOCK, &sigs, nullptr);  // this thread may run the handler
    const int sig = NextSignal();
    std::fprintf(stderr, "lutnasd: signal %d: shutting down (a second signal forces exit)\n", sig);
    std::thread forced([] {
      const int again = NextSignal();
      std::fprintf(stderr, "lutnasd: second signal %d: exiting now\n", again);
      std::_Exit(130);
    });
    forced.detach();
    const double timeout = std::max(grace + 1, absl::GetFlag(FLAGS_shutdown_timeout_s));
    std::thread watchdog([timeout] {
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
      std::fprintf(stderr, "lutnasd: shutdown took more than %.1f s (--shutdown_timeout_s): exiting now\n",
                   timeout);
      std::_Exit(1);
    });
    watchdog.detach();
    // Jobs, Watch streams and waits first, then calls in flight get the
    // grace period; workers are joined and the database closed.
    daemon.Shutdown();
  });
  daemon.Wait();
  waiter.join();  // the database is closed once Shutdown() returns
  std::fprintf(stderr, "lutnasd: stopped cleanly\n");
  return 0;
}
