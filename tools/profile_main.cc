// lutnas-profile: runs on the target device and measures with LibTorch.
//   table    --space S.json --hardware NAME (--out FILE | --server HOST:PORT)
//            [--threads N] [--rounds R] [--resume] [--accept-noisy]
//            (exit 3: stayed noisy after re-measuring; LUTNAS_TABLE_MAX_DRIFT /
//            LUTNAS_TABLE_MAX_SPREAD override the limits)
//   measure  ARCH.json... [--threads N] [--rounds R] [--json]
//   validate --space S.json --table FILE --samples N [--seed S] [--threads N]
//            [--json] [--write-correction] [--accept-noisy]
//   fit-correction --in PAIRS.json [--json] [--accept-noisy]
//            (exit 0 accepted, 3 refused: validation failed or unsafe, 2 bad input)
//
// The fit and its validation (validate --json and fit-correction --json
// print the same fields; latency_models/correction.h). Fields, old and new
// (none removed):
//   samples, within_10pct / mape (leave-one-out, = loo_within_10pct /
//   loo_mape), within_10pct_raw / mape_raw (plain block sums),
//   kendall_tau_lut (leave-one-out predictions), kendall_tau_lut_raw,
//   kendall_tau_macs, kendall_tau_params, correction {...}, reproducibility
//   {scale_half_a, scale_half_b, rel_diff}, median_spread, accepted,
//   refusals [{field, reason}];
//   new (issue 24):
//   kendall_tau_fit      the stored correction applied to every network; the
//                        "ranking" check compares it with kendall_tau_macs
//   models               [{method, loo_mape, loo_within_10pct, chosen}]: every
//                        model considered (ratio-median / theil-sen, key-terms,
//                        type-factors), leave-one-out
//   validation_passed    no refusal at all (accepted may still be true with
//                        --accept-noisy: then the correction carries its flags)
//   notes                [{field, reason}]: the run's noise (reference drift,
//                        bimodal reference, wide spread): information only
//   correction.validation_flags  ["field: reason"] of a fit stored despite
//                        failing (--accept-noisy); predictions say so
//   correction.loo_within_10pct, loo_mape, kendall_tau_lut, kendall_tau_macs
// Refusals: samples (< 10 networks), reproducibility (halves > 10% apart),
// accuracy (leave-one-out < 50% within +-10%, or worse than the raw sums),
// ranking (kendall_tau_fit < kendall_tau_macs), correction.* (unsafe: never
// stored, even with --accept-noisy). Reference drift is no longer a refusal.
// A scale of 0 is never produced (a failed fit of a half falls back to the
// ratio); a correction applies fully up to 2x range_max_ms, then at face
// value (correction.h kRangeSlack), and predictions flag it.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"

#include "base/file.h"
#include "latency_models/correction.h"
#include "latency_models/cost.h"
#include "latency_models/lut.h"
#include "latency_models/profiler.h"
#include "latency_models/table_io.h"
#include "space/space.h"
#include "tools/table_missing.h"
#include "tools/upload.h"

