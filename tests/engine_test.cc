// Search engine: option validation, evolution / NSGA-II / random search on
// the real spaces with a deterministic synthetic evaluator, budgets and
// repair, determinism (seed, evaluator threads, checkpoint/restore at any
// point, failed evaluations), external ask/tell, malformed checkpoints.
#include "search/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

#include "search/nsga2.h"
#include "search/variation.h"
#include "space/space.h"

namespace lutnas::search {
namespace {

std::shared_ptr<const space::Space> LoadSpace(const std::string& name) {
  auto sp = space::Space::Load("search/spaces/" + name + ".json");
  EXPECT_TRUE(sp.ok()) << sp.status();
  return sp.ok() ? *sp : nullptr;
}

// A pure function of the genotype: "latency" grows with work, "score" with
// parameters (bigger is better but slower), plus a key hash so that the
// landscape is not monotone. Counts calls and evaluated keys.
class TestEvaluator : public Evaluator {
 public:
  explicit TestEvaluator(int threads = 0, bool external = false, int num_latencies = 1)
      : threads_(threads), external_(external), num_latencies_(num_latencies) {}

  static double Score(const space::Genotype& g) {
    const Evaluation e = Compute(g, 1);
    return e.score;
  }

  absl::Status Evaluate(const std::vector<space::Genotype>& gs, std::vector<Evaluation>* results) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++calls_;
      if (fail_on_call_ == calls_) return absl::UnavailableError("evaluator: injected failure");
      for (const auto& g : gs) keys_.push_back(g.Encode());
    }
    results->assign(gs.size(), Evaluation());
    auto work = [&](size_t i) {
      (*results)[i] = Compute(gs[i], num_latencies_);
      if (external_) (*results)[i].score = NAN;
    };
    if (threads_ <= 1) {
      for (size_t i = 0; i < gs.size(); ++i) work(i);
    } else {
      std::vector<std::thread> pool;
      for (int t = 0; t < threads_; ++t)
        pool.emplace_back([&, t] {
          for (size_t i = t; i < gs.size(); i += threads_) work(i);
        });
      for (auto& th : pool) th.join();
    }
    return absl::OkStatus();
  }

  int calls() const { return calls_; }
  const std::vector<std::string>& keys() const { return keys_; }
  void FailOnCall(int n) { fail_on_call_ = n; }

 private:
  static Evaluation Compute(const space::Genotype& g, int num_latencies) {
    const double r2 = (g.resolution / 64.0) * (g.resolution / 64.0);
    double work = 0;
    int64_t params = 0;
    int in_c = 16;
    for (const auto& st : g.stages)
      for (size_t j = 0; j < st.blocks.size(); ++j) {
        const auto& b = st.blocks[j];
        const int k = b.kernel ? b.kernel : 3;
        const int e = b.expansion ? b.expansion : 1;
        const int cin = j == 0 ? in_c : st.width;
        const int64_t p = static_cast<int64_t>(cin) * st.width * k * k * e / 4 + b.type;
        params += p;
        work += p * (1.0 + 0.15 * b.type);
      }
    Evaluation ev;
    for (int i = 0; i < num_latencies; ++i)
      ev.latency_ms.push_back(work * r2 / (20000.0 * (i + 1)) *
                              (i == 1 ? 1.0 + 0.001 * g.stages[0].width : 1.0));
    ev.params = params;
    ev.macs = static_cast<int64_t>(params * r2 * 256);
    const uint64_t h = space::Fnv1a64(g.Encode());
    ev.score = std::log(1.0 + params) + 0.3 * std::sqrt(r2) + 0.2 * ((h % 1000) / 1000.0);
    return ev;
  }

  int threads_;
  bool external_;
  int num_latencies_;
  std::mutex mu_;
  int calls_ = 0;
  int fail_on_call_ = -1;
  std::vector<std::string> keys_;
};

// Median latency of random samples: a budget that binds.
double MedianLatency(const space::Space& space, int index = 0) {
  base::Rng rng(99);
  TestEvaluator ev(0, false, index + 1);
  std::vector<space::Genotype> gs;
  for (int i = 0; i < 300; ++i) gs.push_back(space.Sample(rng));
  std::vector<Evaluation> r;
  EXPECT_TRUE(ev.Evaluate(gs, &r).ok());
  std::vector<double> lat;
  for (const auto& e : r) lat.push_back(e.latency_ms[index]);
  std::sort(lat.begin(), lat.end());
  return lat[lat.size() / 2];
}

EngineOptions SmallOptions(v1::Algorithm alg = v1::EVOLUTION, uint64_t seed = 1) {
  EngineOptions o;
  o.algorithm = alg;
  o.population = 20;
  o.sample_size = 5;
  o.generations = 6;
  o.seed = seed;
  return o;
}

std::unique_ptr<Engine> MustCreate(std::shared_ptr<const space::Space> sp, const EngineOptions& o,
                                   Evaluator* ev) {
  auto e = Engine::Create(std::move(sp), o, ev);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *std::move(e) : nullptr;
}

// Everything a run produced, to compare runs exactly.
struct RunLog {
  std::vector<std::string> evaluated;  // key and score of every report entry
  std::vector<std::string> best, pareto;
  std::string final_checkpoint;  // without the elapsed and end lines
};

