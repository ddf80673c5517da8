#!/usr/bin/python3
"""Training-free proxies against trained accuracy (issue 17).

  bench/bench_proxy_tau.py [--networks 120] [--steps 100] [--resolution 32] [--seed 7]
                           [--jobs 1] [--json out.json]

Starts a real lutnasd on a scratch database, samples --networks distinct
networks of the tiny space with a RANDOM search per proxy (the same seed
samples the same networks: Zen-score and NASWOT as the daemon computes them
for its objectives, params and MACs from its cost analysis), exports each as
PyTorch code, trains it on digits (lutnas.train.trainer: --steps Adam steps, batch
64, seed 0, one thread) and prints Kendall's tau-b of each proxy against test
accuracy, with a bootstrap 90% interval, and the training-noise ceiling: tau
between two training seeds on a subset.
"""
import argparse
import json
import multiprocessing as mp
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
from lutnas import Client  # noqa: E402
from lutnas.daemon import Daemon  # noqa: E402
from lutnas.train import trainer  # noqa: E402

BIN = ROOT / os.environ.get("LUTNAS_BUILD_DIR", "build") / "bin"


def start_daemon(db):
    """lutnasd on a port of its own, through lutnas.daemon.Daemon (the one
    launcher): (process, target)."""
    d = Daemon(db, log=os.devnull).start()
    return d.proc, d.target


def kendall_tau(x, y):
    """Kendall's tau-b (ties in either ranking count as neither concordant nor discordant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(len(x), 1)
    dx, dy = dx[iu], dy[iu]
    s = float((dx * dy).sum())
    nx, ny = float((dx != 0).sum()), float((dy != 0).sum())
    return s / np.sqrt(nx * ny) if nx and ny else 0.0


def bootstrap(x, y, reps=1000, seed=0):
    rng = np.random.default_rng(seed)
    x, y = np.asarray(x, float), np.asarray(y, float)
    vals = []
    for _ in range(reps):
        i = rng.integers(0, len(x), len(x))
        vals.append(kendall_tau(x[i], y[i]))
    return float(np.percentile(vals, 5)), float(np.percentile(vals, 95))


def sample(c, objective, n, seed):
    # RANDOM samples population * (1 + generations) networks (generations 0 means the
    # default, 20): n + 10% spare for duplicates, in two rounds.
    pop = (n * 11 // 10) // 2 + 1
    job = c.submit({"name": f"tau-{objective}", "space": "tiny", "algorithm": "RANDOM",
                    "objective": objective, "population": pop, "generations": 1, "seed": seed,
                    "max_params": 10**9})
    for _ in c.watch(job.id, timeout=3600):
        pass
    j = c.get_job(job.id)
    if j.state != 3:
        raise SystemExit(f"{objective} job failed: {j.error}")
    return {x.arch_hash: x for x in c.iter_candidates(job_id=job.id)}


def train_one(args):
    code, steps, res, seed = args
    r = trainer.train(code, steps=steps, resolution=res, seed=seed, threads=1)
    return r["accuracy"], r["seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", type=int, default=120)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--noise-subset", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="lutnas-tau-")
    proc, target = start_daemon(f"{d}/tau.db")
    t0 = time.time()
    try:
        with Client(target, timeout=600) as c:
            zen = sample(c, "ZEN", a.networks, a.seed)
            naswot = sample(c, "NASWOT", a.networks, a.seed)
            common = sorted(set(zen) & set(naswot), key=lambda h: zen[h].id)
            if len(common) < a.networks:
                raise SystemExit(f"only {len(common)} distinct networks sampled, wanted {a.networks}")
            hashes = common[:a.networks]
            print(f"{len(hashes)} distinct tiny-space networks (of {len(common)} sampled by both); "
                  f"proxies in {time.time() - t0:.0f} s", flush=True)
            codes = [c.export_candidate(zen[h].id).content for h in hashes]
        jobs = [(code, a.steps, a.resolution, 0) for code in codes]
        t1 = time.time()
        if a.jobs > 1:
            with mp.get_context("spawn").Pool(a.jobs) as pool:
                res = pool.map(train_one, jobs)
        else:
            res = []
            for i, j in enumerate(jobs):
                res.append(train_one(j))
                if (i + 1) % 20 == 0:
                    print(f"  trained {i + 1}/{len(jobs)} ({time.time() - t1:.0f} s)", flush=True)
        acc = [r[0] for r in res]
        secs = [r[1] for r in res]
        k = min(a.noise_subset, len(codes))
        res2 = [train_one((codes[i], a.steps, a.resolution, 1)) for i in range(k)]
        noise = kendall_tau(acc[:k], [r[0] for r in res2])
        proxies = {
            "zen": [zen[h].score for h in hashes],
            "naswot": [naswot[h].score for h in hashes],
            "params": [zen[h].params for h in hashes],
            "macs": [zen[h].macs for h in hashes],
        }
        print(f"trained {len(acc)} networks on digits ({a.steps} steps, batch 64, {a.resolution} px, seed 0): "
              f"accuracy median {statistics.median(acc):.3f} [{min(acc):.3f} .. {max(acc):.3f}], "
              f"{statistics.median(secs):.2f} s per network (median), {time.time() - t1:.0f} s in all")
        print(f"training noise: tau(seed 0, seed 1) over {k} networks = {noise:.3f}")
        print(f"{'proxy':8s} {'tau-b':>7s}  {'90% bootstrap':>16s}")
        table = {}
        for name, vals in proxies.items():
            tau = kendall_tau(vals, acc)
            lo, hi = bootstrap(vals, acc)
            table[name] = {"tau": tau, "lo": lo, "hi": hi}
            print(f"{name:8s} {tau:7.3f}  [{lo:6.3f} .. {hi:6.3f}]")
        best = max(table, key=lambda n: table[n]["tau"])
        print(f"best ranking: {best}; Zen vs params: {table['zen']['tau'] - table['params']['tau']:+.3f}, "
              f"NASWOT vs params: {table['naswot']['tau'] - table['params']['tau']:+.3f}")
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"networks": len(acc), "steps": a.steps, "resolution": a.resolution,
                           "accuracy": acc, "proxies": proxies, "tau": table, "noise_tau": noise,
                           "noise_subset": k}, f, indent=1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
