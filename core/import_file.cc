#include "core/import_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace lutnas::core {
namespace {

using absl::StrCat;

// "a/./b/../c" -> "a/c"; false when ".." climbs above the start.
bool Normalize(const std::string& rel, std::string* out) {
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(rel, '/')) {
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (parts.empty()) return false;
      parts.pop_back();
    } else {
      parts.emplace_back(p);
    }
  }
  out->clear();
  for (const auto& p : parts) absl::StrAppend(out, "/", p);
  return true;
}

bool Inside(const std::string& root, const std::string& full) {
  return full.compare(0, root.size(), root) == 0 && (full.size() == root.size() || full[root.size()] == '/');
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

absl::StatusOr<std::string> ReadImportFile(const std::string& import_dir, const std::string& path,
                                           const ImportLimits& limits) {
  if (path.find('\0') != std::string::npos) return absl::InvalidArgumentError("path: contains a NUL byte");
  if (import_dir.empty())
    return absl::PermissionDeniedError("path: file imports are disabled (start lutnasd with --import_dir)");
  char rootbuf[PATH_MAX];
  if (!realpath(import_dir.c_str(), rootbuf))
    return absl::FailedPreconditionError("path: --import_dir does not exist");
  const std::string root(rootbuf);
  const absl::Status outside = absl::PermissionDeniedError(
      "path: not a file under --import_dir (paths are relative to it; nothing outside it can be imported)");
  // Lexically first, touching nothing: an absolute path must name the
  // directory, and ".." must not climb out of it.
  std::string rel = path;
  if (!rel.empty() && rel[0] == '/') {
    if (!Inside(root, rel)) return outside;
    rel = rel.substr(root.size());
  }
  std::string norm;
  if (!Normalize(rel, &norm)) return outside;
  if (norm.empty()) return absl::InvalidArgumentError("path: names the --import_dir itself, not a file");
  const std::string joined = root + norm;
  char fullbuf[PATH_MAX];
  if (!realpath(joined.c_str(), fullbuf)) {
    // A symbolic link inside may point outside: only say "missing" for
    // what is inside.
    return absl::NotFoundError(StrCat("path: no such file under --import_dir: '", path.substr(0, 200), "'"));
  }
  const std::string full(fullbuf);
  if (!Inside(root, full)) return outside;
  // Never block in open(): O_NONBLOCK (a FIFO would wait for a writer),
  // then refuse anything but a regular file.
  Fd f;
  f.fd = open(full.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (f.fd < 0)
    return absl::PermissionDeniedError(
        StrCat("path: cannot open '", path.substr(0, 200), "' (errno ", errno, ")"));
  struct stat st;
  if (fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(StrCat(
        "path: '", path.substr(0, 200), "' is not a regular file (FIFOs, devices and sockets are refused)"));
  if (st.st_size > limits.max_bytes)
    return absl::ResourceExhaustedError(StrCat("max_import_mb: '", path.substr(0, 200), "' is ", st.st_size,
                                               " bytes, more than the limit of ", limits.max_bytes,
                                               " bytes (lutnasd --max_import_mb)"));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                             std::chrono::duration<double>(limits.deadline_s));
  std::string data;
  data.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    if (std::chrono::steady_clock::now() > deadline)
      return absl::DeadlineExceededError(StrCat("import_deadline_s: reading '", path.substr(0, 200),
                                                "' took more than ", limits.deadline_s,
                                                " s (lutnasd --import_deadline_s)"));
    const ssize_t n = read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::DataLossError(
          StrCat("path: reading '", path.substr(0, 200), "' failed (errno ", errno, ")"));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (static_cast<int64_t>(data.size()) > limits.max_bytes)  // it grew while we read
      return absl::ResourceExhaustedError(StrCat("max_import_mb: '", path.substr(0, 200),
                                                 "' is larger than the limit of ", limits.max_bytes,
                                                 " bytes (lutnasd --max_import_mb)"));
  }
  return data;
}

}  // namespace lutnas::core