std::string Describe(const Individual& ind) {
  return absl::StrFormat("%s %a %a %d", ind.key, ind.eval.score, ind.fitness, ind.feasible);
}

std::string StripVolatile(const std::string& ckpt) {
  std::string out;
  for (absl::string_view l : absl::StrSplit(ckpt, '\n'))
    if (!absl::StartsWith(l, "elapsed ") && !absl::StartsWith(l, "end ") && !l.empty())
      absl::StrAppend(&out, l, "\n");
  return out;
}

void RunSteps(Engine& e, int steps, RunLog* log) {
  for (int i = 0; i < steps && !e.Done(); ++i) {
    auto r = e.Step();
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& ind : r->evaluated) log->evaluated.push_back(Describe(ind));
  }
}

void Finish(Engine& e, RunLog* log) {
  RunSteps(e, 1 << 20, log);
  for (const auto& ind : e.Best(10)) log->best.push_back(Describe(ind));
  for (const auto& ind : e.ParetoFront()) log->pareto.push_back(Describe(ind));
  log->final_checkpoint = StripVolatile(e.Checkpoint());
}

void ExpectSameRun(const RunLog& a, const RunLog& b) {
  EXPECT_EQ(a.evaluated, b.evaluated);
  EXPECT_EQ(a.best, b.best);
  EXPECT_EQ(a.pareto, b.pareto);
  EXPECT_EQ(a.final_checkpoint, b.final_checkpoint);
}

// ---------------------------------------------------------------- validation

struct BadOptions {
  std::function<void(EngineOptions*)> change;
  std::string message;
};