namespace lutnas::tools {
namespace {

const char* kTool = "lutnas-profile 0.1 (libtorch 1.13)";

struct Args {
  std::string cmd, space, hardware, out, server, table, keys, in;
  std::vector<std::string> files;
  int threads = 1, rounds = 0, samples = 50;
  uint64_t seed = 1;
  bool resume = false, json = false, write_correction = false, accept_noisy = false;
};

int Usage() {
  std::fprintf(
      stderr,
      "usage: lutnas-profile table (--space SPACE.json | --keys KEYS.txt) --hardware NAME\n"
      "                            (--out FILE | --server HOST:PORT)\n"
      "                            [--threads N] [--rounds R] [--resume] [--accept-noisy]\n"
      "       lutnas-profile table --arch ARCH.json... (--hardware NAME --server HOST:PORT |\n"
      "                            --table OLD --out NEW)   # only the missing keys, merged\n"
      "       lutnas-profile measure ARCH.json... [--threads N] [--rounds R] [--json] [--table FILE]\n"
      "       lutnas-profile validate --space SPACE.json --table FILE --samples N [--seed S]\n"
      "                            [--threads N] [--rounds R] [--json] [--write-correction]\n"
      "                            [--accept-noisy]\n"
      "       lutnas-profile fit-correction --in PAIRS.json [--json] [--accept-noisy]\n");
  return 2;
}

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
  return 1;
}

std::string Eta(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  return s >= 60 ? absl::StrFormat("%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60)
                 : absl::StrFormat("%ds", static_cast<int>(s));
}

absl::StatusOr<v1::LatencyTable> LoadTableFile(const std::string& path) {
  auto data = lutnas::base::ReadFileToString(path, 64 << 20);
  if (!data.ok()) return data.status();
  const bool json = path.size() > 5 && path.substr(path.size() - 5) == ".json";
  std::vector<std::string> unmapped;
  auto t = latency::ParseTable(*data, json ? "json" : "csv", "", &unmapped);
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", t.status().message()));
  return t;
}

// The keys to measure: every key of --space, or the list in --keys FILE.
absl::StatusOr<std::vector<space::KeySpec>> KeysToMeasure(const Args& a, std::string* name) {
  if (!a.space.empty()) {
    auto space = space::Space::Load(a.space);
    if (!space.ok()) return space.status();
    *name = (*space)->name();
    return (*space)->EnumerateKeys();
  }
  auto data = lutnas::base::ReadFileToString(a.keys, 64 << 20);
  if (!data.ok()) return data.status();
  std::vector<space::KeySpec> keys;
  std::set<std::string> seen;
  int line = 0;
  for (absl::string_view l : absl::StrSplit(*data, '\n')) {
    ++line;
    const std::string k(absl::StripAsciiWhitespace(l));
    if (k.empty() || k[0] == '#' || !seen.insert(k).second) continue;
    auto ks = space::ParseKey(k);
    if (!ks.ok())
      return absl::InvalidArgumentError(absl::StrCat(a.keys, ": line ", line, ": ", ks.status().message()));
    keys.push_back(*ks);
  }
  *name = absl::StrCat("keys:", a.keys.substr(a.keys.rfind('/') + 1));
  return keys;
}

int Table(const Args& a) {
  if ((a.space.empty() == a.keys.empty()) || a.hardware.empty() || (a.out.empty() == a.server.empty()))
    return Usage();
  std::string space_name;
  auto keys_or = KeysToMeasure(a, &space_name);
  if (!keys_or.ok()) return Fail(keys_or.status());
  const std::vector<space::KeySpec>& keys = *keys_or;
  std::string lim_error;
  const latency::NoiseLimits lim = latency::TableNoiseLimits(&lim_error);
  if (!lim_error.empty()) return std::fprintf(stderr, "error: %s\n", lim_error.c_str()), 2;
  const std::string out =
      a.out.empty() ? absl::StrCat("/tmp/lutnas-table-", a.hardware, "-", getpid(), ".csv") : a.out;
  std::set<std::string> done;
  double reference = 0;
  if (a.resume && access(out.c_str(), F_OK) == 0) {
    // Keep every complete line of the partial file; drop a torn last line.
    auto data = lutnas::base::ReadFileToString(out, 64 << 20);
    if (!data.ok()) return Fail(data.status());
    std::string text = *data;
    if (!text.empty() && text.back() != '\n') text.resize(text.rfind('\n') + 1);
    auto t = latency::ParseTableCsv(text, a.hardware);
    if (t.ok()) {
      for (const auto& e : t->entries()) done.insert(e.key());
      reference = t->info().reference_ms();
    } else if (text.find('@') != std::string::npos) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(out, ": cannot resume: ", t.status().message())));
    }
    std::ofstream(out, std::ios::trunc) << text;
  }
  latency::MeasureOptions mo;
  mo.threads = a.threads;
  if (a.rounds > 0) mo.rounds = a.rounds;
  mo.max_extra_rounds = mo.rounds;  // for keys whose halves disagree (docs/measurement.md)
  mo.key_tolerance = lim.key_tolerance;
  latency::Profiler prof(mo);
  if (reference <= 0 || done.empty()) {
    auto ref = prof.MeasureReference();
    if (!ref.ok()) return Fail(ref.status());
    reference = *ref;
    v1::LatencyTable header;
    auto* info = header.mutable_info();
    info->set_hardware(a.hardware);
    info->set_backend("libtorch-cpu");
    info->set_precision("fp32");
    info->set_threads(a.threads);
    info->set_tool(absl::StrCat(kTool, " ", prof.clock(), " clock"));
    info->set_space(space_name);
    info->set_source("profile");
    info->set_reference_ms(reference);
    std::string text = latency::WriteTableCsv(header);
    std::ofstream(out, std::ios::trunc) << text;
    done.clear();
  }
  std::vector<const space::KeySpec*> todo;
  for (const auto& k : keys)
    if (!done.count(k.key)) todo.push_back(&k);
  std::fprintf(stderr,
               "%s: %zu keys in '%s', %zu measured already, %zu to measure "
               "(threads %d, reference %.4f ms)\n",
               a.hardware.c_str(), keys.size(), space_name.c_str(), done.size(), todo.size(), a.threads,
               reference);
  const auto t0 = std::chrono::steady_clock::now();
  const size_t kChunk = 48;
  double worst_drift = 1;
  int extra_rounds = 0;
  std::vector<size_t> retry;       // todo indices whose halves did not agree
  std::vector<size_t> reproduced;  // todo indices written (anchors for the retry)
  auto write_rows = [&](const v1::LatencyTable& chunk, const std::string& note) {
    std::string rows = latency::WriteTableCsv(chunk);
    rows = rows.substr(rows.find("key,median_ms"));
    rows = rows.substr(rows.find('\n') + 1);
    std::ofstream f(out, std::ios::app);
    f << note << rows;
    f.flush();
  };
  for (size_t c = 0; c < todo.size(); c += kChunk) {
    std::vector<latency::Graph> graphs;
    const size_t end = std::min(todo.size(), c + kChunk);
    for (size_t i = c; i < end; ++i) graphs.push_back(latency::LowerKey(*todo[i]));
    // Noise is handled by the rounds' statistics (rounds.h): each round's
    // speed cancelled, keys whose halves disagree re-timed in extra rounds.
    // What still does not reproduce is measured once more at the end.
    const latency::CheckedMeasurement cm = latency::MeasureChecked(
        prof, graphs, reference,
        [&](int d, int n) {
          if (!isatty(2)) return;  // a progress line only on a terminal (not in redirected logs)
          const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const double frac = (c + static_cast<double>(d) / n * (end - c)) / todo.size();
          std::fprintf(stderr, "\r[%5zu/%zu] %3.0f%%  elapsed %s  ETA %s   ",
                       c + static_cast<size_t>(static_cast<double>(d) / n * (end - c)), todo.size(),
                       100 * frac, Eta(el).c_str(), Eta(el / std::max(frac, 1e-9) - el).c_str());
        },
        lim, 0);
    const auto& res = cm.results;
    worst_drift = std::max(worst_drift, cm.drift);
    extra_rounds += cm.rounds.run - cm.rounds.planned;
    v1::LatencyTable chunk;
    for (size_t i = 0; i < res.size(); ++i) {
      if (!res[i].failed && !res[i].reproducible) {
        retry.push_back(c + i);
        continue;
      }
      if (!res[i].failed) reproduced.push_back(c + i);
      *chunk.add_entries() = latency::EntryOf(todo[c + i]->key, res[i]);
    }
    write_rows(chunk, "");
  }
  // One more measurement of the keys that did not reproduce, later in time,
  // with a few reproduced keys as anchors of the rounds' speed.
  std::vector<std::string> refused;
  int wide = 0;  // kept with an interval between 1x and 2x the tolerance
  if (!retry.empty()) {
    std::fprintf(stderr, "%s%zu key(s) did not reproduce within their rounds: measuring them again\n",
                 isatty(2) ? "\r\033[K" : "", retry.size());
    std::vector<latency::Graph> graphs;
    for (size_t i : retry) graphs.push_back(latency::LowerKey(*todo[i]));
    const size_t anchors = std::min<size_t>(6, reproduced.size());
    for (size_t j = 0; j < anchors; ++j)
      graphs.push_back(latency::LowerKey(*todo[reproduced[reproduced.size() * j / anchors]]));
    // Twice the rounds: a noisy key's interval narrows by sqrt(2), a key
    // whose time moves on its own still shows it.
    latency::MeasureOptions mo3 = mo;
    mo3.rounds = 2 * mo.rounds;
    mo3.max_extra_rounds = 2 * mo.max_extra_rounds;
    mo3.seed = mo.seed + 1;
    latency::Profiler prof3(mo3);
    const latency::CheckedMeasurement cm = latency::MeasureChecked(prof3, graphs, reference, nullptr, lim, 0);
    v1::LatencyTable chunk;
    std::string note;
    for (size_t i = 0; i < retry.size(); ++i) {
      const auto& r = cm.results[i];
      const std::string& key = todo[retry[i]]->key;
      // Kept, named, when its halves agree and its interval is within twice
      // the tolerance (a measured key with a known +-10% beats an estimate);
      // left out when its time moves on its own or the interval is wider.
      if (!r.failed && !r.reproducible && r.halves_agree && r.interval_rel <= 2 * lim.key_tolerance) {
        ++wide;
        std::fprintf(stderr, "note: key %s kept with a wide interval: %s\n", key.c_str(),
                     latency::UnreproducibleReason(r).substr(19).c_str());
        absl::StrAppend(&note, "# kept with a wide interval: ", key, ": ",
                        latency::UnreproducibleReason(r).substr(19), "\n");
      } else if (!r.failed && !r.reproducible) {
        refused.push_back(key);
        std::fprintf(stderr, "warning: key %s %s: %s\n", key.c_str(),
                     latency::UnreproducibleReason(r).c_str(),
                     a.accept_noisy ? "kept (--accept-noisy)" : "left out of the table");
        absl::StrAppend(&note, "# not reproduced", a.accept_noisy ? " (kept: --accept-noisy)" : " (left out)",
                        ": ", key, ": ", latency::UnreproducibleReason(r), "\n");
        if (!a.accept_noisy) continue;
      }
      *chunk.add_entries() = latency::EntryOf(key, r);
    }
    write_rows(chunk, note);
  }
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "%smeasured %zu keys in %.1f s (%d extra rounds for keys whose halves disagreed; "
               "reference drift up to %.1f%% within a chunk, cancelled round by round) -> %s\n",
               isatty(2) ? "\r\033[K" : "", todo.size(), el, extra_rounds, (worst_drift - 1) * 100,
               out.c_str());
  if (wide > 0)
    std::fprintf(stderr,
                 "note: %d key(s) kept with a 95%% interval between %.0f%% and %.0f%% (named above)\n", wide,
                 100 * lim.key_tolerance, 200 * lim.key_tolerance);
  if (!refused.empty() && !a.accept_noisy)
    std::fprintf(stderr,
                 "warning: %zu of %zu keys did not reproduce twice and were left out (named above): "
                 "predictions estimate them and say so; `--resume` measures them again\n",
                 refused.size(), todo.size());
  if (!a.server.empty()) {
    auto t = LoadTableFile(out);
    if (!t.ok()) return Fail(t.status());
    auto info = UploadTable(a.server, *t);
    if (!info.ok()) return Fail(info.status());
    std::fprintf(stderr, "uploaded %s table version %lld (%lld entries) to %s\n", a.hardware.c_str(),
                 static_cast<long long>(info->version()), static_cast<long long>(info->entries()),
                 a.server.c_str());
  }
  return 0;
}

