// LibTorch builder: a lowered Graph becomes a torch::nn::Module that runs it
// (eval mode, forward on [N, C, R, R]). Includes torch: only the builder,
// the profiler, the proxies and their tests include this header.
// Errors from LibTorch come back as absl::Status, never as exceptions.
#ifndef LUTNAS_LATENCY_MODELS_BUILDER_H_
#define LUTNAS_LATENCY_MODELS_BUILDER_H_

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "absl/status/statusor.h"

#include "latency_models/graph.h"

namespace lutnas::latency {

// Interprets a Graph; one registered submodule per conv, bn and linear op.
class GraphNetImpl : public torch::nn::Module {
 public:
  explicit GraphNetImpl(Graph graph);
  torch::Tensor forward(torch::Tensor x);
  // The feature map before the head (after the last block), e.g. for Zen-score.
  torch::Tensor features(torch::Tensor x);
  // Called with every op's output during forward/features (nullptr: none),
  // e.g. to collect ReLU activation patterns for NASWOT.
  using Observer = std::function<void(const Op&, const torch::Tensor&)>;
  void set_observer(Observer obs) { observer_ = std::move(obs); }
  const Graph& graph() const { return graph_; }
  torch::nn::Conv2d& conv(int op) { return conv_[op]; }
  torch::nn::BatchNorm2d& bn(int op) { return bn_[op]; }

 private:
  torch::Tensor Run(torch::Tensor x, bool features_only);
  Graph graph_;
  Observer observer_;
  std::vector<torch::nn::Conv2d> conv_;
  std::vector<torch::nn::BatchNorm2d> bn_;
  std::vector<torch::nn::Linear> linear_;
};
TORCH_MODULE(GraphNet);

absl::StatusOr<GraphNet> BuildNetwork(const v1::Architecture& arch);
absl::StatusOr<GraphNet> BuildGraph(const Graph& graph);
int64_t CountParameters(torch::nn::Module& m);

// Copies `train` (RepVGG blocks in train form) into `deploy` (the same
// architecture with deploy: true) by re-parameterising each RepVGG block
// into one 3x3 conv with bias; other weights are copied as they are.
absl::Status FuseRepVGG(GraphNetImpl& train, GraphNetImpl& deploy);

// Runs `fn`, turning any c10::Error / std::exception into a Status.
absl::Status TorchGuard(const std::function<void()>& fn);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_BUILDER_H_