TEST(EngineTest, ValidationNamesTheField) {
  auto sp = LoadSpace("tiny");
  TestEvaluator ev;
  const std::vector<BadOptions> cases = {
      {[](EngineOptions* o) { o->population = 0; }, "population: must be >= 2, got 0"},
      {[](EngineOptions* o) { o->sample_size = 0; }, "sample_size: must be in 1..population (100), got 0"},
      {[](EngineOptions* o) { o->sample_size = 101; },
       "sample_size: must be in 1..population (100), got 101"},
      {[](EngineOptions* o) { o->generations = -1; }, "generations: must be >= 0, got -1"},
      {[](EngineOptions* o) {
         o->latency_budgets_ms = {5, NAN};
       },
       "latency_budgets_ms[1]: must be finite and >= 0, got nan"},
      {[](EngineOptions* o) { o->latency_budgets_ms = {-1}; },
       "latency_budgets_ms[0]: must be finite and >= 0, got -1"},
      {[](EngineOptions* o) { o->latency_budgets_ms = {INFINITY}; },
       "latency_budgets_ms[0]: must be finite and >= 0, got inf"},
      {[](EngineOptions* o) { o->max_params = -5; }, "max_params: must be >= 0, got -5"},
      {[](EngineOptions* o) { o->max_macs = -1; }, "max_macs: must be >= 0, got -1"},
      {[](EngineOptions* o) { o->repair_tries = -1; }, "repair_tries: must be in 0..1000, got -1"},
      {[](EngineOptions* o) { o->algorithm = static_cast<v1::Algorithm>(9); }, "algorithm: unknown value 9"},
      {[](EngineOptions* o) { o->population = 1000, o->generations = 2000; },
       "population * (generations + 1) = 2001000 exceeds the cap of 2000000 evaluations per job"},
      {[](EngineOptions* o) {
         o->max_evaluations = 100;
         o->generations = 1;
       },
       "population * (generations + 1) = 200 exceeds the cap of 100 evaluations per job"},
  };
  for (const auto& c : cases) {
    EngineOptions o;
    c.change(&o);
    auto e = Engine::Create(sp, o, &ev);
    ASSERT_FALSE(e.ok()) << c.message;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(e.status().message(), c.message);
  }
  auto e = Engine::Create(nullptr, EngineOptions(), &ev);
  EXPECT_EQ(e.status().message(), "space: must not be null");
  e = Engine::Create(sp, EngineOptions(), nullptr);
  EXPECT_EQ(e.status().message(), "evaluator: must not be null");
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- building blocks

TEST(Nsga2Test, FrontsCrowdingAndConstraintDomination) {
  std::vector<NsgaPoint> p = {
      {{1, 4}},
      {{2, 2}},
      {{4, 1}},
      {{3, 3}},
      {{5, 5}},
      {{0, 0}, false, 0.5},
      {{0, 0}, false, 0.1},  // infeasible: worse than all
      {{2, 2}},              // equal to #1: same front
  };
  const NsgaRanking r = RankAndCrowd(p);
  ASSERT_EQ(r.fronts.size(), 5u);
  EXPECT_EQ(r.fronts[0], (std::vector<int>{0, 1, 2, 7}));
  EXPECT_EQ(r.fronts[1], (std::vector<int>{3}));
  EXPECT_EQ(r.fronts[2], (std::vector<int>{4}));
  EXPECT_EQ(r.fronts[3], (std::vector<int>{6}));  // smaller violation first
  EXPECT_EQ(r.fronts[4], (std::vector<int>{5}));
  EXPECT_TRUE(std::isinf(r.crowding[0]));
  EXPECT_TRUE(std::isinf(r.crowding[2]));
  EXPECT_FALSE(std::isinf(r.crowding[1]));
  EXPECT_EQ(SelectSurvivors(p, 5), (std::vector<int>{0, 1, 2, 7, 3}));
  // Cutting the first front keeps its boundary points.
  EXPECT_EQ(SelectSurvivors(p, 2), (std::vector<int>{0, 2}));
  EXPECT_TRUE(ConstrainedDominates(p[4], p[5]));   // feasible beats infeasible
  EXPECT_TRUE(ConstrainedDominates(p[6], p[5]));   // less violation wins
  EXPECT_FALSE(ConstrainedDominates(p[1], p[7]));  // equal: neither
}

TEST(VariationTest, EveryOperatorYieldsAValidGenotype) {
  for (const char* name : {"tiny", "edge", "mobile"}) {
    auto sp = LoadSpace(name);
    const Variation var(sp.get());
    base::Rng rng(17);
    int changed = 0;
    for (int i = 0; i < 300; ++i) {
      const space::Genotype a = sp->Sample(rng), b = sp->Sample(rng);
      const space::Genotype child = var.Child(a, rng);
      ASSERT_TRUE(sp->CheckGenotype(child).ok()) << name << " " << child.Encode();
      changed += !(child == a);
      const space::Genotype x = var.Crossover(a, b, rng);
      ASSERT_TRUE(sp->CheckGenotype(x).ok()) << x.Encode();
      space::Genotype s = a;
      if (var.Shrink(&s, rng)) {
        ASSERT_TRUE(sp->CheckGenotype(s).ok()) << s.Encode();
        EXPECT_LE(s.resolution, a.resolution);
        for (int k = 0; k < sp->num_stages(); ++k) {
          EXPECT_LE(s.stages[k].width, a.stages[k].width);
          EXPECT_LE(s.stages[k].blocks.size(), a.stages[k].blocks.size());
        }
      }
    }
    EXPECT_GE(changed, 295) << name;
    // Shrinking ends at the space's smallest point.
    space::Genotype g = sp->Sample(rng);
    int steps = 0;
    while (var.Shrink(&g, rng)) ASSERT_LT(++steps, 500);
    EXPECT_EQ(g.resolution, sp->resolutions().front());
  }
}

// ---------------------------------------------------------------- evolution

TEST(EngineTest, EvolutionImprovesAndRespectsTheBudget) {
  auto sp = LoadSpace("tiny");
  TestEvaluator ev;
  EngineOptions o = SmallOptions();
  o.generations = 15;
  const double budget = MedianLatency(*sp);
  o.latency_budgets_ms = {budget};
  auto e = MustCreate(sp, o, &ev);
  ASSERT_FALSE(e->Done());
  auto r0 = e->Step();
  ASSERT_TRUE(r0.ok()) << r0.status();
  EXPECT_EQ(r0->generation, 0);
  const double initial = e->progress().best_score();
  int64_t reported = r0->evaluated.size();
  for (int g = 1; g <= o.generations; ++g) {
    auto r = e->Step();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->generation, g);
    reported += r->evaluated.size();
    for (const auto& ind : r->evaluated)
      if (ind.feasible) {
        EXPECT_LE(ind.eval.latency_ms[0], budget) << ind.key;
      }
    for (const auto& ind : r->pareto) EXPECT_LE(ind.eval.latency_ms[0], budget);
  }
  EXPECT_TRUE(e->Done());
  auto done = e->Step();
  EXPECT_EQ(done.status().code(), absl::StatusCode::kFailedPrecondition);
  const auto p = e->progress();
  EXPECT_EQ(p.generation(), o.generations);
  EXPECT_EQ(p.generations(), o.generations);
  EXPECT_EQ(p.evaluated(), reported);
  EXPECT_GT(p.best_score(), initial);
  EXPECT_GT(p.feasible(), 0);
  EXPECT_GE(p.elapsed_s(), 0);
  EXPECT_EQ(p.pareto_size(), static_cast<int>(e->ParetoFront().size()));
  const auto best = e->Best(5);
  ASSERT_EQ(best.size(), 5u);
  EXPECT_DOUBLE_EQ(best[0].fitness, p.best_score());
  for (size_t i = 0; i < best.size(); ++i) {
    EXPECT_TRUE(best[i].feasible);
    EXPECT_LE(best[i].eval.latency_ms[0], budget);
    EXPECT_TRUE(sp->CheckGenotype(best[i].genotype).ok()) << best[i].key;
    if (i > 0) {
      EXPECT_GE(best[i - 1].fitness, best[i].fitness);
    }
  }
  // Never the same genotype evaluated twice.
  std::set<std::string> uniq(ev.keys().begin(), ev.keys().end());
  EXPECT_EQ(uniq.size(), ev.keys().size());
  EXPECT_EQ(static_cast<int64_t>(ev.keys().size()), p.evaluated());
}

TEST(EngineTest, ParamsAndMacsCapsHold) {
  auto sp = LoadSpace("edge");
  TestEvaluator ev;
  EngineOptions o = SmallOptions();
  o.max_params = 60000;
  o.max_macs = 60000LL * 4 * 256;
  auto e = MustCreate(sp, o, &ev);
  while (!e->Done()) {
    auto r = e->Step();
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& ind : r->evaluated)
      if (ind.feasible) {
        EXPECT_LE(ind.eval.params, o.max_params);
        EXPECT_LE(ind.eval.macs, o.max_macs);
      }
  }
  EXPECT_GT(e->progress().feasible(), 0);
}

