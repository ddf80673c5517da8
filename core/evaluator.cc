#include "core/evaluator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "latency_models/graph.h"

namespace lutnas::core {

LutEvaluator::LutEvaluator(std::shared_ptr<const space::Space> space,
                           std::vector<std::shared_ptr<const latency::LatencyPredictor>> predictors,
                           const Options& opts, latency::ProxyCache* proxies)
    : space_(std::move(space)), predictors_(std::move(predictors)), opts_(opts), proxies_(proxies) {}

latency::Cost LutEvaluator::NetworkCostOf(const v1::Architecture& arch) {
  latency::Cost total;
  space::Shape s = space::InputShape(arch);
  absl::MutexLock l(&mu_);
  // The lambda runs under l, which clang's thread-safety analysis does not
  // follow into a lambda.
  auto add = [&](uint64_t key, const std::function<latency::Graph()>& lower) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = block_costs_.find(key);
    if (it == block_costs_.end()) it = block_costs_.emplace(key, latency::GraphCost(lower())).first;
    total += it->second;
  };
  auto block = [&](const v1::Block& b) {
    add(latency::NumericKey(b, s), [&] { return latency::LowerBlock(b, s); });
    s = latency::FastOutShape(b, s);
  };
  for (const auto& b : arch.stem()) block(b);
  for (const auto& st : arch.stages())
    for (const auto& b : st.blocks()) block(b);
  add(latency::NumericHeadKey(arch.head(), s), [&] { return latency::LowerHead(arch.head(), s); });
  return total;
}

absl::StatusOr<double> LutEvaluator::Score(const v1::Architecture& arch, const latency::Cost& cost) {
  switch (opts_.objective) {
    case v1::PARAMS:
      return static_cast<double>(cost.params);
    case v1::MACS:
      return static_cast<double>(cost.macs);
    case v1::EXTERNAL:
      return NAN;
    case v1::NASWOT:
      return proxies_->Get(latency::ProxyCache::Kind::kNaswot, arch, opts_.proxy);
    default:
      return proxies_->Get(latency::ProxyCache::Kind::kZen, arch, opts_.proxy);
  }
}

absl::Status LutEvaluator::Evaluate(const std::vector<space::Genotype>& genotypes,
                                    std::vector<search::Evaluation>* results) {
  const size_t n = genotypes.size();
  results->assign(n, search::Evaluation());
  std::vector<v1::Architecture> archs(n);
  std::vector<latency::Cost> costs(n);
  for (size_t i = 0; i < n; ++i) {
    archs[i] = space_->ToArchitecture(genotypes[i], /*with_name=*/false);  // names are not scored
    costs[i] = NetworkCostOf(archs[i]);
    auto& r = (*results)[i];
    r.params = costs[i].params;
    r.macs = costs[i].macs;
    for (const auto& p : predictors_) r.latency_ms.push_back(p->PredictMs(archs[i]));
  }
  std::vector<absl::Status> errors(n);
  std::atomic<bool> stop{false};
  absl::Status stopped;
  std::mutex stop_mu;
  auto work = [&](size_t i) {
    if (stop) return;
    if (opts_.check) {
      absl::Status c = opts_.check();
      if (!c.ok()) {
        std::lock_guard<std::mutex> l(stop_mu);
        if (!stop.exchange(true)) stopped = c;
        return;
      }
    }
    auto s = Score(archs[i], costs[i]);
    if (s.ok())
      (*results)[i].score = *s;
    else
      errors[i] = s.status();
  };
  const bool parallel = opts_.threads > 1 && (opts_.objective == v1::ZEN || opts_.objective == v1::NASWOT);
  // Candidates are scored in batches; progress is reported after each one.
  const size_t batch = static_cast<size_t>(std::max(opts_.progress_batch, parallel ? opts_.threads : 1));
  for (size_t lo = 0; lo < n && !stop; lo += batch) {
    const size_t hi = std::min(n, lo + batch);
    if (!parallel) {
      for (size_t i = lo; i < hi; ++i) work(i);
    } else {
      std::atomic<size_t> next{lo};
      std::vector<std::thread> pool;
      for (int t = 0; t < opts_.threads; ++t)
        pool.emplace_back([&] {
          for (size_t i; (i = next++) < hi;) work(i);
        });
      for (auto& t : pool) t.join();
    }
    if (stop) break;
    for (size_t i = lo; i < hi; ++i)
      if (!errors[i].ok()) return errors[i];
    if (opts_.on_batch) opts_.on_batch(hi, n);
  }
  if (stop) return stopped;
  return absl::OkStatus();
}

}  // namespace lutnas::core
