// Scores genotypes for the search engine: latency on each budget hardware
// from its table (LatencyPredictor, correction applied), params/MACs from
// memoised per-block costs, and the accuracy objective (Zen-score, NASWOT,
// params, MACs, or NaN = pending external score). Results come back in
// input order whatever the thread count, so jobs stay deterministic.
// Thread-safe.
#ifndef LUTNAS_CORE_EVALUATOR_H_
#define LUTNAS_CORE_EVALUATOR_H_

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "latency_models/cost.h"
#include "latency_models/lut.h"
#include "latency_models/proxies.h"
#include "lutnas/v1/service.pb.h"
#include "search/engine.h"

namespace lutnas::core {

class LutEvaluator : public search::Evaluator {
 public:
  struct Options {
    v1::Objective objective = v1::ZEN;
    latency::ProxyOptions proxy;
    int threads = 1;  // proxy evaluations in parallel
    // Called before every candidate's score (proxies included): a non-OK
    // status stops Evaluate, which returns it (the engine then undoes the
    // batch, so a resumed job replays it exactly). Empty: never stops.
    std::function<absl::Status()> check;
    // Called after every `progress_batch` scored candidates of one Evaluate
    // call and at its end: (scored so far in this call, size of the call).
    std::function<void(size_t, size_t)> on_batch;
    int progress_batch = 8;
  };
  LutEvaluator(std::shared_ptr<const space::Space> space,
               std::vector<std::shared_ptr<const latency::LatencyPredictor>> predictors, const Options& opts,
               latency::ProxyCache* proxies);

  absl::Status Evaluate(const std::vector<space::Genotype>& genotypes,
                        std::vector<search::Evaluation>* results) override;

  // Params and MACs of a canonical architecture from the per-block memo.
  latency::Cost NetworkCostOf(const v1::Architecture& arch);

 private:
  absl::StatusOr<double> Score(const v1::Architecture& arch, const latency::Cost& cost);
  std::shared_ptr<const space::Space> space_;
  std::vector<std::shared_ptr<const latency::LatencyPredictor>> predictors_;
  Options opts_;
  latency::ProxyCache* proxies_;
  absl::Mutex mu_;
  std::unordered_map<uint64_t, latency::Cost> block_costs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_EVALUATOR_H_