TEST(EngineTest, UnreachableBudgetFailsQuickly) {
  auto sp = LoadSpace("tiny");
  TestEvaluator ev;
  EngineOptions o = SmallOptions();
  o.population = 10;
  o.latency_budgets_ms = {0, 1e-6};  // index 0 unconstrained
  // A two-latency evaluator: index 1 carries the impossible budget.
  TestEvaluator ev2(0, false, 2);
  auto e = MustCreate(sp, o, &ev2);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = e->Step();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(r.status().message());
  EXPECT_TRUE(absl::StartsWith(msg, "no architecture of space 'tiny' meets the budget: the fastest of "))
      << msg;
  EXPECT_TRUE(absl::StrContains(msg, " ms on budget #1 (limit 1e-06 ms)")) << msg;
  EXPECT_LE(ev2.keys().size(), 200u);  // at most 20 * P samples
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  // Asking again fails the same way, without looping.
  EXPECT_EQ(e->Step().status().message(), msg);

  o.latency_budgets_ms.clear();
  o.max_params = 1;
  auto e2 = MustCreate(sp, o, &ev);
  const std::string msg2(e2->Step().status().message());
  EXPECT_TRUE(absl::StartsWith(msg2,
                               "no architecture of space 'tiny' meets the budget: "
                               "the smallest of "))
      << msg2;
  EXPECT_TRUE(absl::EndsWith(msg2, " params (max_params 1)")) << msg2;
}

TEST(EngineTest, FewFeasibleSamplesFillThePopulation) {
  auto sp = LoadSpace("tiny");
  // The cheapest few percent of the space meet this budget.
  base::Rng rng(5);
  TestEvaluator probe;
  std::vector<space::Genotype> gs;
  for (int i = 0; i < 400; ++i) gs.push_back(sp->Sample(rng));
  std::vector<Evaluation> r;
  ASSERT_TRUE(probe.Evaluate(gs, &r).ok());
  std::vector<double> lat;
  for (const auto& x : r) lat.push_back(x.latency_ms[0]);
  std::sort(lat.begin(), lat.end());
  EngineOptions o = SmallOptions();
  o.population = 50;
  o.generations = 3;
  o.latency_budgets_ms = {lat[2]};
  o.repair_tries = 0;
  TestEvaluator ev;
  auto e = MustCreate(sp, o, &ev);
  auto r0 = e->Step();
  ASSERT_TRUE(r0.ok()) << r0.status();
  const auto p = e->progress();
  EXPECT_GT(p.feasible(), 0);
  EXPECT_LT(p.feasible(), 50);
  while (!e->Done()) ASSERT_TRUE(e->Step().ok());
  for (const auto& b : e->Best(100)) EXPECT_LE(b.eval.latency_ms[0], lat[2]);
}

// ---------------------------------------------------------------- determinism

TEST(EngineTest, SameSeedSameRunAndThreadsDoNotMatter) {
  auto sp = LoadSpace("tiny");
  for (auto alg : {v1::EVOLUTION, v1::NSGA2, v1::RANDOM}) {
    EngineOptions o = SmallOptions(alg, 7);
    o.latency_budgets_ms = {MedianLatency(*sp)};
    TestEvaluator serial, serial2, threaded(4);
    RunLog a, b, c, d;
    Finish(*MustCreate(sp, o, &serial), &a);
    Finish(*MustCreate(sp, o, &serial2), &b);
    Finish(*MustCreate(sp, o, &threaded), &c);
    ExpectSameRun(a, b);
    ExpectSameRun(a, c);
    EXPECT_EQ(serial.keys(), threaded.keys());
    o.seed = 8;
    TestEvaluator other;
    Finish(*MustCreate(sp, o, &other), &d);
    EXPECT_NE(a.evaluated, d.evaluated) << alg;
  }
}

TEST(EngineTest, CheckpointRestoreAtAnyGenerationIsExact) {
  for (const char* space : {"tiny", "edge"}) {
    auto sp = LoadSpace(space);
    const double budget = MedianLatency(*sp);
    for (auto alg : {v1::EVOLUTION, v1::NSGA2, v1::RANDOM}) {
      for (uint64_t seed : {1, 2, 3}) {
        EngineOptions o = SmallOptions(alg, seed);
        o.latency_budgets_ms = {budget};
        o.generations = 5;
        TestEvaluator ev;
        RunLog whole;
        Finish(*MustCreate(sp, o, &ev), &whole);
        base::Rng pick(seed * 31 + alg);
        const int k = pick.Uniform(o.generations + 2);  // 0..G+1 steps before
        RunLog split;
        std::string ckpt;
        {
          TestEvaluator ev1;
          auto e = MustCreate(sp, o, &ev1);
          RunSteps(*e, k, &split);
          ckpt = e->Checkpoint();
        }
        TestEvaluator ev2;
        auto e = MustCreate(sp, o, &ev2);
        ASSERT_TRUE(e->Restore(ckpt).ok()) << space << " " << alg << " " << k;
        EXPECT_EQ(StripVolatile(e->Checkpoint()), StripVolatile(ckpt));
        Finish(*e, &split);
        SCOPED_TRACE(absl::StrCat(space, " alg ", alg, " seed ", seed, " k ", k));
        ExpectSameRun(whole, split);
        EXPECT_EQ(e->progress().evaluated(), static_cast<int64_t>(whole.evaluated.size()));
      }
    }
  }
}

