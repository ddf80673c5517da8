// The evaluator side of bench/search_quality.py: one problem (space,
// objective, latency budgets on synthetic cost-model devices), evaluated by
// the same core::LutEvaluator a lutnasd search job uses, so that lutnas's
// algorithms and the peers (Optuna, pymoo) differ only in the algorithm.
//
//  search_quality_eval describe --space S.json
//      {"width": W, "choices": [...], "names": [...]} (the PredictEncoded row layout)
//  search_quality_eval run <problem> --algorithm evolution|nsga2|random
//                          --population P --sample_size S --evals N --seed K
//      runs a lutnas Engine until N distinct networks are evaluated; prints
//      one line per evaluation in evaluation order ("E score feasible
//      violation lat..."), then "W wall_seconds".
//  search_quality_eval serve <problem>
//      reads rows of choice indices (one per line, "." ends a batch), prints
//      one line per row ("E score feasible violation lat... key" or "X" for a
//      row that is not a network of the space).
// <problem>: --space S.json --objective zen|naswot|params|macs
//            [--devices cpu,npu] [--quantiles q1,q2] (budget i = quantile
//            q_i of 2000 random networks' latency on device i; 0: no budget)
//            [--proxy_resolution 32]
// The devices' tables come from the cost model (see SyntheticTable): cpu is
// compute-bound, npu bandwidth-bound with a larger per-block overhead.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

#include "core/encoded_predict.h"
#include "core/evaluator.h"
#include "latency_models/cost.h"
#include "latency_models/graph.h"
#include "latency_models/lut.h"
#include "latency_models/profiler.h"
#include "search/constraints.h"
#include "search/engine.h"

using namespace lutnas;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Arg(int argc, char** argv, const char* name, const std::string& dflt) {
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], name)) return argv[i + 1];
  return dflt;
}

// A latency table from the cost model: fixed overhead + MACs / peak compute
// + bytes moved / bandwidth (a roofline sum, both terms paid).
v1::LatencyTable SyntheticTable(const space::Space& space, const std::string& device) {
  const bool npu = device == "npu";
  const double overhead = npu ? 0.05 : 0.01, macs_per_ms = npu ? 2e10 : 2e9, bytes_per_ms = npu ? 5e8 : 4e9;
  v1::LatencyTable t;
  t.mutable_info()->set_hardware(device);
  for (const auto& k : space.EnumerateKeys()) {
    const latency::Cost c = latency::GraphCost(latency::LowerKey(k));
    auto* e = t.add_entries();
    e->set_key(k.key);
    e->set_median_ms(overhead + c.macs / macs_per_ms + c.mac_bytes / bytes_per_ms);
    e->set_samples(1);
    e->set_status(v1::ENTRY_MEASURED);
  }
  return t;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
  return 1;
}

