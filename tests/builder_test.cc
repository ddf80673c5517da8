// LibTorch builder: parameter counts equal the cost analysis, forward shapes
// are right, RepVGG re-parameterisation is exact, errors are Statuses.
#include "latency_models/builder.h"

#include "gtest/gtest.h"

#include "latency_models/cost.h"
#include "space/space.h"

namespace lutnas {
namespace {

TEST(BuilderTest, RandomArchitecturesMatchCostAndShape) {
  torch::NoGradGuard ng;
  torch::manual_seed(0);
  for (const char* name : {"tiny", "edge", "mobile"}) {
    auto sp = space::Space::Load(std::string("search/spaces/") + name + ".json");
    ASSERT_TRUE(sp.ok()) << sp.status();
    base::Rng rng(123);
    for (int i = 0; i < 200; ++i) {
      v1::Architecture arch = (*sp)->ToArchitecture((*sp)->Sample(rng));
      // Forward at a small resolution keeps 600 networks cheap; the
      // parameter count does not depend on resolution.
      arch.set_resolution(32);
      auto net = latency::BuildNetwork(arch);
      ASSERT_TRUE(net.ok()) << net.status();
      EXPECT_EQ(latency::CountParameters(**net), latency::AnalyzeNetwork(arch).total.params)
          << name << " " << space::CanonicalEncoding(arch);
      if (i % 10 == 0) {
        auto y = (*net)->forward(torch::randn({2, 3, 32, 32}));
        EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, arch.head().num_classes()}));
      }
    }
  }
}

TEST(BuilderTest, ZooParameterCountsMatchCostAnalysis) {
  for (const char* name : {"mobilenet_v2", "resnet50", "repvgg_a0", "repvgg_a0_train", "shufflenet_v2_x1_0",
                           "resnet18", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0",
                           "efficientnet_b1", "regnet_y_400mf", "regnet_y_800mf", "yolov8n_backbone"}) {
    auto arch = space::LoadArchitectureFile(std::string("models/") + name + ".json");
    ASSERT_TRUE(arch.ok());
    auto net = latency::BuildNetwork(*arch);
    ASSERT_TRUE(net.ok()) << net.status();
    EXPECT_EQ(latency::CountParameters(**net), latency::AnalyzeNetwork(*arch).total.params) << name;
  }
}

TEST(BuilderTest, RepVGGDeployFormEqualsTrainForm) {
  torch::NoGradGuard ng;
  torch::manual_seed(1);
  auto train = space::LoadArchitectureFile("models/repvgg_a0_train.json");
  auto deploy = space::LoadArchitectureFile("models/repvgg_a0.json");
  ASSERT_TRUE(train.ok() && deploy.ok());
  train->set_resolution(64);
  deploy->set_resolution(64);
  auto t = latency::BuildNetwork(*train);
  auto d = latency::BuildNetwork(*deploy);
  ASSERT_TRUE(t.ok() && d.ok());
  // Non-trivial batch-norm statistics, or fusion would be checked on identity.
  for (auto& buf : (*t)->named_buffers()) {
    if (buf.key().find("running_var") != std::string::npos) buf.value().uniform_(0.5, 2.0);
    if (buf.key().find("running_mean") != std::string::npos) buf.value().uniform_(-0.2, 0.2);
  }
  for (auto& p : (*t)->named_parameters())
    if (p.key().find("bn") == 0) p.value().uniform_(0.5, 1.5);
  auto fst = latency::FuseRepVGG(**t, **d);
  ASSERT_TRUE(fst.ok()) << fst;
  // float32: the 22-block net agrees to float rounding; relative 1e-4.
  const auto x = torch::randn({2, 3, 64, 64});
  auto yt = (*t)->forward(x), yd = (*d)->forward(x);
  EXPECT_LT(((yt - yd).abs().max() / yt.abs().max()).item<double>(), 1e-4);
  // float64: the re-parameterisation itself is exact, absolute 1e-4 (far less).
  (*t)->to(torch::kDouble);
  (*d)->to(torch::kDouble);
  ASSERT_TRUE(latency::FuseRepVGG(**t, **d).ok());
  yt = (*t)->forward(x.to(torch::kDouble));
  yd = (*d)->forward(x.to(torch::kDouble));
  EXPECT_LT((yt - yd).abs().max().item<double>(), 1e-9);
  EXPECT_GT(yt.abs().max().item<double>(), 1e-3);
}

TEST(BuilderTest, TorchErrorsBecomeStatus) {
  auto arch = space::LoadArchitectureFile("models/resnet18.json");
  ASSERT_TRUE(arch.ok());
  auto net = latency::BuildNetwork(*arch);
  ASSERT_TRUE(net.ok());
  auto st = latency::TorchGuard([&] { (*net)->forward(torch::randn({1, 5, 32, 32})); });
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_NE(st.message().find("libtorch"), std::string::npos);
}

}  // namespace
}  // namespace lutnas