struct NetResult {
  std::string name;
  latency::Stats stats;
  bool failed = false;
  std::string error;
  double round_spread = 0;      // (p90 - p10) / median of the per-round medians
  latency::WorkloadResult raw;  // with its split-half reproducibility
  double spread() const { return round_spread; }
};

// `reference_ms` > 0 expresses the results in the time units of a table
// measured when the reference workload took that long (cancels a change of
// machine speed between the table and now); 0: this run's own reference.
// Each round's speed is cancelled (rounds.h); networks whose two halves of
// rounds disagree by more than 5% get up to as many extra rounds as planned
// (docs/measurement.md).
std::vector<NetResult> MeasureNets(const std::vector<v1::Architecture>& archs, const Args& a, double* drift,
                                   double reference_ms, latency::RoundReport* rounds) {
  latency::MeasureOptions mo;
  mo.threads = a.threads;
  mo.rounds = a.rounds > 0 ? a.rounds : 9;
  mo.min_samples = 4;
  mo.min_round_ms = 15;
  mo.max_extra_rounds = mo.rounds;
  latency::Profiler prof(mo);
  std::vector<latency::Graph> graphs;
  for (const auto& arch : archs) graphs.push_back(latency::LowerNetwork(space::Canonicalize(arch)));
  auto res = prof.Measure(
      graphs, reference_ms,
      [&](int d, int n) {
        if (isatty(2)) std::fprintf(stderr, "\rmeasuring %d networks: %3d%%", n, 100 * d / std::max(n, 1));
      },
      drift, rounds);
  if (isatty(2)) std::fprintf(stderr, "\r\033[K");
  if (rounds->run > rounds->planned)
    std::fprintf(stderr,
                 "%d extra round(s) for networks whose halves disagreed (reference drift %.1f%%, "
                 "round speeds %.1f%% apart: cancelled)\n",
                 rounds->run - rounds->planned, (rounds->drift_all - 1) * 100,
                 (rounds->round_drift - 1) * 100);
  std::vector<NetResult> out;
  for (size_t i = 0; i < archs.size(); ++i)
    out.push_back({archs[i].name(), res[i].stats, res[i].failed, res[i].error, res[i].round_spread, res[i]});
  return out;
}

