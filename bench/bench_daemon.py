#!/usr/bin/python3
"""Issue 5 benchmarks against a real lutnasd on loopback.

  bench/bench_daemon.py [--seconds 10] [--candidates 100000]
  bench/bench_daemon.py --encoded-only [--rows 1000000]   # issue 17: the encoded fast path alone

Also prints (issue 17) encoded batch prediction (FastPredictService, lutnas.fastpredict)
from one Python client over loopback, beside the in-process figure of the same path
(build/bin/bench_encoded) and PredictBatch's.

Prints: unary Predict p50/p99 and throughput with 1, 4 and 16 concurrent
clients (each client a separate process: the GIL would otherwise measure
Python), PredictBatch architectures per second, and the daemon's RSS with 10
stored table versions and N stored candidates. Client processes share the
2 cores with the daemon, so throughput is a lower bound of the daemon's own.
"""
import argparse
import json
import multiprocessing as mp
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
from lutnas import Client  # noqa: E402
from lutnas.daemon import Daemon  # noqa: E402

BIN = ROOT / os.environ.get("LUTNAS_BUILD_DIR", "build") / "bin"


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def table_entries(space):
    keys = subprocess.run([str(BIN / "lutnas-inspect"), "--space", str(ROOT / f"search/spaces/{space}.json"), "--keys"],
                          capture_output=True, text=True, check=True).stdout.split()
    # A synthetic table the daemon accepts: p10 <= median <= p90 for every key
    # (the median grows with the key's index; the spread is +-10% of it).
    entries = []
    for i, k in enumerate(keys):
        median = 0.05 + 0.001 * i
        entries.append({"key": k, "median_ms": median, "iqr_ms": 0.1 * median, "p10_ms": 0.9 * median,
                        "p90_ms": 1.1 * median, "samples": 45, "status": "ENTRY_MEASURED"})
    return entries


ARCH = {"name": "bench", "resolution": 96,
        "stem": [{"conv": {"out_channels": 16, "kernel": 3, "stride": 2, "act": "RELU"}}],
        "stages": [{"blocks": [{"mbconv": {"out_channels": 24, "expansion": 3, "kernel": 3, "stride": 2}},
                               {"conv": {"out_channels": 24, "kernel": 3, "stride": 1}}]},
                   {"blocks": [{"repvgg": {"out_channels": 48, "stride": 2, "deploy": True}},
                               {"shuffle": {"out_channels": 48, "kernel": 3, "stride": 1}}]},
                   {"blocks": [{"mbconv": {"out_channels": 96, "expansion": 3, "kernel": 5, "stride": 2}},
                               {"repvgg": {"out_channels": 96, "stride": 1, "deploy": True}}]}],
        "head": {"num_classes": 100}}


def client_loop(target, seconds, q):
    lat = []
    with Client(target, timeout=10) as c:
        c.predict(ARCH, ["bench-hw"])  # connect + warm
        end = time.perf_counter() + seconds
        fails = 0
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            try:
                c.predict(ARCH, ["bench-hw"])
            except Exception:
                fails += 1
            lat.append(time.perf_counter() - t0)
    q.put((lat, fails))


