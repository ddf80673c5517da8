#include "latency_models/proxies.h"

#include <ATen/CPUGeneratorImpl.h>

#include <deque>
#include <map>
#include <mutex>
#include <tuple>

#include "absl/strings/str_cat.h"

#include "base/status_macros.h"
#include "latency_models/builder.h"
#include "space/arch_util.h"

namespace lutnas::latency {
namespace {

constexpr double kZenAlpha = 0.01;  // perturbation scale (mixup_gamma)
constexpr int kMaxBatch = 256;

absl::Status CheckOptions(const ProxyOptions& o) {
  if (o.resolution < 8 || o.resolution > space::kMaxResolution)
    return absl::InvalidArgumentError(
        absl::StrCat("resolution: must be in 8..", space::kMaxResolution, ", got ", o.resolution));
  if (o.batch < 1 || o.batch > kMaxBatch)
    return absl::InvalidArgumentError(absl::StrCat("batch: must be in 1..", kMaxBatch, ", got ", o.batch));
  return absl::OkStatus();
}

// The architecture as the proxy sees it: the proxy's input resolution.
v1::Architecture AtResolution(const v1::Architecture& arch, int resolution) {
  v1::Architecture a = arch;
  a.set_resolution(resolution);
  a.clear_height();  // square at the proxy resolution, whatever the input's aspect
  return a;
}

// Validated network at the proxy resolution, in train mode (batch norm uses
// batch statistics), every conv/linear weight ~ N(0, 1) from `gen`, biases
// 0, batch norm weight 1 and bias 0 (the Zen-NAS initialisation).
absl::StatusOr<GraphNet> GaussianNet(const v1::Architecture& arch, at::Generator& gen) {
  RETURN_IF_ERROR(space::ValidateArchitecture(arch));
  ASSIGN_OR_RETURN(GraphNet net, BuildNetwork(arch));
  RETURN_IF_ERROR(TorchGuard([&] {
    torch::NoGradGuard ng;
    for (const auto& m : net->modules(/*include_self=*/false)) {
      if (auto* c = m->as<torch::nn::Conv2d>()) {
        c->weight.normal_(0.0, 1.0, gen);
        if (c->bias.defined()) c->bias.zero_();
      } else if (auto* l = m->as<torch::nn::Linear>()) {
        l->weight.normal_(0.0, 1.0, gen);
        if (l->bias.defined()) l->bias.zero_();
      } else if (auto* b = m->as<torch::nn::BatchNorm2d>()) {
        b->weight.fill_(1.0);
        b->bias.zero_();
      }
    }
    net->train();
  }));
  return net;
}

torch::Tensor RandomInput(const v1::Architecture& arch, const ProxyOptions& o, at::Generator& gen) {
  const int64_t c = space::InputShape(arch).c;
  return torch::randn({o.batch, c, o.resolution, o.resolution}, gen);
}

}  // namespace

// Zen-score (Lin et al., ICCV 2021): with Gaussian weights and batch-norm
// in train mode, log E_x ||f(x) - f(x + alpha * eps)||_1 (sum over the
// pre-head feature map, mean over the batch) + sum over batch-norm layers of
// log sqrt(mean_channel(batch variance)). The variance is that of the batch
// x itself (momentum 1 for that pass), which is the paper's sigma; the
// reference code reads running_var after two passes with momentum 0.1.
absl::StatusOr<double> ZenScore(const v1::Architecture& arch, const ProxyOptions& opts) {
  RETURN_IF_ERROR(CheckOptions(opts));
  const v1::Architecture a = AtResolution(arch, opts.resolution);
  // A local generator: no global torch state, safe from several threads.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(opts.seed);
  ASSIGN_OR_RETURN(GraphNet net, GaussianNet(a, gen));
  double score = 0;
  absl::Status st = TorchGuard([&] {
    torch::NoGradGuard ng;
    std::vector<torch::nn::BatchNorm2dImpl*> bns;
    for (const auto& m : net->modules(/*include_self=*/false))
      if (auto* b = m->as<torch::nn::BatchNorm2d>()) {
        b->options.momentum(1.0);
        bns.push_back(b);
      }
    const torch::Tensor x = RandomInput(a, opts, gen);
    const torch::Tensor eps = torch::randn(x.sizes(), gen);
    const torch::Tensor f1 = net->features(x);
    double log_bn = 0;
    for (auto* b : bns) log_bn += std::log(std::sqrt(b->running_var.mean().item<double>()));
    const torch::Tensor f2 = net->features(x + kZenAlpha * eps);
    const double delta = (f1 - f2).abs().flatten(1).sum(1).mean().item<double>();
    score = std::log(delta) + log_bn;
  });
  if (!st.ok()) return st;
  return score;
}

// NASWOT (Mellor et al., ICML 2021): binary codes c (x > 0) of every ReLU /
// ReLU6 output, K = sum over layers of c c^T + (1 - c)(1 - c)^T (N x N over
// the batch), score = log |det K|.
absl::StatusOr<double> NaswotScore(const v1::Architecture& arch, const ProxyOptions& opts) {
  RETURN_IF_ERROR(CheckOptions(opts));
  const v1::Architecture a = AtResolution(arch, opts.resolution);
  // A local generator: no global torch state, safe from several threads.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(opts.seed);
  ASSIGN_OR_RETURN(GraphNet net, GaussianNet(a, gen));
  double score = 0;
  absl::Status st = TorchGuard([&] {
    torch::NoGradGuard ng;
    torch::Tensor k = torch::zeros({opts.batch, opts.batch}, torch::kDouble);
    net->set_observer([&](const Op& op, const torch::Tensor& y) {
      if (op.kind != OpKind::kAct || (op.act != ActKind::kRelu && op.act != ActKind::kRelu6)) return;
      // c c^T + (1-c)(1-c)^T = U - r_i - r_j + 2 (c c^T)_ij with U units and
      // r the row sums: one matrix product. 0/1 products summed in float are
      // exact below 2^24 units per layer; K accumulates in double.
      const torch::Tensor c = (y > 0).flatten(1).to(torch::kFloat);
      const double units = static_cast<double>(c.size(1));
      const torch::Tensor r = c.sum(1).to(torch::kDouble);
      k.add_(c.mm(c.t()).to(torch::kDouble).mul_(2.0).add_(units).sub_(r.unsqueeze(1)).sub_(r.unsqueeze(0)));
    });
    net->forward(RandomInput(a, opts, gen));
    net->set_observer(nullptr);
    score = std::get<1>(torch::linalg_slogdet(k)).item<double>();
  });
  if (!st.ok()) return st;
  return score;
}

// FIFO-bounded map; the value is computed outside the lock (two threads may
// compute the same entry once each; both get the same value).
struct ProxyCache::Impl {
  using Key = std::tuple<int, std::string, int, int, uint64_t>;
  mutable std::mutex mu;
  std::map<Key, double> values;
  std::deque<Key> order;  // insertion order, for eviction
  size_t max_entries;
};

ProxyCache::ProxyCache(size_t max_entries) : impl_(new Impl) {
  impl_->max_entries = std::max<size_t>(1, max_entries);
}

ProxyCache::~ProxyCache() { delete impl_; }

absl::StatusOr<double> ProxyCache::Get(Kind kind, const v1::Architecture& arch, const ProxyOptions& opts) {
  // The proxy runs at opts.resolution whatever the arch's own resolution;
  // canonical form, so that equal networks written differently share a key.
  RETURN_IF_ERROR(CheckOptions(opts));
  const v1::Architecture a = AtResolution(arch, opts.resolution);
  RETURN_IF_ERROR(space::ValidateArchitecture(a));
  const Impl::Key key{static_cast<int>(kind), space::ArchHash(space::Canonicalize(a)), opts.resolution,
                      opts.batch, opts.seed};
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    auto it = impl_->values.find(key);
    if (it != impl_->values.end()) return it->second;
  }
  ASSIGN_OR_RETURN(double v, kind == Kind::kZen ? ZenScore(arch, opts) : NaswotScore(arch, opts));
  std::lock_guard<std::mutex> l(impl_->mu);
  if (impl_->values.emplace(key, v).second) {
    impl_->order.push_back(key);
    while (impl_->values.size() > impl_->max_entries) {
      impl_->values.erase(impl_->order.front());
      impl_->order.pop_front();
    }
  }
  return v;
}

size_t ProxyCache::size() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->values.size();
}

}  // namespace lutnas::latency
