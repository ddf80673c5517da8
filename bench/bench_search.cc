// Issue 4 benchmarks.
//  bench_search speed  [--table FILE --space S.json]
//      (a) 50,000 candidates (P=100 x 500 generations, aging evolution)
//          scored by table latency + params on one core.
//  bench_search thesis --table FILE --space S.json --budget MS [--evals N] [--out DIR]
//      (c) equal evaluation budgets: latency-constrained evolution vs
//          FLOPs(MACs)-constrained evolution vs random search, Zen-score
//          objective; writes each method's top-10 architectures to DIR for
//          `lutnas-profile measure`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "base/file.h"
#include "core/evaluator.h"
#include "latency_models/lut.h"
#include "latency_models/profiler.h"
#include "latency_models/table_io.h"
#include "search/engine.h"

using namespace lutnas;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

v1::LatencyTable SyntheticTable(const space::Space& space) {
  v1::LatencyTable t;
  t.mutable_info()->set_hardware("bench");
  for (const auto& k : space.EnumerateKeys()) {
    const latency::Cost c = latency::GraphCost(latency::LowerKey(k));
    auto* e = t.add_entries();
    e->set_key(k.key);
    e->set_median_ms(0.01 + c.macs / 2e9 + c.mac_bytes / 4e9);
    e->set_samples(1);
    e->set_status(v1::ENTRY_MEASURED);
  }
  return t;
}