def load(target, clients, seconds):
    ctx = mp.get_context("spawn")  # gRPC does not survive fork() of a process that used it
    q = ctx.Queue()
    ps = [ctx.Process(target=client_loop, args=(target, seconds, q)) for _ in range(clients)]
    for p in ps:
        p.start()
    res = [q.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join()
    lat = sorted(x for r in res for x in r[0])
    fails = sum(r[1] for r in res)
    p50 = lat[len(lat) // 2] * 1e3
    p99 = lat[int(len(lat) * 0.99)] * 1e3
    return p50, p99, len(lat) / seconds, fails


def encoded(c, rows_n):
    """Encoded batch prediction from this one Python process: rows generated with numpy
    beforehand, then sent as 65,536-row messages on one stream; the figure includes
    encoding to bytes, gRPC both ways and decoding the answers into numpy arrays."""
    from lutnas.fastpredict import EncodedSpace
    for space in ("tiny", "mobile"):
        sp = EncodedSpace(c, space)
        rows = sp.random(rows_n, seed=1)
        sp.predict(rows[:1000], ["bench-hw"], skip_invalid=True)  # connect, memo warm-up
        for cost in (False, True):
            t = []
            for _ in range(5):
                t0 = time.perf_counter()
                r = sp.predict(rows, ["bench-hw"], cost=cost, skip_invalid=True)
                t.append(time.perf_counter() - t0)
            print(f"  {space:6s} ({sp.width:2d} bytes/row{', + cost' if cost else ''}): "
                  f"{rows_n / statistics.median(t):10.0f} architectures/s "
                  f"(median of 5, [{rows_n / max(t):.0f} .. {rows_n / min(t):.0f}]; "
                  f"{r['invalid']} of {rows_n} random rows invalid)")
        inproc = BIN / "bench_encoded"
        if inproc.exists():
            out = subprocess.run([str(inproc), str(ROOT / f"search/spaces/{space}.json"), str(rows_n)],
                                 capture_output=True, text=True).stdout.splitlines()
            for line in out[1:5]:
                print(f"    in-process, one core: {line.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--candidates", type=int, default=100000)
    ap.add_argument("--rows", type=int, default=1000000, help="rows per encoded run")
    ap.add_argument("--encoded-only", action="store_true")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="lutnas-bench-")
    with Daemon(f"{d}/bench.db") as daemon, Client(daemon.target, timeout=600) as c:
        target = daemon.target
        c.register_hardware({"name": "bench-hw", "backend": "libtorch-cpu", "precision": "fp32"})
        entries = list({e["key"]: e for e in table_entries("tiny") + table_entries("edge")}.values())
        c.upload_table({"hardware": "bench-hw", "space": "tiny+edge"}, entries)
        print(f"lutnasd {target}; table of {len(entries)} keys; RSS at start {rss_kib(daemon.pid) / 1024:.1f} MiB")
        if a.encoded_only:
            print("encoded batch prediction (FastPredictService), one Python client, loopback:")
            encoded(c, a.rows)
            return
        print("unary Predict (20-block-ish tiny-space network, 1 hardware), loopback:")
        for n in (1, 4, 16):
            p50, p99, qps, fails = load(target, n, a.seconds)
            print(f"  {n:2d} clients: p50 {p50:6.3f} ms  p99 {p99:6.3f} ms  {qps:8.0f} calls/s  failed {fails}")
        archs = [ARCH] * 1000
        t = []
        for _ in range(5):
            t0 = time.perf_counter()
            c.predict_batch(archs, ["bench-hw"])
            t.append(time.perf_counter() - t0)
        print(f"PredictBatch of 1000 architectures: {1000 / statistics.median(t):.0f} architectures/s "
              f"(median of 5, [{1000 / max(t):.0f} .. {1000 / min(t):.0f}])")
        print("encoded batch prediction (FastPredictService), one Python client, loopback:")
        encoded(c, a.rows)
        for _ in range(9):  # 10 table versions in all
            c.upload_table({"hardware": "bench-hw", "space": "tiny+edge"}, entries)
        # Stored candidates: random searches on the edge space (PARAMS objective).
        gens = 99
        jobs = max(1, a.candidates // (100 * (gens + 1)))
        t0 = time.perf_counter()
        stored = 0
        for j in range(jobs):
            job = c.submit({"space": "edge", "objective": "PARAMS", "algorithm": "RANDOM", "population": 100,
                            "generations": gens, "seed": j + 1,
                            "budgets": [{"hardware": "bench-hw", "max_ms": 1000}]})
            for ev in c.watch(job.id):
                pass
            stored = c.list_candidates(page_size=1)[2]
        print(f"stored {stored} candidates with {jobs} random-search jobs in {time.perf_counter() - t0:.0f} s "
              f"(each job stores its distinct networks)")
        for n in (1,):
            p50, p99, qps, fails = load(target, 4, a.seconds / 2)
        print(f"daemon RSS with 10 table versions and {stored} candidates: {rss_kib(daemon.pid) / 1024:.1f} MiB "
              f"(after 4-client Predict load: p50 {p50:.3f} ms p99 {p99:.3f} ms)")
        print(f"database file: {os.path.getsize(f'{d}/bench.db') / 1048576:.1f} MiB")


if __name__ == "__main__":
    main()