TEST(EngineTest, FailedEvaluationIsRetriedIdentically) {
  auto sp = LoadSpace("tiny");
  EngineOptions o = SmallOptions();
  o.latency_budgets_ms = {MedianLatency(*sp)};
  TestEvaluator ev;
  RunLog whole, retried;
  Finish(*MustCreate(sp, o, &ev), &whole);
  TestEvaluator flaky;
  flaky.FailOnCall(5);
  auto e = MustCreate(sp, o, &flaky);
  bool failed = false;
  while (!e->Done()) {
    auto r = e->Step();
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
      failed = true;
      continue;
    }
    for (const auto& ind : r->evaluated) retried.evaluated.push_back(Describe(ind));
  }
  EXPECT_TRUE(failed);
  Finish(*e, &retried);
  ExpectSameRun(whole, retried);
}

// ---------------------------------------------------------------- NSGA-II, random, soft

TEST(EngineTest, Nsga2FrontIsTheNonDominatedSetOfAllFeasible) {
  auto sp = LoadSpace("edge");
  EngineOptions o = SmallOptions(v1::NSGA2, 3);
  o.generations = 8;
  o.latency_budgets_ms = {MedianLatency(*sp), 0};
  TestEvaluator ev(2, false, 2);
  auto e = MustCreate(sp, o, &ev);
  std::vector<Individual> all;
  while (!e->Done()) {
    auto r = e->Step();
    ASSERT_TRUE(r.ok()) << r.status();
    all.insert(all.end(), r->evaluated.begin(), r->evaluated.end());
  }
  auto dominates = [](const Individual& a, const Individual& b) {
    bool strict = a.eval.score > b.eval.score;
    if (a.eval.score < b.eval.score) return false;
    for (size_t i = 0; i < a.eval.latency_ms.size(); ++i) {
      if (a.eval.latency_ms[i] > b.eval.latency_ms[i]) return false;
      strict = strict || a.eval.latency_ms[i] < b.eval.latency_ms[i];
    }
    return strict;
  };
  const auto front = e->ParetoFront();
  ASSERT_GE(front.size(), 2u);
  std::set<std::string> front_keys;
  for (const auto& f : front) {
    EXPECT_TRUE(f.feasible);
    EXPECT_LE(f.eval.latency_ms[0], o.latency_budgets_ms[0]);
    front_keys.insert(f.key);
    for (const auto& g : front) EXPECT_FALSE(dominates(g, f)) << g.key << " > " << f.key;
  }
  for (const auto& x : all) {
    if (!x.feasible) continue;
    bool dominated = false;
    for (const auto& y : all) dominated = dominated || (y.feasible && dominates(y, x));
    EXPECT_EQ(!dominated, front_keys.count(x.key) == 1) << x.key;
  }
  EXPECT_EQ(e->progress().pareto_size(), static_cast<int>(front.size()));
}

TEST(EngineTest, RandomSearchRuns) {
  auto sp = LoadSpace("mobile");
  EngineOptions o = SmallOptions(v1::RANDOM);
  o.generations = 3;
  TestEvaluator ev;
  auto e = MustCreate(sp, o, &ev);
  int steps = 0;
  while (!e->Done()) {
    auto r = e->Step();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->generation, steps++);
    EXPECT_GT(r->evaluated.size(), 0u);
  }
  EXPECT_EQ(steps, 4);
  EXPECT_GT(e->progress().evaluated(), 60);
  EXPECT_GT(e->progress().best_score(), 0);
}

// Children never repeat a network the job has evaluated: with the highest
// selection pressure (tournament = population) and no repairs (no budget),
// each generation evaluates exactly P new networks, for every algorithm.
TEST(EngineTest, EveryChildIsANewNetwork) {
  auto sp = LoadSpace("edge");
  for (v1::Algorithm alg : {v1::EVOLUTION, v1::NSGA2, v1::RANDOM}) {
    EngineOptions o = SmallOptions(alg);
    o.population = 10;
    o.sample_size = 10;
    o.generations = 30;
    TestEvaluator ev;
    auto e = MustCreate(sp, o, &ev);
    while (!e->Done()) {
      auto r = e->Step();
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->evaluated.size(), 10u) << v1::Algorithm_Name(alg) << " generation " << r->generation;
    }
    EXPECT_EQ(e->progress().evaluated(), 10 * 31) << v1::Algorithm_Name(alg);
    const std::set<std::string> uniq(ev.keys().begin(), ev.keys().end());
    EXPECT_EQ(uniq.size(), ev.keys().size());
  }
}

