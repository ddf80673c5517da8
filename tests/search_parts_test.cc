// Table-driven tests of the search engine's pure parts: constraints and
// fitness (search/constraints.h), the archive and its Pareto front
// (search/archive.h) and selection (search/selection.h).
#include <cmath>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "search/archive.h"
#include "search/constraints.h"
#include "search/selection.h"

namespace lutnas::search {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Evaluation Eval(double score, std::vector<double> latency_ms, int64_t params = 0, int64_t macs = 0) {
  Evaluation e;
  e.score = score;
  e.latency_ms = std::move(latency_ms);
  e.params = params;
  e.macs = macs;
  return e;
}

EngineOptions Budgets(std::vector<double> budgets, int64_t max_params = 0, int64_t max_macs = 0) {
  EngineOptions o;
  o.latency_budgets_ms = std::move(budgets);
  o.max_params = max_params;
  o.max_macs = max_macs;
  return o;
}

// ---------------------------------------------------------------- constraints

TEST(ConstraintsTest, ConstrainedIndicesAreThoseWithABudget) {
  EXPECT_EQ(Constraints(Budgets({0, 5, 0, 2})).constrained(), (std::vector<int>{1, 3}));
  EXPECT_TRUE(Constraints(Budgets({})).constrained().empty());
  EXPECT_TRUE(Constraints(Budgets({0, 0})).constrained().empty());
}

TEST(ConstraintsTest, FeasibilityAndViolation) {
  struct Case {
    std::string name;
    EngineOptions options;
    Evaluation eval;
    bool feasible;
    double violation;
  };
  EngineOptions soft = Budgets({1});
  soft.soft = true;
  const std::vector<Case> cases = {
      {"no constraints", Budgets({}), Eval(1, {100}, 1'000'000, 1'000'000'000), true, 0},
      {"within budget", Budgets({10}), Eval(1, {9.5}), true, 0},
      {"exactly on budget", Budgets({10}), Eval(1, {10}), true, 0},
      {"over budget by half", Budgets({10}), Eval(1, {15}), false, 0.5},
      {"unconstrained index ignored", Budgets({0, 10}), Eval(1, {1000, 5}), true, 0},
      {"two budgets missed", Budgets({10, 4}), Eval(1, {20, 6}), false, 1.0 + 0.5},
      {"NaN latency", Budgets({10}), Eval(1, {NAN}), false, 1e9},
      {"missing latency", Budgets({0, 10}), Eval(1, {1}), false, 1e9},
      {"params cap", Budgets({}, 100), Eval(1, {}, 150), false, 0.5},
      {"params on cap", Budgets({}, 100), Eval(1, {}, 100), true, 0},
      {"macs cap", Budgets({}, 0, 1000), Eval(1, {}, 0, 3000), false, 2.0},
      {"all three", Budgets({10}, 100, 1000), Eval(1, {12}, 110, 1100), false, 0.2 + 0.1 + 0.1},
      {"soft mode is always feasible", soft, Eval(1, {50}), true, 0},
  };
  for (const auto& c : cases) {
    const Constraints k(c.options);
    EXPECT_EQ(k.Feasible(c.eval), c.feasible) << c.name;
    EXPECT_NEAR(k.Violation(c.eval), c.violation, 1e-12) << c.name;
  }
}

TEST(ConstraintsTest, FitnessIsTheScoreOrTheMnasNetReward) {
  struct Case {
    std::string name;
    bool soft;
    bool external;
    Evaluation eval;
    double fitness;  // NaN: expect NaN
  };
  const double w = -0.07;
  const std::vector<Case> cases = {
      {"hard: the score", false, false, Eval(0.75, {20}), 0.75},
      {"hard: a negative score", false, false, Eval(-2, {20}), -2},
      {"hard: NaN score is -inf", false, false, Eval(NAN, {1}), -kInf},
      {"external: NaN score is pending", false, true, Eval(NAN, {1}), NAN},
      {"soft: on budget", true, false, Eval(2, {10}), 2},
      {"soft: twice the budget", true, false, Eval(2, {20}), 2 * std::pow(2.0, w)},
      {"soft: half the budget", true, false, Eval(2, {5}), 2 * std::pow(0.5, w)},
      {"soft: negative score divides", true, false, Eval(-2, {20}), -2 / std::pow(2.0, w)},
      {"soft: zero latency clamps", true, false, Eval(1, {0}), std::pow(1e-12 / 10, w)},
      {"soft: NaN latency", true, false, Eval(1, {NAN}), std::pow(1e9, w)},
  };
  for (const auto& c : cases) {
    EngineOptions o = Budgets({10});
    o.soft = c.soft;
    o.external = c.external;
    const double f = Constraints(o).Fitness(c.eval);
    if (std::isnan(c.fitness))
      EXPECT_TRUE(std::isnan(f)) << c.name << ": " << f;
    else
      EXPECT_DOUBLE_EQ(f, c.fitness) << c.name;
  }
}

TEST(ConstraintsTest, SoftRewardMultipliesOverEveryConstrainedLatency) {
  EngineOptions o = Budgets({10, 0, 4});
  o.soft = true;
  o.soft_weight = -0.5;
  EXPECT_DOUBLE_EQ(Constraints(o).Fitness(Eval(3, {40, 99, 1})),
                   3 * std::pow(4.0, -0.5) * std::pow(0.25, -0.5));
}

TEST(ConstraintsTest, FinalUnlessExternalAndUnscored) {
  EngineOptions internal, external;
  external.external = true;
  EXPECT_TRUE(Constraints(internal).IsFinal(Eval(NAN, {})));
  EXPECT_TRUE(Constraints(external).IsFinal(Eval(0.5, {})));
  EXPECT_FALSE(Constraints(external).IsFinal(Eval(NAN, {})));
}

TEST(ConstraintsTest, WhyInfeasibleNamesTheWorstMissedConstraint) {
  struct Case {
    std::string name;
    EngineOptions options;
    std::vector<Evaluation> samples;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"latency",
       Budgets({0, 2}),
       {Eval(1, {1, 5}), Eval(1, {1, 3})},
       "the fastest of 2 samples needs 3 ms on budget #1 (limit 2 ms)"},
      {"params beat latency by factor",
       Budgets({2}, 10),
       {Eval(1, {3}, 40), Eval(1, {5}, 50)},
       "the smallest of 2 samples has 40 params (max_params 10)"},
      {"latency beats macs by factor",
       Budgets({1}, 0, 100),
       {Eval(1, {9}, 0, 200)},
       "the fastest of 1 samples needs 9 ms on budget #0 (limit 1 ms)"},
      {"macs",
       Budgets({}, 0, 100),
       {Eval(1, {}, 0, 300), Eval(1, {}, 0, 250)},
       "the smallest of 2 samples has 250 MACs (max_macs 100)"},
      {"each alone met",
       Budgets({2}, 10),
       {Eval(1, {1}, 40), Eval(1, {5}, 5)},
       "none of 2 samples meets every constraint at once, though each alone is met"},
  };
  for (const auto& c : cases) {
    std::vector<const Evaluation*> samples;
    for (const auto& e : c.samples) samples.push_back(&e);
    EXPECT_EQ(Constraints(c.options).WhyInfeasible(samples), c.why) << c.name;
  }
}

// ---------------------------------------------------------------- Pareto front

TEST(ParetoTest, Dominance) {
  struct Case {
    std::string name;
    Evaluation a, b;
    bool a_dominates_b;
  };
  const std::vector<Case> cases = {
      {"higher score, same latency", Eval(2, {5}), Eval(1, {5}), true},
      {"same score, faster", Eval(1, {4}), Eval(1, {5}), true},
      {"better on both", Eval(2, {4}), Eval(1, {5}), true},
      {"equal", Eval(1, {5}), Eval(1, {5}), false},
      {"lower score", Eval(1, {4}), Eval(2, {5}), false},
      {"trade-off", Eval(2, {6}), Eval(1, {5}), false},
      {"one of two latencies worse", Eval(2, {1, 9}), Eval(1, {2, 8}), false},
      {"two latencies better", Eval(1, {1, 7}), Eval(1, {2, 8}), true},
      {"compared over the shorter vector", Eval(1, {4, 100}), Eval(1, {5}), true},
      {"NaN latency dominates nothing", Eval(2, {NAN}), Eval(1, {5}), false},
      {"NaN latency is not dominated", Eval(2, {4}), Eval(1, {NAN}), false},
  };
  for (const auto& c : cases) EXPECT_EQ(ParetoDominates(c.a, c.b), c.a_dominates_b) << c.name;
}

Individual Ind(double score, std::vector<double> latency_ms, bool feasible = true) {
  Individual ind;
  ind.eval = Eval(score, std::move(latency_ms));
  ind.feasible = feasible;
  ind.fitness = score;
  return ind;
}

TEST(ParetoTest, InsertKeepsTheNonDominatedSetInInsertionOrder) {
  struct Case {
    std::string name;
    std::vector<Individual> individuals;  // inserted in order
    std::vector<int> front;
  };
  const std::vector<Case> cases = {
      {"a trade-off curve", {Ind(1, {1}), Ind(2, {2}), Ind(3, {3})}, {0, 1, 2}},
      {"a dominated point is not added", {Ind(2, {1}), Ind(1, {2})}, {0}},
      {"a dominating point removes members", {Ind(1, {2}), Ind(2, {3}), Ind(3, {1})}, {2}},
      {"removal keeps the order of the rest",
       {Ind(1, {1}), Ind(2, {3}), Ind(3, {4}), Ind(2.5, {2})},
       {0, 2, 3}},
      {"equal points both stay", {Ind(1, {1}), Ind(1, {1})}, {0, 1}},
      {"infeasible never enters", {Ind(1, {5}), Ind(9, {1}, false)}, {0}},
      {"unscored never enters", {Ind(NAN, {1}), Ind(1, {5})}, {1}},
  };
  for (const auto& c : cases) {
    std::vector<int> front;
    for (int i = 0; i < static_cast<int>(c.individuals.size()); ++i) ParetoInsert(c.individuals, i, &front);
    EXPECT_EQ(front, c.front) << c.name;
  }
}

// A distinct valid-looking key per index (the archive only indexes keys).
std::string Key(int i) { return "k" + std::to_string(i); }

TEST(ArchiveTest, BookkeepingFrontAndBest) {
  EngineOptions o = Budgets({10});
  o.external = true;
  const Constraints c(o);
  Archive a(&c);
  // (score, latency): #1 infeasible, #3 pending, #4 ties #0's score and is faster.
  const std::vector<Evaluation> evals = {Eval(0.5, {2}), Eval(0.9, {20}), Eval(0.8, {6}), Eval(NAN, {0.5}),
                                         Eval(0.5, {1})};
  for (int i = 0; i < static_cast<int>(evals.size()); ++i) {
    EXPECT_EQ(a.Add(space::Genotype(), Key(i), evals[i], /*generation=*/i), i);
    if (c.IsFinal(evals[i])) a.OnFinal(i);
  }
  EXPECT_EQ(a.size(), 5);
  EXPECT_EQ(a.Find("k3"), 3);
  EXPECT_EQ(a.Find("nope"), -1);
  EXPECT_FALSE(a.at(1).feasible);
  EXPECT_TRUE(std::isnan(a.at(3).fitness));
  EXPECT_EQ(a.evaluated(), 4);
  EXPECT_EQ(a.feasible(), 3);
  EXPECT_DOUBLE_EQ(a.best(), 0.8);
  // #4 dominates #0 (same score, faster).
  EXPECT_EQ(a.front_size(), 2);
  auto keys = [](const std::vector<Individual>& v) {
    std::vector<std::string> k;
    for (const auto& i : v) k.push_back(i.key);
    return k;
  };
  EXPECT_EQ(keys(a.ParetoFront()), (std::vector<std::string>{"k2", "k4"}));
  EXPECT_EQ(keys(a.Best(10)), (std::vector<std::string>{"k2", "k0", "k4"}));  // ties: archive order
  EXPECT_EQ(keys(a.Best(1)), (std::vector<std::string>{"k2"}));
  EXPECT_TRUE(a.Best(-1).empty());

  a.SetScore(3, 0.95);  // fast and best: dominates the whole front
  EXPECT_EQ(a.evaluated(), 5);
  EXPECT_DOUBLE_EQ(a.best(), 0.95);
  EXPECT_EQ(keys(a.ParetoFront()), (std::vector<std::string>{"k3"}));

  // Reset rederives the same bookkeeping from the evaluations alone.
  std::vector<Individual> copy = a.individuals();
  for (auto& ind : copy) ind.feasible = false, ind.fitness = -1;
  Archive b(&c);
  b.Reset(copy);
  EXPECT_EQ(b.evaluated(), 5);
  EXPECT_EQ(b.feasible(), 4);
  EXPECT_DOUBLE_EQ(b.best(), 0.95);
  EXPECT_EQ(keys(b.ParetoFront()), (std::vector<std::string>{"k3"}));
  EXPECT_EQ(keys(b.Best(10)), keys(a.Best(10)));
  EXPECT_EQ(b.Find("k4"), 4);
}

// ---------------------------------------------------------------- selection

TEST(SelectionTest, BetterOrdersFeasibleThenViolationThenFitness) {
  const Constraints c(Budgets({10}));
  struct Case {
    std::string name;
    Individual a, b;
    bool a_better;
  };
  auto ind = [&](double fitness, double latency) {
    Individual i;
    i.eval = Eval(fitness, {latency});
    i.feasible = c.Feasible(i.eval);
    i.fitness = fitness;
    return i;
  };
  const std::vector<Case> cases = {
      {"feasible beats infeasible of higher fitness", ind(0.1, 5), ind(0.9, 50), true},
      {"infeasible loses to feasible", ind(0.9, 50), ind(0.1, 5), false},
      {"both feasible: fitness", ind(0.6, 5), ind(0.5, 1), true},
      {"both feasible: equal fitness is not better", ind(0.5, 5), ind(0.5, 1), false},
      {"both infeasible: less violation", ind(0.1, 12), ind(0.9, 30), true},
      {"both infeasible, same violation: fitness", ind(0.9, 20), ind(0.1, 20), true},
  };
  for (const auto& x : cases) EXPECT_EQ(Better(c, x.a, x.b), x.a_better) << x.name;
}

TEST(SelectionTest, TournamentDrawsWithReplacementAndKeepsTheBetter) {
  const Constraints c(Budgets({}));
  std::vector<Individual> archive;
  for (double f : {0.3, 0.9, 0.1, 0.7, 0.5}) archive.push_back(Ind(f, {1}));
  const std::deque<int> population = {4, 0, 2, 3};  // #1 (the best) is not a member
  struct Case {
    int sample_size;
    uint64_t seed;
  };
  for (const Case& x : std::vector<Case>{{1, 1}, {2, 2}, {3, 3}, {4, 4}, {64, 5}}) {
    base::Rng rng(x.seed), replay(x.seed);
    // The winner of the same draws, by fitness (the earliest on ties).
    int expected = population[replay.Uniform(4)];
    for (int i = 1; i < x.sample_size; ++i) {
      const int d = population[replay.Uniform(4)];
      if (archive[d].fitness > archive[expected].fitness) expected = d;
    }
    EXPECT_EQ(Tournament(c, archive, population, x.sample_size, rng), expected) << x.sample_size;
    EXPECT_EQ(rng.state(), replay.state()) << "exactly sample_size draws";
  }
  base::Rng rng(7);
  EXPECT_EQ(Tournament(c, archive, population, 64, rng), 3) << "a large tournament finds the best member";
}

TEST(SelectionTest, NsgaObjectives) {
  struct Case {
    std::string name;
    std::vector<double> budgets;
    Evaluation eval;
    std::vector<double> objectives;
  };
  const std::vector<Case> cases = {
      {"unconstrained: every latency", {}, Eval(0.5, {3, 4}, 100), {-0.5, 100, 3, 4}},
      {"constrained: only those", {0, 8}, Eval(0.5, {3, 4}, 100), {-0.5, 100, 4}},
      {"NaN score and latency", {}, Eval(NAN, {NAN}, 7), {1e300, 7, 1e300}},
      {"clamped", {}, Eval(-kInf, {kInf}, 1), {1e300, 1, 1e300}},
      {"clamped below", {}, Eval(kInf, {-kInf}, 1), {-1e300, 1, -1e300}},
      {"missing constrained latency", {0, 0, 5}, Eval(1, {1}, 2), {-1, 2, 1e300}},
  };
  for (const auto& x : cases)
    EXPECT_EQ(NsgaObjectives(Constraints(Budgets(x.budgets)), x.eval), x.objectives) << x.name;
}

TEST(SelectionTest, NsgaPointsCarryFeasibilityAndViolation) {
  const Constraints c(Budgets({10}));
  std::vector<Individual> archive = {Ind(0.5, {5}), Ind(0.7, {15}, false)};
  const auto p = NsgaPoints(c, archive, {1, 0});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].objectives, (std::vector<double>{-0.7, 0, 15}));
  EXPECT_FALSE(p[0].feasible);
  EXPECT_DOUBLE_EQ(p[0].violation, 0.5);
  EXPECT_TRUE(p[1].feasible);
  EXPECT_DOUBLE_EQ(p[1].violation, 0);
}

