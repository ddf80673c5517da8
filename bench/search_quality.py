#!/work/main/.venv/bin/python
"""Search quality at equal numbers of distinct evaluations: lutnas's search
algorithms against Optuna (NSGA-II, TPE) and pymoo (GA, NSGA-II).

  .venv/bin/python bench/search_quality.py [--problems all|NAME,...] [--seeds 5]
        [--evals 1000] [--proxy-evals 200] [--methods M,...] [--json out.json]

Every method scores networks through the same evaluator: the binary
search_quality_eval (bench/search_quality_eval.cc) wraps core::LutEvaluator,
the one a lutnasd search job uses (latency summed from a table, params/MACs
from the cost analysis, Zen-score/NASWOT from LibTorch). lutnas's algorithms
run in it (`run`); the peers propose rows of choice indices (the
PredictEncoded row layout) and it evaluates them (`serve`). So only the
algorithm differs.

Budgets: each problem puts latency budgets at a quantile of 2,000 random
networks' predicted latency on one or two devices whose tables come from the
cost model (cpu: compute-bound, 0.01 ms + MACs/2e9 + bytes/4e9 per block;
npu: bandwidth-bound, 0.05 ms + MACs/2e10 + bytes/5e8): synthetic but with
the shape of measured tables, and quick enough for 5 seeds x 8 methods.

Counting: an evaluation is one distinct network (genotype) scored. lutnas
counts every network its engine evaluated, repairs included; a peer's rows
that decode to a network already scored are answered from a cache and not
counted, rows that are no network of the space are answered "infeasible" and
not counted. Each method stops at exactly N distinct evaluations; the score
is the best feasible objective among them (higher is better), or for the
two-objective problem the hypervolume of (objective, latency) normalised by
the random networks' ranges.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / os.environ.get("LUTNAS_BUILD_DIR", "build") / "bin" / "search_quality_eval"

# name: (space, objective, {device: budget quantile (0: reported, no budget)}, two objectives)
PROBLEMS: Dict[str, Tuple[str, str, Dict[str, float], bool]] = {
    "edge-macs-cpu25": ("edge", "macs", {"cpu": 0.25}, False),
    "edge-params-cpu10-npu25": ("edge", "params", {"cpu": 0.10, "npu": 0.25}, False),
    "mobile-macs-npu25": ("mobile", "macs", {"npu": 0.25}, False),
    "mobile-params-cpu50": ("mobile", "params", {"cpu": 0.50}, False),
    "mbv3-macs-cpu25-npu25": ("mbv3", "macs", {"cpu": 0.25, "npu": 0.25}, False),
    "edge-zen-cpu25": ("edge", "zen", {"cpu": 0.25}, False),
    "mobile-naswot-npu25": ("mobile", "naswot", {"npu": 0.25}, False),
    "mobile-macs-vs-npu": ("mobile", "macs", {"npu": 0.0}, True),
}
LUTNAS = ["lutnas-default", "lutnas-evolution", "lutnas-nsga2", "lutnas-random"]
PEERS = ["optuna-nsga2", "optuna-tpe", "pymoo-ga", "pymoo-nsga2"]
POPULATION = 50
INVALID_VIOLATION = 1e9


class Record:
    """One evaluated network: score, feasibility, violation, latencies."""
    __slots__ = ("score", "feasible", "violation", "lat")

    def __init__(self, fields: List[str]) -> None:
        self.score = float(fields[1])
        self.feasible = fields[2] == "1"
        self.violation = float(fields[3])
        self.lat = [float(x) for x in fields[4:]]


def problem_args(name: str) -> List[str]:
    space, objective, quantiles, _ = PROBLEMS[name]
    return ["--space", str(ROOT / "search" / "spaces" / f"{space}.json"), "--objective", objective,
            "--devices", ",".join(quantiles), "--quantiles", ",".join(str(q) for q in quantiles.values())]


def run_lutnas(name: str, algorithm: str, seed: int, evals: int) -> Tuple[List[Record], float]:
    args = [str(BIN), "run", *problem_args(name), "--algorithm", algorithm, "--population", str(POPULATION),
            "--seed", str(seed), "--evals", str(evals)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.split("\n")
    recs = [Record(line.split()) for line in out if line.startswith("E ")]
    wall = float(next(line for line in out if line.startswith("W ")).split()[1])
    return recs, wall


class Served:
    """The peers' evaluator: a search_quality_eval serve process, a cache of
    networks already scored, and the count of distinct evaluations."""

    def __init__(self, name: str, evals: int) -> None:
        d = json.loads(subprocess.run([str(BIN), "describe", *problem_args(name)], check=True,
                                      capture_output=True, text=True).stdout)
        self.width: int = d["width"]
        self.choices: List[int] = d["choices"]
        self.names: List[str] = d["names"]
        self.evals = evals
        self.proc = subprocess.Popen([str(BIN), "serve", *problem_args(name)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.cache: Dict[str, Record] = {}
        self.order: List[Record] = []  # distinct evaluations, in order
        self.rows_asked = 0

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()

    def done(self) -> bool:
        return len(self.order) >= self.evals or self.rows_asked >= 40 * self.evals

    def evaluate(self, rows: np.ndarray) -> List[Optional[Record]]:
        """One record per row (None: not a network of the space). Rows past
        the budget are answered as invalid (the method is stopped)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.rows_asked += len(rows)
        text = "".join(" ".join(str(int(v)) for v in r) + "\n" for r in rows) + ".\n"
        self.proc.stdin.write(text)
        self.proc.stdin.flush()
        out: List[Optional[Record]] = []
        for _ in rows:
            f = self.proc.stdout.readline().split()
            if f[0] == "X":
                out.append(None)
                continue
            key = f[-1]
            if key in self.cache:
                out.append(self.cache[key])
            elif len(self.order) < self.evals:
                rec = Record(f[:-1])
                self.cache[key] = rec
                self.order.append(rec)
                out.append(rec)
            else:
                out.append(None)
        return out


