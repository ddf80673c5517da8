// Training-free proxies: Zen-score and NASWOT are finite, deterministic for
// a seed (also from several threads), rank a much larger network higher,
// memoise through ProxyCache, and report torch failures as Statuses.
#include "latency_models/proxies.h"

#include <cmath>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

#include "space/space.h"

namespace lutnas {
namespace {

std::shared_ptr<const space::Space> Tiny() {
  auto sp = space::Space::Load("search/spaces/tiny.json");
  EXPECT_TRUE(sp.ok()) << sp.status();
  return *sp;
}

v1::Architecture Arch(const space::Space& sp, const std::string& genotype) {
  auto g = space::Genotype::Decode(genotype);
  EXPECT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(sp.CheckGenotype(*g).ok()) << sp.CheckGenotype(*g);
  return sp.ToArchitecture(*g);
}

constexpr char kSmall[] = "r64|16:conv.3.0|32:repvgg.0.0|64:repvgg.0.0";
constexpr char kLarge[] = "r64|24:conv.3.0,conv.3.0|48:repvgg.0.0,repvgg.0.0|96:repvgg.0.0,repvgg.0.0";

TEST(ProxiesTest, FiniteAndDeterministicForASeed) {
  auto sp = Tiny();
  const auto arch = Arch(*sp, "r96|24:mbconv.3.3,conv.3.0|48:shuffle.3.0|64:mbconv.5.3,repvgg.0.0");
  latency::ProxyOptions o;
  for (auto* fn : {&latency::ZenScore, &latency::NaswotScore}) {
    auto a = fn(arch, o), b = fn(arch, o);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(std::isfinite(*a)) << *a;
    EXPECT_EQ(*a, *b);  // bit for bit
    o.seed = 1;
    auto c = fn(arch, o);
    ASSERT_TRUE(c.ok());
    EXPECT_NE(*a, *c);  // another seed, another draw
    o.seed = 0;
  }
}

TEST(ProxiesTest, RandomArchitecturesOfEverySpaceScore) {
  for (const char* name : {"tiny", "edge", "mobile"}) {
    auto sp = space::Space::Load(std::string("search/spaces/") + name + ".json");
    ASSERT_TRUE(sp.ok());
    base::Rng rng(3);
    latency::ProxyOptions o;
    o.resolution = 32;
    o.batch = 4;
    for (int i = 0; i < 4; ++i) {
      const auto arch = (*sp)->ToArchitecture((*sp)->Sample(rng));
      auto z = latency::ZenScore(arch, o);
      auto n = latency::NaswotScore(arch, o);
      ASSERT_TRUE(z.ok()) << z.status();
      ASSERT_TRUE(n.ok()) << n.status();
      EXPECT_TRUE(std::isfinite(*z)) << name << " " << *z;
      EXPECT_FALSE(std::isnan(*n)) << name;
    }
  }
}

TEST(ProxiesTest, WiderDeeperNetworkScoresHigher) {
  auto sp = Tiny();
  const auto small = Arch(*sp, kSmall), large = Arch(*sp, kLarge);
  latency::ProxyOptions o;
  auto zs = latency::ZenScore(small, o), zl = latency::ZenScore(large, o);
  ASSERT_TRUE(zs.ok() && zl.ok());
  EXPECT_GT(*zl, *zs + 1.0) << *zs << " vs " << *zl;
  auto ns = latency::NaswotScore(small, o), nl = latency::NaswotScore(large, o);
  ASSERT_TRUE(ns.ok() && nl.ok());
  EXPECT_GT(*nl, *ns) << *ns << " vs " << *nl;
}

TEST(ProxiesTest, SameValueFromSeveralThreads) {
  auto sp = Tiny();
  const auto arch = Arch(*sp, kLarge);
  latency::ProxyOptions o;
  const double zen = *latency::ZenScore(arch, o), naswot = *latency::NaswotScore(arch, o);
  std::vector<double> z(4), n(4);
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      z[t] = latency::ZenScore(arch, o).value_or(NAN);
      n[t] = latency::NaswotScore(arch, o).value_or(NAN);
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(z[t], zen);
    EXPECT_EQ(n[t], naswot);
  }
}

TEST(ProxiesTest, CacheHitsReturnTheSameValue) {
  auto sp = Tiny();
  auto arch = Arch(*sp, kSmall);
  latency::ProxyCache cache(3);
  latency::ProxyOptions o;
  auto a = cache.Get(latency::ProxyCache::Kind::kZen, arch, o);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(*a, *latency::ZenScore(arch, o));
  auto b = cache.Get(latency::ProxyCache::Kind::kZen, arch, o);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(cache.size(), 1u);
  // The arch's own resolution does not matter, the proxy's does.
  arch.set_resolution(96);
  EXPECT_EQ(*cache.Get(latency::ProxyCache::Kind::kZen, arch, o), *a);
  EXPECT_EQ(cache.size(), 1u);
  ASSERT_TRUE(cache.Get(latency::ProxyCache::Kind::kNaswot, arch, o).ok());
  EXPECT_EQ(cache.size(), 2u);
  o.seed = 5;
  ASSERT_TRUE(cache.Get(latency::ProxyCache::Kind::kNaswot, arch, o).ok());
  EXPECT_EQ(cache.size(), 3u);
  o.batch = 4;
  ASSERT_TRUE(cache.Get(latency::ProxyCache::Kind::kNaswot, arch, o).ok());
  EXPECT_EQ(cache.size(), 3u);  // bounded: the oldest went
  // Errors are not cached.
  o.batch = 0;
  EXPECT_FALSE(cache.Get(latency::ProxyCache::Kind::kZen, arch, o).ok());
  EXPECT_EQ(cache.size(), 3u);
}

TEST(ProxiesTest, FailuresAreStatusesNotExceptions) {
  auto sp = Tiny();
  const auto arch = Arch(*sp, kSmall);
  latency::ProxyOptions o;
  o.batch = 0;
  auto r = latency::ZenScore(arch, o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "batch: must be in 1..256, got 0");
  o.batch = 8;
  o.resolution = 4;
  EXPECT_EQ(latency::NaswotScore(arch, o).status().message(), "resolution: must be in 8..1024, got 4");
  // Not a valid network: caught by validation.
  o.resolution = 64;
  EXPECT_EQ(latency::ZenScore(v1::Architecture(), o).status().code(), absl::StatusCode::kInvalidArgument);
  // Valid, but torch refuses: batch norm in train mode on one value per
  // channel (batch 1, the last stage's MBConv at 1x1).
  o.batch = 1;
  o.resolution = 16;
  r = latency::ZenScore(Arch(*sp, "r64|16:conv.3.0|32:repvgg.0.0|64:mbconv.3.3"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StartsWith(r.status().message(), "libtorch: ")) << r.status();
}

}  // namespace
}  // namespace lutnas
