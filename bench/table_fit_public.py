#!/usr/bin/env python3
"""How well a latency table fitted from K measured whole networks predicts all
the other networks of a device, on the field's public data (data/benchmarks/).

For every device column (NAS-Bench-201: nb201_devices.csv, nb201_help.csv;
FBNet: fbnet_devices.csv) and K in --ks, over --seeds seeds: K networks are
"measured" (chosen at random, or by lutnas's D-optimal suggestion), a table is
fitted, every other network of the column is predicted. Methods:
- additive: least squares on live op counts (NB201: live edges per op x stage) + constant;
- fit/cost: `lutnas table fit` with the cost model as prior;
- fit/devices: `lutnas table fit` with a prior from the OTHER devices of the
  same space (leave-one-device-out: each other device's table fitted on all its
  networks, normalised by its mean, averaged; the same device under another
  file's name, e.g. rice_pixel3 / pixel3, is left out too);
- fit/devices+active: the same prior, networks chosen by `fit.suggest`.
One method for every column; nothing is tuned per device.
Reports share within +-10%, MAPE, Kendall tau and Spearman (mean over seeds,
and the min..max over seeds of the share).

  /usr/bin/python3 bench/table_fit_public.py                 # everything (~10 min on 1 core)
  /usr/bin/python3 bench/table_fit_public.py --devices true_a76,eagle_jetson --ks 20,100 --seeds 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only contend

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))

from lutnas.benchdata import data, fit  # noqa: E402

COLUMNS: List[Tuple[str, str]] = (
    [("nb201_devices", c) for c in ("true_a76", "true_640", "true_vpu", "rice_raspi4", "rice_pixel3",
                                    "eagle_cpu_855", "eagle_gpu_855", "eagle_jetson")]
    + [("nb201_help", c) for c in ("pixel3", "raspi4", "samsung_a50", "gold_6226", "2080ti_1", "titanx_32")]
    + [("fbnet_devices", c) for c in ("pixel2", "samsung_a50", "gold_6226", "titan_rtx_1")])
SPACE_OF = {"nb201_devices": "nb201", "nb201_help": "nb201", "fbnet_devices": "fbnet"}
# The same physical device under two files' names: never each other's prior.
SAME_DEVICE = {("nb201_devices", "rice_pixel3"): ("nb201_help", "pixel3"),
               ("nb201_devices", "rice_raspi4"): ("nb201_help", "raspi4")}
METHODS = ("additive", "fit/cost", "fit/devices", "fit/mix", "fit/mix+active")


def _same(a: Tuple[str, str], b: Tuple[str, str]) -> bool:
    return a == b or SAME_DEVICE.get(a) == b or SAME_DEVICE.get(b) == a


class Bench:
    def __init__(self) -> None:
        self.sets = {n: data.load(n) for n in SPACE_OF}
        self.spaces = {s: data.space(s) for s in set(SPACE_OF.values())}
        self.x: Dict[str, Tuple[List[str], np.ndarray]] = {
            n: fit.design(self.spaces[SPACE_OF[n]], ds.archs) for n, ds in self.sets.items()}
        self.full: Dict[Tuple[str, str], fit.Table] = {}

    def full_table(self, col: Tuple[str, str]) -> fit.Table:
        """A device's table fitted on all its networks (the other devices' prior)."""
        if col not in self.full:
            ds = self.sets[col[0]]
            y = np.array(ds.columns[col[1]])
            self.full[col] = fit.fit_table(self.spaces[SPACE_OF[col[0]]], ds.archs, y, device=col[1])
        return self.full[col]

    def other_tables(self, col: Tuple[str, str]) -> List[fit.Table]:
        space = SPACE_OF[col[0]]
        others = [c for c in COLUMNS if SPACE_OF[c[0]] == space and not _same(c, col)]
        return [self.full_table(c) for c in others]

    def device_prior(self, col: Tuple[str, str]) -> fit.Table:
        return fit.mean_normalised(self.other_tables(col), self.spaces[SPACE_OF[col[0]]],
                                   self.sets[col[0]].archs[:2000])

    def run(self, col: Tuple[str, str], ks: Sequence[int], seeds: int) -> Dict[str, Dict[int, List[Dict[str, float]]]]:
        ds = self.sets[col[0]]
        sp = self.spaces[SPACE_OF[col[0]]]
        names, x = self.x[col[0]]
        y = np.array(ds.columns[col[1]])
        prior = self.device_prior(col)
        # active: suggest() over a seeded pool of 3000 of the column's networks, up to K = 100
        pool = np.random.default_rng(7).permutation(len(y))[:3000]
        k_act = max([k for k in ks if k <= 100] or [0])
        active_order = ([int(pool[i]) for i in fit.suggest(sp, [ds.archs[i] for i in pool], k_act, prior=prior)]
                        if k_act else [])
        out: Dict[str, Dict[int, List[Dict[str, float]]]] = {m: {k: [] for k in ks} for m in METHODS}
        for k in ks:
            for seed in range(seeds):
                rng = np.random.default_rng(1000 + seed)
                picks = {"random": rng.permutation(len(y))[:k],
                         # active: the first network of the order comes from the seed, the rest greedy
                         "active": np.array(active_order[:k])}
                for m in METHODS:
                    idx = picks["active" if m.endswith("active") else "random"]
                    if m.endswith("active") and (seed > 0 or k > k_act):
                        continue  # deterministic: one run
                    mask = np.ones(len(y), bool)
                    mask[idx] = False
                    tr = [ds.archs[i] for i in idx]
                    if m == "additive":
                        bn, coef = fit.additive_fit(sp, tr, y[idx])
                        pred = fit.additive_predict(sp, bn, coef, [ds.archs[i] for i in np.flatnonzero(mask)])
                    else:
                        pr = None if m == "fit/cost" else prior
                        if m.startswith("fit/mix"):
                            pr = fit.mixture_prior(sp, self.other_tables(col), tr, y[idx], ds.archs[:500])
                        tb = fit.fit_table(sp, tr, y[idx], device=col[1], prior=pr)
                        pred = x[mask] @ tb.vector(names)
                    out[m][k].append(fit.accuracy(pred, y[mask]))
        return out


def summarise(runs: List[Dict[str, float]]) -> Dict[str, float]:
    keys = runs[0].keys()
    s = {k: float(np.mean([r[k] for r in runs])) for k in keys}
    s["within10_min"] = float(min(r["within10"] for r in runs))
    s["within10_max"] = float(max(r["within10"] for r in runs))
    return s


def twin_ceiling(bench: Bench) -> Dict[str, Dict[str, float]]:
    """Repeatability of the data itself: NB201 networks whose cells differ only
    in dead edges are the same network for a runtime that drops dead edges
    ("twins"). Per column: the median spread (sd of log latency) within twin
    groups and the share of twins within +-10% of the median of their other
    twins: a ceiling for any per-network predictor on such runtimes (runtimes
    that run dead ops, PyTorch eager, legitimately differ)."""
    from lutnas.benchdata import nb201
    out: Dict[str, Dict[str, float]] = {}
    for name in ("nb201_devices", "nb201_help"):
        ds = bench.sets[name]
        groups: Dict[Tuple[str, ...], List[int]] = {}
        for i, a in enumerate(ds.archs):
            c = nb201.parse(a)
            live = nb201.live_edges(c)
            if any(live):
                groups.setdefault(tuple(o if l else "-" for o, l in zip(c.ops, live)), []).append(i)
        twins = [g for g in groups.values() if len(g) > 1]
        for col, vals in ds.columns.items():
            y = np.array(vals)
            within = [abs(y[j] / np.median([y[i] for i in g if i != j]) - 1) <= 0.1 for g in twins for j in g]
            out[f"{name}:{col}"] = {"twin_groups": len(twins), "twins": int(sum(map(len, twins))),
                                    "median_sd_log": float(np.median([np.std(np.log(y[g]), ddof=1) for g in twins])),
                                    "twins_within10": float(np.mean(within))}
    return out


def rounding_error(bench: Bench) -> Dict[str, Dict[str, float]]:
    """FBNet phones report whole ms: the error a perfect predictor would still
    show against rounded truth (uniform +-0.5 ms), per phone column."""
    out: Dict[str, Dict[str, float]] = {}
    ds = bench.sets["fbnet_devices"]
    rng = np.random.default_rng(0)
    for c in ("pixel2", "samsung_a50"):
        y = np.array(ds.columns[c])
        true = y + rng.uniform(-0.5, 0.5, len(y))  # what the unrounded time could be
        rel = np.abs(y / true - 1)
        out[c] = {"median_ms": float(np.median(y)), "within10_ceiling": float(np.mean(rel <= 0.1)),
                  "mape_floor": float(100 * np.mean(rel)),
                  "tau_ceiling": fit.kendall_tau(y, true)}
    return out


def markdown(doc: Dict[str, object]) -> str:
    """The benchmark's tables in Markdown, from its --json output: per device
    column and K, `additive / fit/cost / fit/mix` (random networks, mean over
    seeds), and the fit/mix+active run."""
    res = doc["results"]  # type: ignore[index]
    ks = [str(k) for k in doc["ks"]]  # type: ignore[index]
    lines: List[str] = []

    def get(name: str, m: str, k: str, key: str) -> str:
        r = res[name].get(m, {}).get(k)  # type: ignore[index]
        if not r:
            return "-"
        return f"{r[key]:.2f}" if key == "mape" else f"{r[key]:.3f}"

    for title, key in (("share within +-10%", "within10"), ("Spearman", "spearman"),
                       ("Kendall tau", "kendall_tau"), ("MAPE %", "mape")):
        lines += [f"#### {title}: additive / fit (cost prior) / fit (device-mixture prior); "
                  "last column: fit (device-mixture prior) on suggest()'s networks, K = 10 / 20 / 100", "",
                  "| device column | " + " | ".join(f"K={k}" for k in ks) + " | suggested |",
                  "|---|" + "---|" * (len(ks) + 1)]
        for name in res:  # type: ignore[union-attr]
            row = [" / ".join(get(name, m, k, key) for m in ("additive", "fit/cost", "fit/mix")) for k in ks]
            act = " / ".join(get(name, "fit/mix+active", k, key) for k in ("10", "20", "100"))
            lines.append(f"| {name} | " + " | ".join(row) + f" | {act} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", help="comma-separated column names (default: all)")
    ap.add_argument("--ks", default="10,20,50,100,500")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    ap.add_argument("--markdown", metavar="JSON", help="only print the Markdown tables of a --json file")
    a = ap.parse_args(list(argv) or None)
    if a.markdown:
        with open(a.markdown) as f:
            print(markdown(json.load(f)))
        return 0
    ks = [int(k) for k in a.ks.split(",")]
    want = set(a.devices.split(",")) if a.devices else None
    bench = Bench()
    results: Dict[str, Dict[str, Dict[int, Dict[str, float]]]] = {}
    t0 = time.time()
    for col in COLUMNS:
        if want and col[1] not in want and f"{col[0]}:{col[1]}" not in want:
            continue
        r = bench.run(col, ks, a.seeds)
        name = f"{col[0]}:{col[1]}"
        results[name] = {m: {k: summarise(v) for k, v in per.items() if v} for m, per in r.items()}
        for k in ks:
            cells = "  ".join(f"{m} {results[name][m][k]['within10']:.3f}/{results[name][m][k]['spearman']:.3f}"
                              for m in METHODS if k in results[name][m])
            print(f"{name:28s} K={k:<4d} {cells}", flush=True)
    print(f"# {time.time() - t0:.0f} s; figures: within10/spearman, mean over {a.seeds} seeds")
    extra = {"fbnet_rounding": rounding_error(bench), "twins": twin_ceiling(bench)}
    print("# FBNet whole-ms rounding:", json.dumps(extra["fbnet_rounding"]))
    for k, v in extra["twins"].items():
        print(f"# twins {k:28s} spread {v['median_sd_log']:.3f}, within +-10% of their twins {v['twins_within10']:.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": results, **extra, "ks": ks, "seeds": a.seeds}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