// A space with fewer networks than the job asks for: children that cannot
// be new reuse cached evaluations, and the search ends instead of looping.
TEST(EngineTest, ExhaustedSpaceStillEnds) {
  auto proto = space::ParseSpaceJson(R"({"name": "four", "resolutions": [64],
      "stem": [{"conv": {"out_channels": 16, "kernel": 3, "stride": 2, "act": "RELU"}}],
      "stages": [{"block_types": ["CONV"], "width": {"values": [16, 24]}, "depth": {"values": [1, 2]},
                  "stride": 2, "kernels": [3], "expansions": [3]}],
      "head": {"conv_channels": 0, "num_classes": 10}})");
  ASSERT_TRUE(proto.ok()) << proto.status();
  auto sp = space::Space::Create(*proto);
  ASSERT_TRUE(sp.ok()) << sp.status();
  for (v1::Algorithm alg : {v1::EVOLUTION, v1::NSGA2, v1::RANDOM}) {
    EngineOptions o = SmallOptions(alg);
    o.population = 3;
    o.sample_size = 2;
    o.generations = 20;
    TestEvaluator ev;
    auto e = MustCreate(*sp, o, &ev);
    int steps = 0;
    while (!e->Done()) {
      auto r = e->Step();
      ASSERT_TRUE(r.ok()) << r.status();
      ++steps;
    }
    EXPECT_EQ(steps, 21);
    EXPECT_LE(e->progress().evaluated(), 4);
    const std::set<std::string> uniq(ev.keys().begin(), ev.keys().end());
    EXPECT_EQ(uniq.size(), ev.keys().size());
  }
}

TEST(EngineTest, SoftModeUsesTheMnasNetReward) {
  auto sp = LoadSpace("tiny");
  EngineOptions o = SmallOptions();
  o.soft = true;
  o.latency_budgets_ms = {1e-6};  // unreachable, but soft
  TestEvaluator ev;
  auto e = MustCreate(sp, o, &ev);
  RunLog log;
  Finish(*e, &log);
  const auto p = e->progress();
  EXPECT_EQ(p.feasible(), p.evaluated());
  const auto best = e->Best(3);
  ASSERT_EQ(best.size(), 3u);
  for (const auto& b : best) {
    EXPECT_TRUE(b.feasible);
    EXPECT_DOUBLE_EQ(b.fitness, b.eval.score * std::pow(b.eval.latency_ms[0] / 1e-6, o.soft_weight));
  }
}

// ---------------------------------------------------------------- external

// Drives an external job to the end, answering with TestEvaluator::Score;
// `reverse` tells each batch's scores in reverse order.
void DriveExternal(Engine& e, bool reverse, RunLog* log, int checkpoint_after_asks = -1,
                   std::string* ckpt = nullptr) {
  int asks = 0;
  while (!e.Done()) {
    auto batch = e.Ask(1000);
    ASSERT_TRUE(batch.ok()) << batch.status();
    if (ckpt && asks++ == checkpoint_after_asks) {
      *ckpt = e.Checkpoint();
      return;
    }
    if (batch->empty()) {
      auto r = e.Step();
      ASSERT_TRUE(r.ok()) << r.status();
      for (const auto& ind : r->evaluated) log->evaluated.push_back(Describe(ind));
      continue;
    }
    if (reverse) std::reverse(batch->begin(), batch->end());
    for (const auto& ind : *batch) ASSERT_TRUE(e.Tell(ind.key, TestEvaluator::Score(ind.genotype)).ok());
  }
  for (const auto& ind : e.Best(10)) log->best.push_back(Describe(ind));
  for (const auto& ind : e.ParetoFront()) log->pareto.push_back(Describe(ind));
  log->final_checkpoint = StripVolatile(e.Checkpoint());
}

TEST(EngineTest, ExternalAskTellFlow) {
  auto sp = LoadSpace("tiny");
  EngineOptions o = SmallOptions();
  o.external = true;
  o.generations = 3;
  TestEvaluator ev(0, /*external=*/true);
  auto e = MustCreate(sp, o, &ev);
  auto r = e->Step();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "waiting for 20 external scores");
  EXPECT_EQ(e->Ask(0).status().code(), absl::StatusCode::kInvalidArgument);
  auto a = e->Ask(5);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 5u);
  EXPECT_TRUE(std::isnan((*a)[0].eval.score));
  EXPECT_EQ((*a)[0].eval.latency_ms.size(), 1u);  // latency is known
  auto b = e->Ask(100);                           // the 15 not handed out yet
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 15u);
  auto again = e->Ask(3);  // all out: handed out again
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 3u);

  auto st = e->Tell((*a)[0].key, NAN);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "score: must be finite, got nan");
  EXPECT_EQ(e->Tell((*a)[0].key, INFINITY).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->Tell("r64|nope", 1.0).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(e->Tell((*a)[0].key, 1.5).ok());
  EXPECT_EQ(e->Tell((*a)[0].key, 1.5).code(), absl::StatusCode::kNotFound);  // told already
  EXPECT_EQ(e->Step().status().message(), "waiting for 19 external scores");
  EXPECT_EQ(e->progress().evaluated(), 1);

  // Internal-mode engines cannot ask or tell.
  TestEvaluator plain;
  auto internal = MustCreate(sp, SmallOptions(), &plain);
  EXPECT_EQ(internal->Ask(1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(internal->Tell("x", 1).code(), absl::StatusCode::kFailedPrecondition);
}

// A worker that died holds its candidates: once every pending one is out,
// Ask hands out the one asked longest ago first, not the first in the batch
// again (which a live worker may still be training).
TEST(EngineTest, ExternalReAskHandsOutTheOldestFirst) {
  auto sp = LoadSpace("tiny");
  EngineOptions o = SmallOptions();
  o.external = true;
  o.generations = 1;
  TestEvaluator ev(0, /*external=*/true);
  auto e = MustCreate(sp, o, &ev);
  auto a = e->Ask(3);
  auto b = e->Ask(100);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 3u);
  for (const auto& ind : *b) ASSERT_TRUE(e->Tell(ind.key, 1.0).ok());
  // Pending now: a[0], a[1], a[2], asked in that order.
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    auto one = e->Ask(1);
    ASSERT_TRUE(one.ok());
    ASSERT_EQ(one->size(), 1u);
    order.push_back((*one)[0].key);
  }
  EXPECT_EQ(order, (std::vector<std::string>{(*a)[0].key, (*a)[1].key, (*a)[2].key, (*a)[0].key}));
  ASSERT_TRUE(e->Tell((*a)[1].key, 2.0).ok());
  EXPECT_EQ(e->Tell((*a)[1].key, 2.0).code(), absl::StatusCode::kNotFound);  // told once only
  auto next = e->Ask(1);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)[0].key, (*a)[2].key);  // asked before a[0]'s second hand-out
}