int Measure(const Args& a) {
  if (a.files.empty()) return Usage();
  std::vector<v1::Architecture> archs;
  for (const auto& f : a.files) {
    auto arch = space::LoadArchitectureFile(f);
    if (!arch.ok()) return Fail(arch.status());
    if (auto st = space::ValidateArchitecture(*arch); !st.ok())
      return Fail(absl::InvalidArgumentError(absl::StrCat(f, ": ", st.message())));
    if (arch->name().empty()) arch->set_name(f);
    archs.push_back(*arch);
  }
  double reference = 0;
  if (!a.table.empty()) {  // --table: in that table's time units
    auto t = LoadTableFile(a.table);
    if (!t.ok()) return Fail(t.status());
    reference = t->info().reference_ms();
  }
  double drift = 1;
  latency::RoundReport rounds;
  const auto res = MeasureNets(archs, a, &drift, reference, &rounds);
  // Noise: a network is refused when its two halves of rounds do not
  // reproduce (after extra rounds); the run's drift is cancelled, not judged.
  std::vector<double> spreads;
  for (const auto& r : res) spreads.push_back(r.failed ? 0 : r.spread());
  std::vector<latency::Refusal> noise;
  for (size_t i = 0; i < res.size(); ++i)
    if (!res[i].failed && !res[i].raw.reproducible)
      noise.push_back({absl::StrCat("networks[", i, "]"),
                       absl::StrCat(res[i].name, ": ", latency::UnreproducibleReason(res[i].raw))});
  if (a.json) {
    std::string s = "[";
    for (size_t i = 0; i < res.size(); ++i)
      absl::StrAppendFormat(
          &s,
          "%s\n {\"name\": \"%s\", \"hash\": \"%s\", \"median_ms\": %.6g, "
          "\"iqr_ms\": %.6g, \"p10_ms\": %.6g, \"p90_ms\": %.6g, \"samples\": %d, "
          "\"spread\": %.4f, \"noisy\": %s, \"reproducible\": %s, \"half_a_ms\": %.6g, "
          "\"half_b_ms\": %.6g, \"half_rel_diff\": %.4f, \"rounds\": %d, \"failed\": %s}",
          i ? "," : "", latency::JsonEscape(res[i].name), space::ArchHash(archs[i]), res[i].stats.median_ms,
          res[i].stats.iqr_ms, res[i].stats.p10_ms, res[i].stats.p90_ms, res[i].stats.samples, spreads[i],
          res[i].raw.reproducible ? "false" : "true", res[i].raw.reproducible ? "true" : "false",
          res[i].raw.half_a_ms, res[i].raw.half_b_ms, res[i].raw.half_rel_diff, res[i].raw.rounds,
          res[i].failed ? "true" : "false");
    std::printf("%s\n]\n", s.c_str());
  } else {
    std::printf("%-32s %10s %10s %10s %10s %8s %7s\n", "network", "median_ms", "iqr_ms", "p10_ms", "p90_ms",
                "samples", "spread");
    for (size_t i = 0; i < res.size(); ++i) {
      const auto& r = res[i];
      if (r.failed) {
        std::printf("%-32s failed: %s\n", r.name.c_str(), r.error.c_str());
        continue;
      }
      std::printf("%-32s %10.3f %10.3f %10.3f %10.3f %8d %6.1f%%\n", r.name.substr(0, 32).c_str(),
                  r.stats.median_ms, r.stats.iqr_ms, r.stats.p10_ms, r.stats.p90_ms, r.stats.samples,
                  100 * spreads[i]);
    }
    std::printf(
        "threads %d, %d rounds (%d extra), reference drift %.1f%%, round speeds %.1f%% apart "
        "(cancelled)\n",
        a.threads, rounds.run, rounds.run - rounds.planned, (drift - 1) * 100,
        (rounds.round_drift - 1) * 100);
  }
  for (const auto& f : noise)
    std::fprintf(stderr, "warning: noisy measurement%s: %s: %s\n",
                 a.accept_noisy ? " (accepted: --accept-noisy)" : "", f.field.c_str(), f.reason.c_str());
  if (!noise.empty() && !a.accept_noisy) {
    std::fprintf(stderr,
                 "error: %zu network(s) did not reproduce (see the warnings): re-run with more "
                 "--rounds, or pass --accept-noisy to use them anyway\n",
                 noise.size());
    return 3;
  }
  return 0;
}