def peer_values(rec: Optional[Record], two_obj: bool) -> Tuple[List[float], float]:
    """(objectives to minimise, violation) of a record for a peer."""
    if rec is None:
        return ([1e18, 1e18] if two_obj else [1e18]), INVALID_VIOLATION
    f = [-rec.score, rec.lat[0]] if two_obj else [-rec.score]
    return f, 0.0 if rec.feasible else max(rec.violation, 1e-12)


def run_optuna(name: str, kind: str, seed: int, evals: int) -> Tuple[List[Record], float]:
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    two_obj = PROBLEMS[name][3]
    srv = Served(name, evals)
    t0 = time.perf_counter()

    if kind == "nsga2":
        sampler: Any = optuna.samplers.NSGAIISampler(population_size=POPULATION, seed=seed)
        batch = POPULATION
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
        batch = 1
    study = optuna.create_study(directions=["minimize", "minimize"] if two_obj else ["minimize"],
                                sampler=sampler)
    while not srv.done():
        trials = [study.ask() for _ in range(batch)]
        rows = np.array([[t.suggest_int(f"x{i}", 0, c - 1) if c > 1 else 0
                          for i, c in enumerate(srv.choices)] for t in trials])
        for t, rec in zip(trials, srv.evaluate(rows)):
            f, v = peer_values(rec, two_obj)
            t.set_constraint("violation", v)
            study.tell(t, f if two_obj else f[0])
    srv.close()
    return srv.order, time.perf_counter() - t0


def run_pymoo(name: str, kind: str, seed: int, evals: int) -> Tuple[List[Record], float]:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.algorithms.soo.nonconvex.ga import GA
    from pymoo.core.evaluator import Evaluator
    from pymoo.core.problem import Problem
    from pymoo.core.termination import NoTermination
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.problems.static import StaticProblem
    two_obj = PROBLEMS[name][3]
    srv = Served(name, evals)
    t0 = time.perf_counter()
    xu = np.array(srv.choices) - 1
    problem = Problem(n_var=srv.width, n_obj=2 if two_obj else 1, n_ieq_constr=1, xl=np.zeros_like(xu), xu=xu,
                      vtype=int)
    # pymoo's documented integer setup: SBX + polynomial mutation with rounding.
    ops: Dict[str, Any] = dict(pop_size=POPULATION, sampling=IntegerRandomSampling(),
                               crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                               mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                               eliminate_duplicates=True)
    algorithm = NSGA2(**ops) if kind == "nsga2" else GA(**ops)
    algorithm.setup(problem, termination=NoTermination(), seed=seed, verbose=False)
    while not srv.done():
        pop = algorithm.ask()
        recs = srv.evaluate(np.round(pop.get("X")).astype(int))
        vals = [peer_values(r, two_obj) for r in recs]
        F = np.array([f for f, _ in vals], dtype=float)
        G = np.array([[v] for _, v in vals], dtype=float)
        Evaluator().eval(StaticProblem(problem, F=F, G=G), pop)
        algorithm.tell(infills=pop)
    srv.close()
    return srv.order, time.perf_counter() - t0