TEST(EngineTest, ExternalMatchesInternalAndTellOrderDoesNotMatter) {
  auto sp = LoadSpace("tiny");
  EngineOptions o = SmallOptions();
  o.generations = 4;
  TestEvaluator internal_ev;
  RunLog internal;
  Finish(*MustCreate(sp, o, &internal_ev), &internal);

  o.external = true;
  TestEvaluator ev1(0, true), ev2(0, true);
  RunLog fwd, rev;
  DriveExternal(*MustCreate(sp, o, &ev1), false, &fwd);
  DriveExternal(*MustCreate(sp, o, &ev2), true, &rev);
  ExpectSameRun(fwd, rev);
  // Without a budget every evaluated genotype gets scored: the same search.
  EXPECT_EQ(fwd.evaluated, internal.evaluated);
  EXPECT_EQ(fwd.best, internal.best);
  EXPECT_EQ(fwd.pareto, internal.pareto);
}

TEST(EngineTest, ExternalCheckpointMidBatchIsExact) {
  auto sp = LoadSpace("tiny");
  for (auto alg : {v1::EVOLUTION, v1::NSGA2}) {
    EngineOptions o = SmallOptions(alg, 11);
    o.external = true;
    o.generations = 3;
    o.latency_budgets_ms = {MedianLatency(*sp)};
    TestEvaluator ev(0, true);
    RunLog whole;
    DriveExternal(*MustCreate(sp, o, &ev), false, &whole);
    for (int cut : {0, 1, 3, 7}) {
      RunLog split;
      std::string ckpt;
      {
        TestEvaluator ev1(0, true);
        auto e = MustCreate(sp, o, &ev1);
        DriveExternal(*e, false, &split, cut, &ckpt);
        ASSERT_FALSE(ckpt.empty());
      }
      TestEvaluator ev2(0, true);
      auto e = MustCreate(sp, o, &ev2);
      ASSERT_TRUE(e->Restore(ckpt).ok());
      DriveExternal(*e, false, &split);
      SCOPED_TRACE(absl::StrCat("alg ", alg, " cut ", cut));
      ExpectSameRun(whole, split);
    }
  }
}

// ---------------------------------------------------------------- corrupt input

TEST(EngineTest, MalformedCheckpointsAreDataLoss) {
  auto sp = LoadSpace("tiny");
  EngineOptions o = SmallOptions();
  TestEvaluator ev;
  auto e = MustCreate(sp, o, &ev);
  RunLog log;
  RunSteps(*e, 2, &log);
  const std::string good = e->Checkpoint();
  const std::string before = StripVolatile(good);

  std::vector<std::string> bad = {"", "garbage", "lutnas-engine-checkpoint v1\n",
                                  good.substr(0, good.size() / 2), good + "x\n"};
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 1;
  bad.push_back(flipped);
  // A well-formed checksum over bad content: a population index out of range.
  std::vector<std::string> lines = absl::StrSplit(good.substr(0, good.rfind("end ")), '\n');
  bool replaced = false;
  for (auto& l : lines)
    if (absl::StartsWith(l, "population ")) {
      std::vector<std::string> f = absl::StrSplit(l, ' ');
      ASSERT_GE(f.size(), 3u);
      f[2] = "99999";
      l = absl::StrJoin(f, " ");
      replaced = true;
    }
  ASSERT_TRUE(replaced);
  const std::string body = absl::StrJoin(lines, "\n");
  bad.push_back(body + absl::StrFormat("end %016x\n", space::Fnv1a64(body)));
  for (const auto& c : bad) {
    auto st = e->Restore(c);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st << "\n" << c.substr(0, 80);
    EXPECT_TRUE(absl::StartsWith(st.message(), "checkpoint: ")) << st;
  }
  // A failed Restore leaves the engine as it was.
  EXPECT_EQ(StripVolatile(e->Checkpoint()), before);

  // Another job's checkpoint.
  EngineOptions other = o;
  other.seed = 2;
  TestEvaluator ev2;
  auto e2 = MustCreate(sp, other, &ev2);
  auto st = e2->Restore(good);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  auto e3 = MustCreate(LoadSpace("edge"), o, &ev2);
  EXPECT_EQ(e3->Restore(good).code(), absl::StatusCode::kFailedPrecondition);
}