int Validate(const Args& a) {
  if (a.space.empty() || a.table.empty() || a.samples < 3) return Usage();
  auto space = space::Space::Load(a.space);
  if (!space.ok()) return Fail(space.status());
  auto table = LoadTableFile(a.table);
  if (!table.ok()) return Fail(table.status());
  v1::Hardware hw;
  hw.set_name(table->info().hardware());
  v1::LatencyTable raw_table = *table;
  raw_table.mutable_info()->clear_correction();
  auto pred = latency::LatencyPredictor::Create(hw, &raw_table);
  if (!pred.ok()) return Fail(pred.status());
  base::Rng rng(a.seed);
  std::vector<v1::Architecture> archs;
  std::set<std::string> seen;
  for (int tries = 0; static_cast<int>(archs.size()) < a.samples && tries < a.samples * 50; ++tries) {
    auto arch = space::Canonicalize((*space)->ToArchitecture((*space)->Sample(rng)));
    if (seen.insert(space::ArchHash(arch)).second) archs.push_back(arch);
  }
  double drift = 1;
  latency::RoundReport rounds;
  const auto res = MeasureNets(archs, a, &drift, table->info().reference_ms(), &rounds);
  // Networks that did not reproduce are left out of the fit, named; when
  // fewer than half of the measured ones (or 3) reproduced, all are fitted
  // and the fit is refused for it ("networks": a machine this noisy gives
  // no fit to trust, but the figures are still reported).
  size_t measured = 0, reproduced = 0;
  for (const auto& r : res)
    if (!r.failed && r.stats.median_ms > 0) ++measured, reproduced += r.raw.reproducible;
  const bool keep_unreproducible = a.accept_noisy || reproduced < std::max<size_t>(3, (measured + 1) / 2);
  latency::FitInput in;
  std::vector<size_t> used;  // index into archs of every fitted sample
  double mean_cov = 0;
  for (size_t i = 0; i < archs.size(); ++i) {
    if (res[i].failed || !(res[i].stats.median_ms > 0)) {
      std::fprintf(stderr, "warning: network %s could not be measured (%s): left out of the fit\n",
                   space::ArchHash(archs[i]).c_str(), res[i].error.c_str());
      continue;
    }
    if (!res[i].raw.reproducible && !keep_unreproducible) {
      std::fprintf(stderr, "warning: network %s %s: left out of the fit\n", space::ArchHash(archs[i]).c_str(),
                   latency::UnreproducibleReason(res[i].raw).c_str());
      continue;
    }
    double m = 0;
    const double sum = (*pred)->SumLatency(archs[i], &m);
    mean_cov += sum > 0 ? m / sum : 0;
    const auto nc = latency::AnalyzeNetwork(archs[i]);
    in.samples.push_back({sum, res[i].stats.median_ms, res[i].spread(), static_cast<double>(nc.total.macs),
                          static_cast<double>(nc.total.params), space::ArchHash(archs[i])});
    // The sum split by block type (the type-factors fit); left out if the
    // table's own correction terms make the entries not add up to the sum.
    std::map<std::string, double> split;
    double total = 0;
    const v1::Prediction breakdown = (*pred)->Predict(archs[i], /*breakdown=*/true);
    for (const auto& b : breakdown.blocks()) {
      split[latency::KeyType(b.key())] += b.latency_ms();
      total += b.latency_ms();
    }
    if (std::fabs(total - sum) <= 1e-6 * sum) in.samples.back().type_ms = std::move(split);
    // Its table keys (blocks + head): the per-key terms of the key-terms fit.
    in.samples.back().keys = breakdown.blocks_size();
    used.push_back(i);
  }
  if (!used.empty()) mean_cov /= used.size();
  // The range the correction must be safe over: from the table's smallest
  // entries (what lutnasd checks too) to the largest sum seen.
  in.range = latency::TableSumRange(raw_table);
  in.reference_drift = drift - 1;
  in.reference_rounds_ms = rounds.reference_ms;
  in.seed = a.seed;
  in.accept_noisy = a.accept_noisy;
  if (auto st = latency::CheckFitInput(in); !st.ok()) return Fail(st);
  latency::FitReport r = latency::FitAndCheck(in);
  if (keep_unreproducible && !a.accept_noisy)
    r.refusals.push_back(
        {"networks", absl::StrFormat("only %d of %d measured networks reproduced (their "
                                     "halves of rounds disagreed): all were fitted, none to trust",
                                     reproduced, measured)});
  const auto& corr = r.correction;
  if (!a.json) {
    std::printf("%-4s %-16s %10s %10s %10s %8s %7s %10s %8s\n", "#", "hash", "pred_ms", "corr_ms", "meas_ms",
                "iqr_ms", "spread", "MMACs", "err%");
    for (size_t k = 0; k < used.size(); ++k) {
      const size_t i = used[k];
      const auto& x = in.samples[k];
      std::printf("%-4zu %-16s %10.3f %10.3f %10.3f %8.3f %6.1f%% %10.1f %+7.1f%%\n", i, x.name.c_str(),
                  x.sum_ms, r.loo_ms[k], x.measured_ms, res[i].stats.iqr_ms, 100 * x.spread, x.macs / 1e6,
                  100 * (r.loo_ms[k] - x.measured_ms) / x.measured_ms);
    }
  }
  // The reproducibility figure and every refusal, always (stderr with --json).
  std::fprintf(a.json ? stderr : stdout, "%s", latency::FitReportText(r).c_str());
  std::printf(
      "{%s, \"coverage\": %.4f, \"threads\": %d, \"reference_drift\": %.4f, "
      "\"rounds\": {\"planned\": %d, \"run\": %d, \"dropped\": %d, \"drift_all\": %.4f}, "
      "\"hardware\": \"%s\", \"table_version\": %lld, \"table\": \"%s\"}\n",
      latency::FitReportJsonFields(r).c_str(), mean_cov, a.threads, drift - 1, rounds.planned, rounds.run,
      rounds.dropped, rounds.drift_all - 1, latency::JsonEscape(table->info().hardware()).c_str(),
      static_cast<long long>(table->info().version()), latency::JsonEscape(a.table).c_str());
  if (!r.accepted()) {
    std::fprintf(stderr, "error: the fit %s; %s\n",
                 a.accept_noisy ? "is unsafe" : "failed its validation (see the warnings)",
                 a.write_correction ? "the table file was not changed"
                                    : "do not store it (--accept-noisy stores it flagged: predictions "
                                      "from it then say so)");
    return 3;
  }
  if (a.write_correction) {
    table->mutable_info()->mutable_correction()->CopyFrom(corr);
    if (auto st = latency::ValidateTable(*table); !st.ok()) return Fail(st);  // the same check as lutnasd
    std::ofstream(a.table, std::ios::trunc) << latency::WriteTableCsv(*table);
    std::fprintf(stderr, "wrote correction (scale %.4f, offset %.4f ms, %s, %d networks) into %s\n",
                 corr.scale(), corr.offset_ms(), corr.method().c_str(), corr.fitted_on(), a.table.c_str());
  }
  return 0;
}

