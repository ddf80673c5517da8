#include "tools/table_missing.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "base/file.h"
#include "latency_models/graph.h"
#include "latency_models/profiler.h"
#include "latency_models/table_io.h"
#include "latency_models/table_merge.h"
#include "space/arch_util.h"
#include "tools/download.h"
#include "tools/upload.h"

namespace lutnas::tools {
namespace {

const char* kTool = "lutnas-profile 0.1 (libtorch 1.13)";

int Usage() {
  std::fprintf(
      stderr,
      "usage: lutnas-profile table --arch ARCH.json [ARCH.json...] --hardware NAME --server HOST:PORT\n"
      "                            [--version V] [--threads N] [--rounds R] [--dry-run] [--json]\n"
      "                            [--accept-noisy]\n"
      "       lutnas-profile table --arch ARCH.json [ARCH.json...] --table OLD.csv --out NEW.csv\n"
      "                            [--threads N] [--rounds R] [--dry-run] [--json] [--accept-noisy]\n"
      "  Measures the keys the architectures need that the table lacks and stores the old\n"
      "  entries plus the new ones (in the old table's reference units) as a new version.\n"
      "  A noisy measurement (as validate judges it) is re-measured twice, then refused\n"
      "  (exit 3, nothing stored) unless --accept-noisy.\n");
  return 2;
}

int Bad(const std::string& msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  return 2;
}

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
  return 1;
}

std::string JsonStr(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

}  // namespace

int TableForArchsMain(int argc, char** argv) {
  std::vector<std::string> files;
  std::string server, hardware, table_path, out;
  int threads = 0, rounds = 0;
  int64_t version = 0;
  bool dry_run = false, json = false, in_arch = false, accept_noisy = false;
  for (int i = 2; i < argc; ++i) {
    const std::string f = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (f == "--arch")
      in_arch = true;
    else if (f == "--server")
      in_arch = false, server = next();
    else if (f == "--hardware")
      in_arch = false, hardware = next();
    else if (f == "--table")
      in_arch = false, table_path = next();
    else if (f == "--out")
      in_arch = false, out = next();
    else if (f == "--threads")
      in_arch = false, threads = std::atoi(next().c_str());
    else if (f == "--rounds")
      in_arch = false, rounds = std::atoi(next().c_str());
    else if (f == "--version")
      in_arch = false, version = std::atoll(next().c_str());
    else if (f == "--dry-run")
      in_arch = false, dry_run = true;
    else if (f == "--json")
      in_arch = false, json = true;
    else if (f == "--accept-noisy")
      in_arch = false, accept_noisy = true;
    else if (!f.empty() && f[0] == '-')
      return Bad(absl::StrCat("unknown option '", f, "'")), Usage();
    else if (in_arch)
      files.push_back(f);
    else
      return Bad(absl::StrCat("'", f, "': architecture files follow --arch")), Usage();
  }
  if (files.empty()) return Bad("--arch: at least one architecture file is needed"), Usage();
  if (server.empty() == table_path.empty())
    return Bad("give either --server HOST:PORT (with --hardware) or --table FILE (with --out)"), Usage();
  if (!server.empty() && hardware.empty()) return Bad("--hardware: needed with --server"), Usage();
  if (!table_path.empty() && out.empty() && !dry_run) return Bad("--out: needed with --table"), Usage();
  if (threads < 0 || threads > 256) return Bad(absl::StrCat("--threads: must be in 1..256, got ", threads));
  if (rounds < 0 || rounds > 1000) return Bad(absl::StrCat("--rounds: must be in 1..1000, got ", rounds));
  if (version < 0) return Bad(absl::StrCat("--version: must be >= 0, got ", version));
  std::string lim_error;
  const latency::NoiseLimits lim = latency::TableNoiseLimits(&lim_error);
  if (!lim_error.empty()) return Bad(lim_error);

  std::vector<v1::Architecture> archs;
  for (const auto& f : files) {
    auto arch = space::LoadArchitectureFile(f);
    if (!arch.ok()) return Bad(std::string(arch.status().message()));
    if (auto st = space::ValidateArchitecture(*arch); !st.ok())
      return Bad(absl::StrCat(f, ": ", st.message()));
    archs.push_back(space::Canonicalize(*arch));
  }

  // The table to extend.
  v1::LatencyTable base;
  bool have_base = true;
  if (!server.empty()) {
    auto t = DownloadTable(server, hardware, version);
    if (t.ok()) {
      base = std::move(*t);
    } else if (t.status().code() == absl::StatusCode::kNotFound && version == 0) {
      auto hw = GetHardware(server, hardware);
      if (!hw.ok()) return Fail(hw.status());
      have_base = false;  // first table of this hardware: just these keys
      auto* info = base.mutable_info();
      info->set_hardware(hardware);
      info->set_backend(hw->backend().empty() ? "libtorch-cpu" : hw->backend());
      info->set_precision(hw->precision().empty() ? "fp32" : hw->precision());
      info->set_threads(threads > 0 ? threads : (hw->threads() > 0 ? hw->threads() : 1));
      info->set_tool(kTool);
      info->set_space("arch");
      info->set_source("profile");
    } else {
      return Fail(t.status());
    }
  } else {
    auto data = lutnas::base::ReadFileToString(table_path, 64 << 20);
    if (!data.ok()) return Bad(std::string(data.status().message()));
    const bool is_json = table_path.size() > 5 && table_path.substr(table_path.size() - 5) == ".json";
    auto t = latency::ParseTable(*data, is_json ? "json" : "csv", "", nullptr);
    if (!t.ok()) return Bad(absl::StrCat(table_path, ": ", t.status().message()));
    base = std::move(*t);
    hardware = base.info().hardware();
  }
  const auto& bi = base.info();
  // Only a table this tool could have measured can be extended by it: the
  // table's backend, or the registered hardware's when the table names none.
  std::string backend = bi.backend();
  if (backend.empty() && !server.empty()) {
    auto hw = GetHardware(server, hardware);
    if (!hw.ok()) return Fail(hw.status());
    backend = hw->backend();
  }
  if (!backend.empty() && backend != "libtorch-cpu")
    return Bad(absl::StrCat("table: ", hardware, "'s table was measured with backend '", backend,
                            "'; lutnas-profile measures with LibTorch on this machine. Measure the "
                            "missing keys (lutnas predict --json: missing_keys) with the device's "
                            "own tool and import them"));
  if (!bi.precision().empty() && bi.precision() != "fp32")
    return Bad(absl::StrCat("table: precision '", bi.precision(), "'; lutnas-profile measures fp32"));
  const int table_threads = bi.threads() > 0 ? bi.threads() : 1;
  if (threads > 0 && threads != table_threads)
    return Bad(absl::StrCat("--threads: the table was measured with ", table_threads, " threads, got ",
                            threads, " (a table holds one thread count)"));
  threads = table_threads;
  if (have_base && !(bi.reference_ms() > 0))
    return Bad(
        "table: has no reference_ms, so new entries cannot be expressed in its time units "
        "(measure the whole table again with lutnas-profile table --space)");

  const std::vector<space::KeySpec> missing = latency::MissingKeys(archs, base);
  std::fprintf(stderr, "%s: %zu architectures need %zu keys missing from %s (%d entries)\n", hardware.c_str(),
               archs.size(), missing.size(),
               have_base ? absl::StrCat("table version ", bi.version()).c_str() : "an empty table",
               base.entries_size());
  for (const auto& k : missing) std::fprintf(stderr, "  missing %s\n", k.key.c_str());
  auto report = [&](int64_t new_version, int measured, int failed, double ref_now, double drift,
                    int entries) {
    if (!json) return;
    std::string keys = "[";
    for (size_t i = 0; i < missing.size(); ++i) keys += (i ? ", " : "") + JsonStr(missing[i].key);
    keys += "]";
    std::printf(
        "{\"hardware\": %s, \"base_version\": %lld, \"version\": %lld, \"missing\": %s, "
        "\"measured\": %d, \"failed\": %d, \"entries\": %d, \"reference_ms\": %.6g, "
        "\"reference_now_ms\": %.6g, \"reference_drift\": %.4f}\n",
        JsonStr(hardware).c_str(), static_cast<long long>(have_base ? bi.version() : 0),
        static_cast<long long>(new_version), keys.c_str(), measured, failed, base.info().reference_ms(),
        ref_now, drift - 1, entries);
  };
  if (missing.empty() || dry_run) {
    if (missing.empty()) std::fprintf(stderr, "nothing to measure\n");
    report(0, 0, 0, 0, 1, base.entries_size());
    return 0;
  }

  latency::MeasureOptions mo;
  mo.threads = threads;
  if (rounds > 0) mo.rounds = rounds;
  mo.max_extra_rounds = mo.rounds;  // keys whose halves disagree (rounds.h)
  mo.key_tolerance = lim.key_tolerance;
  latency::Profiler prof(mo);
  auto ref_now = prof.MeasureReference();
  if (!ref_now.ok()) return Fail(ref_now.status());
  double target = bi.reference_ms();
  if (!have_base) {
    target = *ref_now;
    base.mutable_info()->set_reference_ms(target);
  }
  std::fprintf(stderr,
               "reference now %.4f ms, table's %.4f ms (machine %.2fx the table's speed): "
               "new entries are scaled to the table's reference\n",
               *ref_now, target, target / *ref_now);
  std::vector<latency::Graph> graphs;
  for (const auto& k : missing) graphs.push_back(latency::LowerKey(k));
  const auto t0 = std::chrono::steady_clock::now();
  const latency::CheckedMeasurement cm = latency::MeasureChecked(
      prof, graphs, target,
      [&](int d, int n) {
        // A progress line only on a terminal (not in redirected logs).
        if (isatty(2))
          std::fprintf(stderr, "\rmeasuring %zu keys: %3d%%", missing.size(), 100 * d / std::max(n, 1));
      },
      lim, 2);
  const auto& res = cm.results;
  const double drift = cm.drift;
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "%smeasured %zu keys in %.1f s (reference drift across rounds %.1f%%, "
               "%d attempt(s))\n",
               isatty(2) ? "\r\033[K" : "", missing.size(), el, (drift - 1) * 100, cm.attempts);
  for (const auto& f : cm.noise)
    std::fprintf(stderr, "warning: noisy measurement%s: %s: %s\n",
                 accept_noisy ? " (accepted: --accept-noisy)" : "", f.field.c_str(), f.reason.c_str());
  if (!cm.noise.empty() && !accept_noisy) {
    std::fprintf(stderr,
                 "error: the measurement stayed noisy after %d attempts (see the warnings); "
                 "nothing was %s: re-run on a quieter machine, or pass --accept-noisy\n",
                 cm.attempts, server.empty() ? "written" : "uploaded");
    return 3;
  }
  v1::LatencyTable added;
  int failed = 0;
  for (size_t i = 0; i < res.size(); ++i) {
    *added.add_entries() = latency::EntryOf(missing[i].key, res[i]);
    if (res[i].failed) ++failed;
  }
  auto merged = have_base ? latency::MergeTables(base, added) : [&]() -> absl::StatusOr<v1::LatencyTable> {
    v1::LatencyTable t = added;
    *t.mutable_info() = base.info();
    return t;
  }();
  if (!merged.ok()) return Fail(merged.status());
  const int n_old = base.entries_size(), n_new = added.entries_size();
  if (!server.empty()) {
    auto info = UploadTable(server, *merged);
    if (!info.ok()) return Fail(info.status());
    std::fprintf(stderr,
                 "uploaded %s table version %lld: %lld entries (%d from %s + %d measured now, "
                 "%d failed)\n",
                 hardware.c_str(), static_cast<long long>(info->version()),
                 static_cast<long long>(info->entries()), n_old,
                 have_base ? absl::StrCat("version ", bi.version()).c_str() : "none", n_new, failed);
    report(info->version(), n_new - failed, failed, *ref_now, drift, merged->entries_size());
  } else {
    std::ofstream f(out, std::ios::trunc);
    f << latency::WriteTableCsv(*merged);
    if (!f.good()) return Fail(absl::InternalError(absl::StrCat(out, ": cannot write")));
    std::fprintf(stderr, "wrote %s: %d entries (%d from %s + %d measured now, %d failed)\n", out.c_str(),
                 merged->entries_size(), n_old, table_path.c_str(), n_new, failed);
    report(0, n_new - failed, failed, *ref_now, drift, merged->entries_size());
  }
  return 0;
}

}  // namespace lutnas::tools