TEST(SelectionTest, BinaryTournamentPrefersRankThenCrowdingThenIndex) {
  NsgaRanking r;
  r.rank = {1, 0, 0, 2, 0};
  r.crowding = {kInf, 0.5, 2.0, kInf, 0.5};
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    base::Rng rng(seed), replay(seed);
    const int a = replay.Uniform(5);
    const int b = replay.Uniform(5);
    int expected = std::min(a, b);
    if (r.rank[a] != r.rank[b])
      expected = r.rank[a] < r.rank[b] ? a : b;
    else if (r.crowding[a] != r.crowding[b])
      expected = r.crowding[a] > r.crowding[b] ? a : b;
    EXPECT_EQ(BinaryTournament(r, rng), expected) << seed;
    EXPECT_EQ(rng.state(), replay.state()) << "two draws";
  }
}

TEST(SelectionTest, NsgaSurvivorsAreArchiveIndices) {
  const Constraints c(Budgets({}));
  std::vector<Individual> archive;
  // (score, latency): #0 dominates all; then #2 and #4 trade off and dominate #1 and #3.
  for (auto [s, l] : std::vector<std::pair<double, double>>{{4, 1}, {1, 5}, {3, 3}, {0, 9}, {2, 2}})
    archive.push_back(Ind(s, {l}));
  // Fronts {#0}, {#2, #4}, {#1}, {#3}; within a front, the order of `combined`.
  EXPECT_EQ(NsgaSurvivors(c, archive, {3, 1, 0, 2, 4}, 3), (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(NsgaSurvivors(c, archive, {3, 1, 0, 2, 4}, 4), (std::vector<int>{0, 2, 4, 1}));
}

}  // namespace
}  // namespace lutnas::search