// fit-correction: the correction fit and its checks on pairs measured
// elsewhere (a vendor runtime, another tool). Exit 0 accepted, 3 refused, 2
// bad input.
int FitCorrectionCmd(const Args& a) {
  if (a.in.empty()) return Usage();
  auto bad = [&](const std::string& why) {
    std::fprintf(stderr, "error: %s: %s\n", a.in.c_str(), why.c_str());
    return 2;
  };
  auto data = lutnas::base::ReadFileToString(a.in, 64 << 20);
  if (!data.ok()) return bad(std::string(data.status().message()));
  v1::CorrectionPairs pairs;
  google::protobuf::util::JsonParseOptions jo;
  jo.ignore_unknown_fields = false;
  if (auto st = google::protobuf::util::JsonStringToMessage(*data, &pairs, jo); !st.ok())
    return bad(std::string(st.message()));
  if (pairs.range_ms_size() != 0 && pairs.range_ms_size() != 2)
    return bad(
        absl::StrCat("range_ms: must be [min_sum_ms, max_sum_ms], got ", pairs.range_ms_size(), " numbers"));
  latency::FitInput in;
  for (const auto& p : pairs.samples()) {
    in.samples.push_back({p.sum_ms(), p.measured_ms(), p.spread(), static_cast<double>(p.macs()),
                          static_cast<double>(p.params()), p.name(), p.keys()});
    in.samples.back().type_ms.insert(p.type_ms().begin(), p.type_ms().end());
  }
  if (pairs.range_ms_size() == 2) in.range = {pairs.range_ms(0), pairs.range_ms(1)};
  in.range.min_key_ms = pairs.min_key_ms();
  if (pairs.has_reference_drift()) in.reference_drift = pairs.reference_drift();
  in.reference_rounds_ms.assign(pairs.reference_rounds_ms().begin(), pairs.reference_rounds_ms().end());
  in.seed = pairs.seed();
  in.accept_noisy = a.accept_noisy;
  if (auto st = latency::CheckFitInput(in); !st.ok()) return bad(std::string(st.message()));
  if (pairs.has_reference_drift() && pairs.reference_drift() < 0)
    return bad(absl::StrCat("reference_drift: must be >= 0, got ", pairs.reference_drift()));
  const latency::FitReport r = latency::FitAndCheck(in);
  if (a.json) {
    std::printf("{\"hardware\": \"%s\", \"table_version\": %lld, %s}\n",
                latency::JsonEscape(pairs.hardware()).c_str(), static_cast<long long>(pairs.table_version()),
                latency::FitReportJsonFields(r).c_str());
  } else {
    std::printf("%-4s %-24s %10s %10s %10s %+8s\n", "#", "name", "sum_ms", "corr_ms", "meas_ms", "err%");
    for (size_t i = 0; i < in.samples.size(); ++i) {
      const auto& x = in.samples[i];
      std::printf("%-4zu %-24s %10.3f %10.3f %10.3f %+7.1f%%\n", i, x.name.substr(0, 24).c_str(), x.sum_ms,
                  r.loo_ms[i], x.measured_ms, 100 * (r.loo_ms[i] - x.measured_ms) / x.measured_ms);
    }
    std::printf("%s", latency::FitReportText(r).c_str());
  }
  if (a.json) std::fprintf(stderr, "%s", latency::FitReportText(r).c_str());  // reproducibility, refusals
  return r.accepted() ? 0 : 3;
}

}  // namespace
}  // namespace lutnas::tools