void PrintEval(const search::Evaluation& e, const search::Constraints& c) {
  std::printf("E %.17g %d %.17g", e.score, c.Feasible(e) ? 1 : 0, c.Violation(e));
  for (double l : e.latency_ms) std::printf(" %.17g", l);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  auto loaded = space::Space::Load(Arg(argc, argv, "--space", "search/spaces/edge.json"));
  if (!loaded.ok()) return Fail(loaded.status());
  const std::shared_ptr<const space::Space> sp = *loaded;
  auto enc = std::make_shared<core::SpaceEncoding>(sp);
  if (mode == "describe") {
    const v1::EncodingResponse d = enc->Describe();
    std::printf("{\"width\": %d, \"choices\": [", d.width());
    for (int i = 0; i < d.slots_size(); ++i) std::printf("%s%d", i ? ", " : "", d.slots(i).choices());
    std::printf("], \"names\": [");
    for (int i = 0; i < d.slots_size(); ++i)
      std::printf("%s\"%s\"", i ? ", " : "", d.slots(i).name().c_str());
    std::printf("]}\n");
    return 0;
  }
  if (mode != "run" && mode != "serve") {
    std::fprintf(stderr, "usage: search_quality_eval describe|run|serve ... (see the file's comment)\n");
    return 2;
  }
  latency::SetTorchThreads(1);
  // Devices and their budgets.
  std::vector<double> quantiles;
  for (absl::string_view q : absl::StrSplit(Arg(argc, argv, "--quantiles", ""), ',', absl::SkipEmpty()))
    quantiles.push_back(std::atof(std::string(q).c_str()));
  const std::vector<std::string> devices = absl::StrSplit(Arg(argc, argv, "--devices", "cpu"), ',');
  const int ndev = static_cast<int>(devices.size());
  if (static_cast<int>(quantiles.size()) > ndev) {
    std::fprintf(stderr, "--quantiles: more than --devices\n");
    return 2;
  }
  std::vector<std::shared_ptr<const latency::LatencyPredictor>> preds;
  std::vector<v1::LatencyTable> tables(ndev);
  for (int d = 0; d < ndev; ++d) {
    tables[d] = SyntheticTable(*sp, devices[d]);
    v1::Hardware hw;
    hw.set_name(tables[d].info().hardware());
    auto p = latency::LatencyPredictor::Create(hw, &tables[d]);
    if (!p.ok()) return Fail(p.status());
    preds.push_back(*p);
  }
  search::EngineOptions o;
  for (size_t d = 0; d < quantiles.size(); ++d) {
    if (quantiles[d] <= 0) {  // reported, no budget
      o.latency_budgets_ms.push_back(0);
      continue;
    }
    base::Rng rng(12345);
    std::vector<double> lats;
    for (int i = 0; i < 2000; ++i) lats.push_back(preds[d]->PredictMs(sp->ToArchitecture(sp->Sample(rng))));
    std::sort(lats.begin(), lats.end());
    o.latency_budgets_ms.push_back(lats[std::min<size_t>(lats.size() - 1, quantiles[d] * lats.size())]);
  }
  o.latency_budgets_ms.resize(ndev, 0.0);
  const std::string objective = Arg(argc, argv, "--objective", "macs");
  core::LutEvaluator::Options eo;
  eo.objective = objective == "zen"      ? v1::ZEN
                 : objective == "naswot" ? v1::NASWOT
                 : objective == "params" ? v1::PARAMS
                                         : v1::MACS;
  eo.proxy.resolution = std::atoi(Arg(argc, argv, "--proxy_resolution", "32").c_str());
  latency::ProxyCache cache;
  core::LutEvaluator ev(sp, preds, eo, &cache);
  const search::Constraints constraints(o);
  std::fprintf(stderr, "budgets_ms:");
  for (double b : o.latency_budgets_ms) std::fprintf(stderr, " %.6g", b);
  std::fprintf(stderr, "\n");

  if (mode == "serve") {
    std::vector<space::Genotype> batch;
    std::vector<int> slot;  // batch index of each row, -1: not a network
    std::string line;
    std::vector<uint8_t> row(enc->width());
    while (std::getline(std::cin, line)) {
      if (line == ".") {
        std::vector<search::Evaluation> res;
        if (!batch.empty()) {
          const absl::Status s = ev.Evaluate(batch, &res);
          if (!s.ok()) return Fail(s);
        }
        for (int i : slot) {
          if (i < 0) {
            std::printf("X\n");
            continue;
          }
          PrintEval(res[i], constraints);
          std::printf(" %s\n", batch[i].Encode().c_str());
        }
        std::fflush(stdout);
        batch.clear();
        slot.clear();
        continue;
      }
      std::istringstream in(line);
      int v = 0;
      for (int i = 0; i < enc->width(); ++i) {
        in >> v;
        row[i] = static_cast<uint8_t>(v);
      }
      space::Genotype g;
      if (enc->Decode(row.data(), &g).ok()) {
        slot.push_back(static_cast<int>(batch.size()));
        batch.push_back(std::move(g));
      } else {
        slot.push_back(-1);
      }
    }
    return 0;
  }

  // run
  const std::string algo = Arg(argc, argv, "--algorithm", "evolution");
  o.algorithm = algo == "nsga2" ? v1::NSGA2 : algo == "random" ? v1::RANDOM : v1::EVOLUTION;
  if (algo == "default") o.algorithm = v1::ALGORITHM_UNSPECIFIED;
  o.population = std::atoi(Arg(argc, argv, "--population", "50").c_str());
  o.sample_size = std::atoi(Arg(argc, argv, "--sample_size", "10").c_str());
  o.seed = std::strtoull(Arg(argc, argv, "--seed", "1").c_str(), nullptr, 10);
  const int evals = std::atoi(Arg(argc, argv, "--evals", "1000").c_str());
  o.generations = evals;  // stopped at `evals` distinct evaluations
  o.max_evaluations = int64_t{1} << 40;
  auto engine = search::Engine::Create(sp, o, &ev);
  if (!engine.ok()) return Fail(engine.status());
  const double t0 = Now();
  int64_t printed = 0;
  while (!(*engine)->Done() && printed < evals) {
    auto r = (*engine)->Step();
    if (!r.ok()) return Fail(r.status());
    for (const auto& ind : r->evaluated) {
      if (printed++ >= evals) break;
      PrintEval(ind.eval, constraints);
      std::printf("\n");
    }
  }
  std::printf("W %.6f\n", Now() - t0);
  return 0;
}
