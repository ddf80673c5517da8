"""How steady is bench-onnx's reference workload inside one process? The
runner's protocol in miniature: per round, the reference (median of 7 runs of
the 32-channel 3x3 conv at 56x56, hot) and then a model run --per-round times
with --flush-kib written over and its input rewritten before each run, as
host-ort's tables are measured. Prints the rounds' reference distribution and
two drift figures: max/min - 1 (what bench-onnx reports as reference_drift and
fit-correction checks against 10%) and p90/p10 - 1 (robust to single rounds).

    .venv/bin/python bench/reference_stability.py MODEL.onnx [--rounds 45] [--per-round 5]
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
from lutnas.measure import bench_onnx  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--rounds", type=int, default=45)
    ap.add_argument("--per-round", type=int, default=5)
    ap.add_argument("--flush-kib", type=int, default=16384)
    a = ap.parse_args()
    bench_onnx._load("onnxruntime")
    import numpy as np

    ref = bench_onnx.Workload(bench_onnx.reference_model(), 1, name="reference", clock="thread")
    flush = np.zeros(a.flush_kib * 256, dtype=np.float32)
    m = bench_onnx.Workload(a.model, 1, clock="thread", flush=flush, hot_input=True)
    for _ in range(5):
        ref.run()
        m.run()
    refs = []
    for _ in range(a.rounds):
        refs.append(statistics.median([ref.run() for _ in range(7)]))
        for _ in range(a.per_round):
            m.prepare()
            m.run()
    refs.sort()
    n = len(refs)
    p10, p90 = refs[n // 10], refs[(9 * n) // 10]
    print(f"{n} rounds, reference ms: min {refs[0]:.3f} p10 {p10:.3f} median {refs[n // 2]:.3f} "
          f"p90 {p90:.3f} max {refs[-1]:.3f}; max/min - 1 = {refs[-1] / refs[0] - 1:.2f}, "
          f"p90/p10 - 1 = {p90 / p10 - 1:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
