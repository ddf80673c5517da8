"""Client.predict_batch of users' own architecture dicts, end to end from Python.

    LUTNAS_BUILD_DIR=build /usr/bin/python3 bench/predict_batch_dicts.py [--n 1000] [--runs 5]
        [--hardware rk3588-npu] [--model models/mobilenet_v2.json]

A user with their own search loop passes architecture dicts, not encoded rows. This times
--n copies of a MobileNetV2-sized network (names differ, so nothing is cached by the
client), through a fresh lutnasd on a temporary SQLite file, and splits each run into the
dict -> protobuf conversion (the client's, through json_format today) and the RPC with its
answer. Prints the median and range over --runs of architectures per second. The default
hardware has no table, so the daemon estimates from its published spec (every key goes
through the estimator: the slow side of prediction).
"""

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))

import lutnas  # noqa: E402
from lutnas.daemon import Daemon  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hardware", default="rk3588-npu")
    ap.add_argument("--model", default=str(ROOT / "models" / "mobilenet_v2.json"))
    a = ap.parse_args()
    arch = json.loads(Path(a.model).read_text())
    archs = []
    for i in range(a.n):
        x = copy.deepcopy(arch)
        x["name"] = f"net{i}"
        archs.append(x)
    with tempfile.TemporaryDirectory() as tmp, Daemon(Path(tmp) / "bench.db") as d, \
            lutnas.Client(d.target, timeout=600) as c:
        total, convert = [], []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            for i, x in enumerate(archs):
                c._msg(x, "Architecture", "arch_pb2", f"archs[{i}]")
            t1 = time.perf_counter()
            out = c.predict_batch(archs, hardware=[a.hardware])
            t2 = time.perf_counter()
            assert len(out) == a.n
            convert.append(t1 - t0)
            total.append(t2 - t1)
    rate = [a.n / t for t in total]
    print(f"predict_batch of {a.n} x {Path(a.model).stem} on {a.hardware}, {a.runs} runs:")
    print(f"  end to end: median {statistics.median(rate):.0f} architectures/s "
          f"[{min(rate):.0f} .. {max(rate):.0f}]")
    print(f"  of which dict -> protobuf: median {1e6 * statistics.median(convert) / a.n:.0f} us "
          f"per architecture ({100 * statistics.median(convert) / statistics.median(total):.0f}% "
          "of the call)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