int main(int argc, char** argv) {
  using lutnas::tools::Args;
  if (argc < 2) return lutnas::tools::Usage();
  // table --arch: only what some architectures miss, merged (table_missing.cc).
  if (std::string(argv[1]) == "table")
    for (int i = 2; i < argc; ++i)
      if (std::string(argv[i]) == "--arch") return lutnas::tools::TableForArchsMain(argc, argv);
  Args a;
  a.cmd = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string f = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (f == "--space")
      a.space = next();
    else if (f == "--hardware")
      a.hardware = next();
    else if (f == "--out")
      a.out = next();
    else if (f == "--server")
      a.server = next();
    else if (f == "--table")
      a.table = next();
    else if (f == "--keys")
      a.keys = next();
    else if (f == "--threads")
      a.threads = std::atoi(next().c_str());
    else if (f == "--rounds")
      a.rounds = std::atoi(next().c_str());
    else if (f == "--samples")
      a.samples = std::atoi(next().c_str());
    else if (f == "--seed")
      a.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (f == "--resume")
      a.resume = true;
    else if (f == "--json")
      a.json = true;
    else if (f == "--write-correction")
      a.write_correction = true;
    else if (f == "--accept-noisy")
      a.accept_noisy = true;
    else if (f == "--in")
      a.in = next();
    else if (!f.empty() && f[0] == '-')
      return lutnas::tools::Usage();
    else
      a.files.push_back(f);
  }
  if (a.threads < 1 || a.threads > 256) {
    std::fprintf(stderr, "error: --threads: must be in 1..256, got %d\n", a.threads);
    return 2;
  }
  if (a.cmd == "table") return lutnas::tools::Table(a);
  if (a.cmd == "measure") return lutnas::tools::Measure(a);
  if (a.cmd == "validate") return lutnas::tools::Validate(a);
  if (a.cmd == "fit-correction") return lutnas::tools::FitCorrectionCmd(a);
  return lutnas::tools::Usage();
}