std::string Arg(int argc, char** argv, const char* name, const std::string& dflt) {
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], name)) return argv[i + 1];
  return dflt;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "speed";
  const std::string space_path = Arg(argc, argv, "--space", "search/spaces/edge.json");
  auto space = space::Space::Load(space_path);
  if (!space.ok()) {
    std::fprintf(stderr, "%s\n", std::string(space.status().message()).c_str());
    return 1;
  }
  v1::LatencyTable table;
  const std::string table_path = Arg(argc, argv, "--table", "");
  if (!table_path.empty()) {
    auto data = lutnas::base::ReadFileToString(table_path, 64 << 20);
    std::vector<std::string> u;
    auto t = data.ok() ? latency::ParseTable(*data, "csv", "", &u)
                       : absl::StatusOr<v1::LatencyTable>(data.status());
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
      return 1;
    }
    table = *t;
  } else {
    table = SyntheticTable(**space);
  }
  v1::Hardware hw;
  hw.set_name(table.info().hardware());
  auto pred = latency::LatencyPredictor::Create(hw, &table);
  if (!pred.ok()) return 1;
  latency::SetTorchThreads(1);

  if (mode == "speed") {
    latency::ProxyCache cache;
    core::LutEvaluator::Options eo;
    eo.objective = v1::PARAMS;
    // Budget: the median predicted latency of random samples (half feasible).
    base::Rng rng(1);
    std::vector<double> lats;
    for (int i = 0; i < 200; ++i)
      lats.push_back((*pred)->Predict((*space)->ToArchitecture((*space)->Sample(rng)), false).latency_ms());
    std::sort(lats.begin(), lats.end());
    std::vector<double> times;
    int64_t evaluated = 0;
    for (int rep = 0; rep < 3; ++rep) {
      core::LutEvaluator ev(*space, {*pred}, eo, &cache);
      search::EngineOptions o;
      o.population = 100;
      o.sample_size = 25;
      o.generations = 499;  // 100 x (1 + 499) = 50,000 candidates
      o.seed = rep + 1;
      o.latency_budgets_ms = {lats[lats.size() / 2]};
      auto engine = search::Engine::Create(*space, o, &ev);
      if (!engine.ok()) {
        std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str());
        return 1;
      }
      const double t0 = Now();
      while (!(*engine)->Done()) {
        auto r = (*engine)->Step();
        if (!r.ok()) {
          std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
          return 1;
        }
      }
      times.push_back(Now() - t0);
      evaluated = (*engine)->progress().evaluated();
    }
    std::sort(times.begin(), times.end());
    const double children = 100.0 * 500;
    std::printf(
        "(a) 50,000 candidates (P=100 x 500 generations, aging evolution, table latency + params, one "
        "core):\n"
        "    wall %.3f s median of 3 [%.3f .. %.3f] = %.0f candidates/s; %lld distinct architectures scored\n"
        "    (repeats hit the engine's cache); table %d keys, space %s\n",
        times[1], times[0], times[2], children / times[1], static_cast<long long>(evaluated),
        table.entries_size(), (*space)->name().c_str());
    return 0;
  }

  // ---- thesis
  const double budget = std::atof(Arg(argc, argv, "--budget", "0").c_str());
  const int evals = std::atoi(Arg(argc, argv, "--evals", "600").c_str());
  const std::string out = Arg(argc, argv, "--out", "var/thesis");
  if (budget <= 0) {
    std::fprintf(stderr, "--budget MS is required\n");
    return 2;
  }
  std::system(("mkdir -p " + out).c_str());
  // The FLOPs engineer's MACs budget: where a least-squares line of table
  // latency vs MACs over random samples crosses the latency budget.
  base::Rng rng(7);
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const int n = 500;
  latency::ProxyCache cache;
  core::LutEvaluator::Options plain;
  plain.objective = v1::MACS;
  core::LutEvaluator cost_ev(*space, {*pred}, plain, &cache);
  for (int i = 0; i < n; ++i) {
    const auto arch = (*space)->ToArchitecture((*space)->Sample(rng));
    const double x = cost_ev.NetworkCostOf(arch).macs / 1e6, y = (*pred)->Predict(arch, false).latency_ms();
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx), icpt = (sy - slope * sx) / n;
  const int64_t macs_budget = static_cast<int64_t>((budget - icpt) / slope * 1e6);
  std::printf("latency budget %.3f ms on %s; equivalent MACs budget %.1f M (fit over %d samples)\n", budget,
              hw.name().c_str(), macs_budget / 1e6, n);
  core::LutEvaluator::Options zo;
  zo.objective = v1::ZEN;
  const int pop = 50;
  const int seeds = std::atoi(Arg(argc, argv, "--seeds", "3").c_str());
  // Equal budgets: every method steps until it has scored `evals` distinct
  // architectures (repairs count), then stops.
  for (const char* method : {"latency", "flops", "random"}) {
    std::vector<double> bests;
    for (int seed = 1; seed <= seeds; ++seed) {
      core::LutEvaluator ev(*space, {*pred}, zo, &cache);
      search::EngineOptions o;
      o.population = pop;
      o.sample_size = 10;
      o.generations = 1000;
      o.seed = seed;
      o.latency_budgets_ms = {std::string(method) == "flops" ? 0.0 : budget};
      if (std::string(method) == "flops") o.max_macs = macs_budget;
      if (std::string(method) == "random") o.algorithm = v1::RANDOM;
      auto engine = search::Engine::Create(*space, o, &ev);
      if (!engine.ok()) {
        std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str());
        return 1;
      }
      const double t0 = Now();
      while (!(*engine)->Done() && (*engine)->progress().evaluated() < evals) {
        auto r = (*engine)->Step();
        if (!r.ok()) {
          std::fprintf(stderr, "%s: %s\n", method, std::string(r.status().message()).c_str());
          return 1;
        }
      }
      // The method's own pick: its top-10 by Zen among what it deems feasible.
      const auto top = (*engine)->Best(10);
      double best = -1e300;
      for (const auto& ind : top) {
        const double lat = (*pred)->Predict((*space)->ToArchitecture(ind.genotype), false).latency_ms();
        if (lat <= budget) best = std::max(best, ind.eval.score);
      }
      bests.push_back(best);
      std::printf(
          "%-8s seed %d: %5lld evaluations in %5.1f s; best Zen within the latency budget (table) %s\n",
          method, seed, static_cast<long long>((*engine)->progress().evaluated()), Now() - t0,
          best > -1e299 ? absl::StrFormat("%.2f", best).c_str() : "none");
      std::printf("         top-10 table latency (ms):");
      for (const auto& ind : top)
        std::printf(" %.2f", (*pred)->Predict((*space)->ToArchitecture(ind.genotype), false).latency_ms());
      std::printf("\n         top-10 Zen:");
      for (const auto& ind : top) std::printf(" %.1f", ind.eval.score);
      std::printf("\n");
      if (seed == 1)
        for (size_t i = 0; i < top.size(); ++i) {
          auto arch = (*space)->ToArchitecture(top[i].genotype);
          arch.set_name(absl::StrCat(method, "_top", i));
          std::ofstream(absl::StrCat(out, "/", method, "_top", i, ".json"))
              << space::ArchitectureToJson(arch);
        }
    }
    std::sort(bests.begin(), bests.end());
    std::printf("%-8s median over %d seeds of the best Zen within budget: %.2f\n", method, seeds,
                bests[bests.size() / 2]);
    std::fflush(stdout);
  }
  std::printf("architectures written to %s/{latency,flops,random}_top{0..9}.json\n", out.c_str());
  return 0;
}