// Any edit of a checkpoint whose checksum is then fixed up is either
// rejected or gives an engine that runs; never a crash (run under ASan).
TEST(EngineTest, EditedCheckpointsNeverCrash) {
  auto sp = LoadSpace("tiny");
  for (auto alg : {v1::EVOLUTION, v1::NSGA2, v1::RANDOM}) {
    EngineOptions o = SmallOptions(alg);
    o.external = alg == v1::NSGA2;
    o.generations = 3;
    TestEvaluator ev(0, o.external);
    auto e = MustCreate(sp, o, &ev);
    if (o.external) {
      auto a = e->Ask(7);
      ASSERT_TRUE(a.ok());
      for (const auto& ind : *a) ASSERT_TRUE(e->Tell(ind.key, 1.0).ok());
    } else {
      ASSERT_TRUE(e->Step().ok());
      ASSERT_TRUE(e->Step().ok());
    }
    const std::string good = e->Checkpoint();
    const std::vector<std::string> lines =
        absl::StrSplit(good.substr(0, good.rfind("end ")), '\n', absl::SkipEmpty());
    const char* tokens[] = {"0",
                            "1",
                            "-1",
                            "19",
                            "20",
                            "21",
                            "99999",
                            "7fffffffffffffff",
                            "0000000000000000",
                            "x",
                            "",
                            "r64|16:conv.3.0"};
    base::Rng rng(alg);
    int accepted = 0;
    for (int iter = 0; iter < 300; ++iter) {
      std::vector<std::string> l = lines;
      const int li = 1 + rng.Uniform(static_cast<int>(l.size()) - 1);
      std::vector<std::string> f = absl::StrSplit(l[li], ' ');
      f[rng.Uniform(static_cast<int>(f.size()))] = tokens[rng.Uniform(12)];
      if (rng.Uniform(4) == 0) f.pop_back();
      l[li] = absl::StrJoin(f, " ");
      const std::string body = absl::StrJoin(l, "\n") + "\n";
      const std::string text = body + absl::StrFormat("end %016x\n", space::Fnv1a64(body));
      TestEvaluator ev2(0, o.external);
      auto e2 = MustCreate(sp, o, &ev2);
      const absl::Status st = e2->Restore(text);
      if (!st.ok()) {
        EXPECT_TRUE(st.code() == absl::StatusCode::kDataLoss ||
                    st.code() == absl::StatusCode::kFailedPrecondition)
            << st;
        continue;
      }
      ++accepted;
      for (int k = 0; k < 4 && !e2->Done(); ++k) {
        if (o.external) {
          auto a = e2->Ask(100);
          if (a.ok())
            for (const auto& ind : *a) (void)e2->Tell(ind.key, 2.0);
        }
        (void)e2->Step();
      }
      (void)e2->Best(3);
      (void)e2->ParetoFront();
      (void)e2->progress();
    }
    EXPECT_GT(accepted, 0);
  }
}

// Evaluator whose numbers come from the key hash only: measures the engine.
class HashEvaluator : public Evaluator {
 public:
  absl::Status Evaluate(const std::vector<space::Genotype>& gs, std::vector<Evaluation>* r) override {
    r->resize(gs.size());
    for (size_t i = 0; i < gs.size(); ++i) {
      const uint64_t h = space::Fnv1a64(gs[i].Encode());
      (*r)[i].score = (h % 100000) / 1000.0;
      (*r)[i].latency_ms = {static_cast<double>((h >> 20) % 1000) / 100.0};
      (*r)[i].params = static_cast<int64_t>(h % 1000000);
    }
    return absl::OkStatus();
  }
};

// Throughput figure, not a check: P = 100, 500 generations (50,100
// children). Run with --gtest_also_run_disabled_tests.
TEST(EngineTest, DISABLED_Throughput) {
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  HashEvaluator ev;
  for (const char* name : {"tiny", "edge", "mobile"}) {
    auto sp = LoadSpace(name);
    for (double budget : {0.0, 7.0}) {  // 7 ms: about 30% of children over budget
      for (auto alg : {v1::EVOLUTION, v1::NSGA2, v1::RANDOM}) {
        EngineOptions o;
        o.algorithm = alg;
        o.population = 100;
        o.generations = 500;
        o.latency_budgets_ms = {budget};
        auto e = MustCreate(sp, o, &ev);
        auto t = std::chrono::steady_clock::now();
        while (!e->Done()) ASSERT_TRUE(e->Step().ok());
        const double run_s = seconds_since(t);
        t = std::chrono::steady_clock::now();
        const std::string ck = e->Checkpoint();
        const double ck_s = seconds_since(t);
        auto e2 = MustCreate(sp, o, &ev);
        t = std::chrono::steady_clock::now();
        ASSERT_TRUE(e2->Restore(ck).ok());
        const double restore_s = seconds_since(t);
        std::printf(
            "%-6s budget %g %-9s 50100 children in %.2f s (%.0f/s), %lld distinct "
            "evaluated; checkpoint %.1f MB, write %.3f s, restore %.3f s\n",
            name, budget, v1::Algorithm_Name(alg).c_str(), run_s, 50100 / run_s,
            static_cast<long long>(e->progress().evaluated()), ck.size() / 1e6, ck_s, restore_s);
      }
    }
  }
}

}  // namespace
}  // namespace lutnas::search
