#include "latency_models/builder.h"

#include "absl/strings/str_cat.h"

namespace lutnas::latency {
namespace {

torch::Tensor ApplyAct(const torch::Tensor& x, ActKind a) {
  switch (a) {
    case ActKind::kRelu:
      return torch::relu(x);
    case ActKind::kRelu6:
      return torch::hardtanh(x, 0.0, 6.0);
    case ActKind::kHswish:
      return torch::hardswish(x);
    case ActKind::kSilu:
      return torch::silu(x);
    case ActKind::kSigmoid:
      return torch::sigmoid(x);
    case ActKind::kHsigmoid:
      return torch::hardsigmoid(x);
    case ActKind::kNone:
      return x;
  }
  return x;
}

}  // namespace

absl::Status TorchGuard(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("libtorch: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("libtorch: ", e.what()));
  }
  return absl::OkStatus();
}

GraphNetImpl::GraphNetImpl(Graph graph) : graph_(std::move(graph)) {
  const size_t n = graph_.ops.size();
  conv_.assign(n, nullptr);
  bn_.assign(n, nullptr);
  linear_.assign(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    const Op& op = graph_.ops[i];
    const std::string name = absl::StrCat(OpKindName(op.kind), i);
    switch (op.kind) {
      case OpKind::kConv:
        conv_[i] =
            register_module(name, torch::nn::Conv2d(torch::nn::Conv2dOptions(op.cin, op.cout, op.kernel)
                                                        .stride(op.stride)
                                                        .padding(op.kernel / 2)
                                                        .groups(op.groups)
                                                        .bias(op.bias)));
        break;
      case OpKind::kBatchNorm:
        bn_[i] = register_module(name, torch::nn::BatchNorm2d(op.cout));
        break;
      case OpKind::kLinear:
        linear_[i] = register_module(name, torch::nn::Linear(op.cin, op.cout));
        break;
      default:
        break;
    }
  }
}

torch::Tensor GraphNetImpl::forward(torch::Tensor x) { return Run(x, false); }
torch::Tensor GraphNetImpl::features(torch::Tensor x) { return Run(x, true); }

torch::Tensor GraphNetImpl::Run(torch::Tensor x, bool features_only) {
  std::vector<torch::Tensor> v(graph_.values.size());
  v[0] = x;
  int last = 0;
  // Each value is released after its last use, as inference runtimes do.
  // Keeping every intermediate alive made a whole network write fresh
  // memory at every op while its blocks measured alone reuse theirs (seen:
  // measured key sums 0.62-0.99 of the end-to-end time, worst for the
  // memory-bound mobilenets and shufflenet).
  std::vector<int> last_use(graph_.values.size(), -1);
  for (size_t i = 0; i < graph_.ops.size(); ++i)
    for (int in : graph_.ops[i].in) last_use[in] = static_cast<int>(i);
  last_use[graph_.output] = static_cast<int>(graph_.ops.size());
  for (int o : graph_.outputs) last_use[o] = static_cast<int>(graph_.ops.size());
  for (size_t i = 0; i < graph_.ops.size(); ++i) {
    const Op& op = graph_.ops[i];
    if (features_only && op.block >= graph_.num_blocks) return v[last];
    const torch::Tensor& a = v[op.in[0]];
    torch::Tensor y;
    switch (op.kind) {
      case OpKind::kConv:
        y = conv_[i]->forward(a);
        break;
      case OpKind::kBatchNorm:
        y = bn_[i]->forward(a);
        break;
      case OpKind::kAct:
        y = ApplyAct(a, op.act);
        break;
      case OpKind::kAdd: {
        y = a;
        for (size_t j = 1; j < op.in.size(); ++j) y = y + v[op.in[j]];
        break;
      }
      case OpKind::kMul:
        y = a * v[op.in[1]];
        break;
      case OpKind::kConcat: {
        std::vector<torch::Tensor> xs;
        for (int j : op.in) xs.push_back(v[j]);
        y = torch::cat(xs, 1);
        break;
      }
      case OpKind::kSlice:
        y = a.narrow(1, op.begin, op.end - op.begin);
        break;
      case OpKind::kShuffle: {
        const auto s = a.sizes();
        y = a.view({s[0], op.groups, s[1] / op.groups, s[2], s[3]})
                .transpose(1, 2)
                .contiguous()
                .view({s[0], s[1], s[2], s[3]});
        break;
      }
      case OpKind::kMaxPool:
        y = torch::max_pool2d(a, op.kernel, op.stride, op.kernel / 2);
        break;
      case OpKind::kAvgPool:
        y = torch::avg_pool2d(a, op.kernel, op.stride, op.kernel / 2);
        break;
      case OpKind::kGlobalPool:
        y = torch::adaptive_avg_pool2d(a, {1, 1});
        break;
      case OpKind::kLinear:
        y = linear_[i]->forward(a.flatten(1));
        break;
    }
    if (observer_) observer_(op, y);
    v[op.out] = std::move(y);
    last = op.out;
    for (int in : op.in)
      if (last_use[in] == static_cast<int>(i)) v[in] = torch::Tensor();
  }
  return features_only ? v[last] : v[graph_.output];
}

absl::StatusOr<GraphNet> BuildGraph(const Graph& graph) {
  GraphNet net(nullptr);
  auto st = TorchGuard([&] {
    net = GraphNet(graph);
    net->eval();
  });
  if (!st.ok()) return st;
  return net;
}

absl::StatusOr<GraphNet> BuildNetwork(const v1::Architecture& arch) {
  return BuildGraph(LowerNetwork(space::Canonicalize(arch)));
}

int64_t CountParameters(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

namespace {

// Conv weight and bias with the batch norm folded in.
std::pair<torch::Tensor, torch::Tensor> FoldBn(const torch::Tensor& w, torch::nn::BatchNorm2dImpl& bn) {
  const auto std = (bn.running_var + bn.options.eps()).sqrt();
  const auto t = bn.weight / std;
  return {w * t.view({-1, 1, 1, 1}), bn.bias - bn.running_mean * t};
}

}  // namespace

absl::Status FuseRepVGG(GraphNetImpl& train, GraphNetImpl& deploy) {
  return TorchGuard([&] {
    torch::NoGradGuard ng;
    const Graph& tg = train.graph();
    const Graph& dg = deploy.graph();
    // Plain ops: copy parameters and buffers in op order, per kind.
    auto plain = [](const Graph& g) {
      std::vector<int> ids;
      for (size_t i = 0; i < g.ops.size(); ++i) {
        const OpKind k = g.ops[i].kind;
        if (g.ops[i].role == Role::kNone &&
            (k == OpKind::kConv || k == OpKind::kBatchNorm || k == OpKind::kLinear))
          ids.push_back(i);
      }
      return ids;
    };
    const std::vector<int> t_plain = plain(tg), d_plain = plain(dg);
    TORCH_CHECK(t_plain.size() == d_plain.size(), "graphs differ outside RepVGG blocks");
    auto tp = train.named_parameters(), dp = deploy.named_parameters();
    auto tb = train.named_buffers(), db = deploy.named_buffers();
    for (size_t j = 0; j < t_plain.size(); ++j) {
      const Op& op = tg.ops[t_plain[j]];
      const std::string tn = absl::StrCat(OpKindName(op.kind), t_plain[j]);
      const std::string dn = absl::StrCat(OpKindName(op.kind), d_plain[j]);
      for (const char* s : {".weight", ".bias"})
        if (tp.contains(tn + s)) dp[dn + s].copy_(tp[tn + s]);
      for (const char* s : {".running_mean", ".running_var"})
        if (tb.contains(tn + s)) db[dn + s].copy_(tb[tn + s]);
    }
    // RepVGG blocks: fold 3x3-bn + 1x1-bn + id-bn into the deploy 3x3 conv.
    for (int blk = 0; blk <= tg.num_blocks; ++blk) {
      int d3 = -1;
      for (size_t i = 0; i < dg.ops.size(); ++i)
        if (dg.ops[i].block == blk && dg.ops[i].role == Role::kRep3x3) d3 = i;
      if (d3 < 0) continue;
      int c3 = -1, b3 = -1, c1 = -1, b1 = -1, bid = -1;
      for (size_t i = 0; i < tg.ops.size(); ++i) {
        const Op& op = tg.ops[i];
        if (op.block != blk) continue;
        const bool conv = op.kind == OpKind::kConv;
        if (op.role == Role::kRep3x3) (conv ? c3 : b3) = i;
        if (op.role == Role::kRep1x1) (conv ? c1 : b1) = i;
        if (op.role == Role::kRepIdentity) bid = i;
      }
      TORCH_CHECK(c3 >= 0 && b3 >= 0 && c1 >= 0 && b1 >= 0, "block ", blk, " is not a RepVGG train block");
      auto [w3, bias3] = FoldBn(train.conv(c3)->weight, *train.bn(b3));
      auto [w1, bias1] = FoldBn(train.conv(c1)->weight, *train.bn(b1));
      auto w = w3 + torch::constant_pad_nd(w1, {1, 1, 1, 1});
      auto b = bias3 + bias1;
      if (bid >= 0) {
        const Op& op = tg.ops[c3];
        const int per_group = op.cin / op.groups;
        auto id = torch::zeros_like(w3);
        for (int c = 0; c < op.cout; ++c) id[c][c % per_group][1][1] = 1.0;
        auto [wi, bi] = FoldBn(id, *train.bn(bid));
        w = w + wi;
        b = b + bi;
      }
      deploy.conv(d3)->weight.copy_(w);
      deploy.conv(d3)->bias.copy_(b);
    }
  });
}

}  // namespace lutnas::latency
