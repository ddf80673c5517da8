#!/usr/bin/env python3
"""lutnas's Zen-score and NASWOT against real training: Kendall tau against the
CIFAR-10 validation accuracy of the 725 NAS-Bench-201 networks of
data/benchmarks/nb201_accuracy_cifar10.csv, beside NASLib's proxies in the
same file. Proxies as lutnas defines them (lutnas.benchdata.proxies, after
latency_models/proxies.cc): Gaussian init, random N(0,1) input 32x32, seed 0,
one torch thread; on the network as a runtime runs it (dead edges dropped,
--unpruned: NAS-Bench-201's model with every op).

  /usr/bin/python3 bench/proxy_tau_public.py --batch 8 --out /tmp/proxies.csv
  /usr/bin/python3 bench/proxy_tau_public.py --limit 200    # a random 200 (seed 0)
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))

from lutnas.benchdata import data, fit, nb201, proxies  # noqa: E402

NASLIB = ("nwot", "synflow", "params", "flops", "jacov", "snip", "grad_norm", "fisher", "grasp",
          "epe_nas", "l2_norm", "plain")


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=8, help="proxy batch (lutnas's default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="a random subset of this many (0: all)")
    ap.add_argument("--unpruned", action="store_true", help="keep dead edges (NAS-Bench-201's model)")
    ap.add_argument("--out", metavar="CSV", help="write per-network scores")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    ds = data.load("nb201_accuracy")
    idx = list(range(len(ds.archs)))
    if a.limit:
        idx = sorted(np.random.default_rng(0).permutation(len(idx))[:a.limit].tolist())
    zen: List[float] = []
    nwot: List[float] = []
    times: Dict[str, List[float]] = {"zen": [], "naswot": []}
    for n, i in enumerate(idx):
        cell = nb201.parse(ds.archs[i])
        t0 = time.perf_counter()
        zen.append(proxies.zen_score(nb201.build(cell, pruned=not a.unpruned), batch=a.batch, seed=a.seed))
        t1 = time.perf_counter()
        nwot.append(proxies.naswot_score(nb201.build(cell, pruned=not a.unpruned), batch=a.batch, seed=a.seed))
        t2 = time.perf_counter()
        times["zen"].append(t1 - t0)
        times["naswot"].append(t2 - t1)
        if n % 100 == 99:
            print(f"{n + 1}/{len(idx)}", file=sys.stderr, flush=True)
    acc = [ds.columns["val_accuracy"][i] for i in idx]
    print(f"networks {len(idx)}, batch {a.batch}, seed {a.seed}, "
          f"{'unpruned' if a.unpruned else 'pruned (dead edges dropped)'}")
    print(f"{'proxy':22s} tau_vs_val_accuracy")
    print(f"{'lutnas zen':22s} {fit.kendall_tau(zen, acc):.3f}")
    print(f"{'lutnas naswot':22s} {fit.kendall_tau(nwot, acc):.3f}")
    live = [nb201.cost(nb201.parse(ds.archs[i]), pruned=True) for i in idx]
    print(f"{'lutnas params (live)':22s} {fit.kendall_tau([c.params for c in live], acc):.3f}")
    print(f"{'lutnas macs (live)':22s} {fit.kendall_tau([c.macs for c in live], acc):.3f}")
    for c in NASLIB:
        print(f"{'naslib ' + c:22s} {fit.kendall_tau([ds.columns[c][i] for i in idx], acc):.3f}")
    print(f"tau(lutnas naswot, naslib nwot) = {fit.kendall_tau(nwot, [ds.columns['nwot'][i] for i in idx]):.3f}")
    for k, v in times.items():
        q = statistics.quantiles(v, n=10)
        print(f"time per network {k}: median {1000 * statistics.median(v):.1f} ms "
              f"(p10 {1000 * q[0]:.1f}, p90 {1000 * q[-1]:.1f}; build + score, 1 thread)")
    if a.out:
        with open(a.out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["arch", "val_accuracy", "zen", "naswot"])
            for i, z, nw in zip(idx, zen, nwot):
                w.writerow([ds.archs[i], ds.columns["val_accuracy"][i], z, nw])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