def best_feasible(recs: Sequence[Record]) -> float:
    vals = [r.score for r in recs if r.feasible]
    return max(vals) if vals else float("nan")


def hypervolume(recs: Sequence[Record], ref: Tuple[float, float, float, float]) -> float:
    """2-D hypervolume of (max score, min latency), both scaled to [0, 1] by
    ref = (score_lo, score_hi, lat_lo, lat_hi); reference point (0, 1)."""
    s_lo, s_hi, l_lo, l_hi = ref
    pts = sorted(((min(1.0, max(0.0, (r.score - s_lo) / (s_hi - s_lo))),
                   min(1.0, max(0.0, (r.lat[0] - l_lo) / (l_hi - l_lo)))) for r in recs),
                 key=lambda p: (p[1], -p[0]))
    hv, best = 0.0, 0.0
    for i, (s, lat) in enumerate(pts):  # by latency ascending: area of score improvements
        if s > best:
            hv += (s - best) * (1.0 - lat)
            best = s
    return hv


def run_method(name: str, method: str, seed: int, evals: int) -> Tuple[List[Record], float]:
    lib, _, algo = method.partition("-")
    if lib == "lutnas":
        return run_lutnas(name, algo, seed, evals)
    if lib == "optuna":
        return run_optuna(name, algo, seed, evals)
    return run_pymoo(name, algo, seed, evals)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", default="all")
    ap.add_argument("--methods", default=",".join(LUTNAS + PEERS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--evals", type=int, default=500, help="distinct evaluations, cheap objectives")
    ap.add_argument("--proxy-evals", type=int, default=150, help="distinct evaluations, Zen/NASWOT")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    if not BIN.exists():
        print(f"{BIN} missing: build it (cmake --build {BIN.parent.parent}) or set LUTNAS_BUILD_DIR",
              file=sys.stderr)
        return 2
    names = list(PROBLEMS) if a.problems == "all" else a.problems.split(",")
    methods = a.methods.split(",")
    results: Dict[str, Any] = {}
    for name in names:
        space, objective, quantiles, two_obj = PROBLEMS[name]
        evals = a.proxy_evals if objective in ("zen", "naswot") else a.evals
        ref: Tuple[float, float, float, float] = (0, 1, 0, 1)
        if two_obj:  # normalisation from 200 random networks (lutnas random, seed 999)
            rnd, _ = run_lutnas(name, "random", 999, 200)
            sc, la = [r.score for r in rnd], [r.lat[0] for r in rnd]
            ref = (min(sc), max(sc), min(la), max(la))
        print(f"\n{name}: space {space}, objective {objective}, budget quantiles {quantiles}, "
              f"{evals} distinct evaluations, {a.seeds} seeds" + (", hypervolume" if two_obj else ""))
        print(f"  {'method':<18} {'median':>10} {'mean':>10} {'min':>10} {'max':>10} {'wall s':>8}")
        results[name] = {}
        for method in methods:
            if two_obj and method in ("lutnas-evolution", "lutnas-random", "pymoo-ga"):
                continue  # scalar methods: no front
            scores, walls = [], []
            for seed in range(1, a.seeds + 1):
                recs, wall = run_method(name, method, seed, evals)
                if len(recs) < evals:
                    print(f"  note: {method} seed {seed} stopped at {len(recs)} distinct evaluations")
                scores.append(hypervolume(recs, ref) if two_obj else best_feasible(recs))
                walls.append(wall)
            fin = [s for s in scores if s == s]
            med = statistics.median(fin) if fin else float("nan")
            mean = statistics.fmean(fin) if fin else float("nan")
            scale = 1 if two_obj or objective in ("zen", "naswot") else 1e-6
            print(f"  {method:<18} {med * scale:>10.4g} {mean * scale:>10.4g} {min(fin) * scale:>10.4g} "
                  f"{max(fin) * scale:>10.4g} {statistics.median(walls):>8.2f}", flush=True)
            results[name][method] = {"scores": scores, "walls": walls, "evals": evals,
                                     "feasible_seeds": len(fin)}
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
