#!/usr/bin/python3
"""What the heaviest prediction requests cost lutnasd, and that they are bounded.

  LUTNAS_BUILD_DIR=build bench/bench_predict_bounds.py [--archs 1000] [--blocks 512] [--streams 8] [--repeats 3]

1. PredictBatch of --archs networks of --blocks blocks on 16 hardware without tables (every
   key estimated from the spec: the largest estimate report): response bytes, seconds, the
   daemon's RSS before and after (medians and ranges of --repeats runs). A request whose
   answer would pass --max_response_mb is refused naming how many networks fit; the bench
   then sends that many.
2. PredictEncoded: one maximal message (1,048,576 rows, 16 hardware, costs) is refused before
   any work; then --streams concurrent streams each send the largest message that fits: the
   daemon's peak RSS over its RSS at rest.
"""
import argparse
import pathlib
import re
import statistics
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
import lutnas  # noqa: E402
from lutnas.daemon import Daemon  # noqa: E402

HW16 = ["rk3588-cpu", "rk3588-npu", "mali-g610", "atlas-200i-a2", "nvidia-t4", "jetson-orin-nx",
        "jetson-xavier-nx", "hi3519-nnie", "horizon-x3", "raspberry-pi-4"]


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def deep_arch(blocks, i):
    """A 64-px network of `blocks` blocks cycling through a few kinds and widths."""
    kinds = []
    for b in range(blocks - 1):  # with the stem: `blocks` in all (the daemon's limit is 512)
        w = (16, 24, 32, 48)[(b + i) % 4]
        if b % 2:
            kinds.append({"conv": {"out_channels": w, "kernel": 3, "stride": 1}})
        else:
            kinds.append({"mbconv": {"out_channels": w, "expansion": 3, "kernel": 3, "stride": 1}})
    return {"name": f"deep-{i}", "resolution": 64,
            "stem": [{"conv": {"out_channels": 16, "kernel": 3, "stride": 2}}],
            "stages": [{"blocks": kinds}], "head": {"num_classes": 100}}


def spread(xs, fmt="{:.1f}"):
    return f"{fmt.format(statistics.median(xs))} [{fmt.format(min(xs))} .. {fmt.format(max(xs))}]"


def batch(c, pid, archs, hw, repeats):
    sizes, secs, before, after = [], [], [], []
    n = len(archs)
    # Built beforehand: the time is the call's (daemon work, transfer, parsing the answer).
    req = c.pb.service_pb2.PredictBatchRequest(
        archs=[lutnas.to_message(a, c.pb.arch_pb2.Architecture) for a in archs], hardware=hw)
    for _ in range(repeats):
        before.append(rss_mib(pid))
        t0 = time.perf_counter()
        try:
            resp = c._unary(c._predict.PredictBatch, req, timeout=600)
        except lutnas.ResourceExhausted as e:
            print(f"  {n} networks: RESOURCE_EXHAUSTED in {time.perf_counter() - t0:.1f} s: {e}")
            fit = re.search(r"send at most (\d+) architectures", str(e))
            return int(fit.group(1)) if fit else 0
        secs.append(time.perf_counter() - t0)
        sizes.append(resp.ByteSize() / 2**20)
        after.append(rss_mib(pid))
    print(f"  {n} networks ({req.ByteSize() / 2**20:.1f} MiB request): response {spread(sizes)} MiB, {spread(secs)} s, daemon RSS "
          f"{spread(before, '{:.0f}')} -> {spread(after, '{:.0f}')} MiB")
    return n


def encoded(c, pid, streams):
    """One message per stream, through the raw stub (lutnas.fastpredict splits rows into
    3 MiB answers, which never meet the cap)."""
    from lutnas.fastpredict import EncodedSpace

    sp = EncodedSpace(c, "tiny")
    hw = (HW16 * 2)[:16]
    stub = c.pb.service_pb2_grpc.FastPredictServiceStub(c._channel)
    rows = sp.random(1 << 20, seed=1)

    def send(n):
        req = c.pb.service_pb2.PredictEncodedRequest(space="tiny", hardware=hw, cost=True,
                                                     skip_invalid=True, choices=rows[:n].tobytes())
        return list(stub.PredictEncoded(iter([req]), timeout=600))

    t0 = time.perf_counter()
    try:
        send(1 << 20)
        print("  1,048,576 rows x 16 hardware + costs: answered (no cap?)")
    except Exception as e:  # grpc.RpcError
        print(f"  1,048,576 rows x 16 hardware + costs: {e.code().name} in "
              f"{time.perf_counter() - t0:.2f} s: {e.details()}")
    fit = (32 << 20) // (8 * (16 + 3))
    rest = rss_mib(pid)
    peak = [rest]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak.append(rss_mib(pid))
            time.sleep(0.02)

    errors = []

    def one():
        try:
            send(fit)
        except Exception as e:  # grpc.RpcError
            errors.append(e.code().name)

    s = threading.Thread(target=sample)
    s.start()
    ts = [threading.Thread(target=one) for _ in range(streams)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    stop.set()
    s.join()
    print(f"  {streams} streams x {fit} rows x 16 hardware + costs (32 MiB answers): "
          f"{time.perf_counter() - t0:.1f} s, daemon RSS {rest:.0f} MiB at rest, peak {max(peak):.0f} MiB "
          f"(+{max(peak) - rest:.0f}); refused: {len(errors)} ({', '.join(sorted(set(errors))) or '-'})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", type=int, default=1000)
    ap.add_argument("--blocks", type=int, default=512)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="lutnas-bench-bounds-")
    opts = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    with Daemon(f"{d}/bench.db") as daemon, lutnas.Client(daemon.target, timeout=600, options=opts) as c:
        hw = (HW16 * 2)[:16]
        archs = [deep_arch(a.blocks, i) for i in range(a.archs)]
        print(f"lutnasd {daemon.target}, RSS {rss_mib(daemon.pid):.0f} MiB; PredictBatch, {a.blocks} blocks, "
              f"16 hardware (no tables: every key estimated):")
        fit = batch(c, daemon.pid, archs, hw, a.repeats)
        if fit < a.archs and fit > 0:
            batch(c, daemon.pid, archs[:fit], hw, a.repeats)
        print("PredictEncoded (tiny space):")
        encoded(c, daemon.pid, a.streams)
        print(f"daemon RSS at the end {rss_mib(daemon.pid):.0f} MiB")


if __name__ == "__main__":
    main()
