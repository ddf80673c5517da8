#!/usr/bin/env python3
"""What the feasibility check costs at Submit: wall time of a refused submit
(an impossible budget: the daemon samples up to 20 x population networks,
at most 20000) and of an accepted one (it stops at the first feasible
sample), per space and population, median and p10-p90 of --repeats calls
through the Python client against a real lutnasd on a throwaway database.

    /usr/bin/python3 bench/bench_submit.py [--repeats 7]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))

import lutnas  # noqa: E402
from lutnas.daemon import Daemon  # noqa: E402

HW = "bench-submit"


def quantiles(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=10, method="inclusive") if len(xs) > 1 else [xs[0]] * 9
    return statistics.median(xs), q[0], q[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Daemon(Path(tmp) / "b.db") as d, \
            lutnas.Client(d.target, timeout=120) as c:
        c.register_hardware({"name": HW, "backend": "bench", "peak_gops": 500.0,
                             "bandwidth_gbs": 10.0, "channel_alignment": 8})
        # One measured key: every other key is estimated, which is what a
        # budget on a partly measured device costs.
        key = c.predict({"resolution": 64, "stem": [{"conv": {"out_channels": 16}}],
                         "head": {"num_classes": 10}}, [HW], breakdown=True).predictions[0]
        c.upload_table({"hardware": HW}, [{"key": key.blocks[0].key, "median_ms": 0.1,
                                          "samples": 9, "status": "ENTRY_MEASURED"}])
        print(f"{'space':8} {'population':>10} {'case':9} {'median ms':>10} {'p10-p90 ms':>16}")
        for space in ("tiny", "edge", "mobile"):
            for pop in (100, 1000):
                for case, budget in (("refused", 1e-9), ("accepted", 1e9)):
                    times = []
                    for i in range(args.repeats):
                        spec = {"space": space, "objective": "params", "population": pop,
                                "generations": 1, "seed": i,
                                "budgets": [{"hardware": HW, "max_ms": budget}]}
                        t0 = time.perf_counter()
                        job = None
                        try:
                            job = c.submit(spec)
                        except lutnas.FailedPrecondition:
                            pass
                        times.append((time.perf_counter() - t0) * 1e3)
                        if job is not None:
                            try:
                                c.cancel(job.id)
                            except lutnas.FailedPrecondition:
                                pass  # already ended
                    med, p10, p90 = quantiles(times)
                    print(f"{space:8} {pop:>10} {case:9} {med:10.1f} {p10:8.1f}-{p90:<8.1f}",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
