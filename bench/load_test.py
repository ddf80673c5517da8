#!/usr/bin/python3
"""Load test of one lutnasd on loopback: many Predict clients, two searches
and a table upload at once, for a fixed time.

  bench/load_test.py [--seconds 60] [--clients 32]
  bench/load_test.py --quick            # --seconds 10 --clients 8
  bench/load_test.py --quick --json     # one JSON object on stdout

Starts its own lutnasd (port 0, a temporary database, --workers 2), registers
a hardware with a synthetic latency table (the tiny and edge spaces' keys, from
`lutnas-inspect --keys`), then for --seconds runs at the same time:
  - N client processes (multiprocessing, one lutnas.Client each) calling
    Predict in a loop;
  - 2 searches (edge space, PARAMS objective, population 100, generations
    enough to outlast the run; one ending early is replaced);
  - one upload of a 20,000-entry table version half-way through.
Prints total and failed calls (every call the harness makes counts; failed must
be 0), Predict p50/p99 latency and throughput, and the daemon's RSS (VmRSS of
/proc/PID/status) at start, end and peak, with the drift (end - start, and the
slope from one second after the upload to the end). Stops everything itself: clients end
at the deadline, searches are cancelled, lutnasd gets SIGTERM and must exit 0.
Bounded: at most --seconds of load, a per-client call cap, loopback only.
Client processes share the machine's cores with the daemon, so the numbers are
a lower bound of the daemon's own capacity.
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
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
import lutnas  # noqa: E402
from lutnas.daemon import Daemon  # noqa: E402

BIN = ROOT / os.environ.get("LUTNAS_BUILD_DIR", "build") / "bin"
HW = "load-hw"
UPLOAD_ENTRIES = 20000
MAX_CALLS_PER_CLIENT = 1_000_000
SEARCHES = 2
SEARCH_SPEC = {"space": "edge", "objective": "PARAMS", "population": 100, "sample_size": 25,
               # population * (generations + 1) stays under the daemon's 10^6 cap
               "generations": 9000, "budgets": [{"hardware": HW, "max_ms": 40.0}]}
ARCH = {"name": "load", "resolution": 96,
        "stem": [{"conv": {"out_channels": 16, "kernel": 3, "stride": 2, "act": "RELU"}}],
        "stages": [{"blocks": [{"mbconv": {"out_channels": 24, "expansion": 3, "kernel": 3,
                                           "stride": 2}},
                               {"conv": {"out_channels": 24, "kernel": 3, "stride": 1}}]},
                   {"blocks": [{"repvgg": {"out_channels": 48, "stride": 2, "deploy": True}},
                               {"shuffle": {"out_channels": 48, "kernel": 3, "stride": 1}}]}],
        "head": {"num_classes": 100}}


# ------------------------------------------------------------------ helpers
def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def space_keys(space):
    return subprocess.run([str(BIN / "lutnas-inspect"), "--space",
                           str(ROOT / "search" / "spaces" / f"{space}.json"), "--keys"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.split()


def keys_for(n, spaces):
    """n distinct keys: the spaces' keys, then the same blocks at other input sizes."""
    base = list(dict.fromkeys(k for s in spaces for k in space_keys(s)))
    keys, seen, size = list(base), set(base), 4
    while len(keys) < n and size <= 1024:
        for k in base:
            op, shape = k.split("@")
            v = f"{op}@{shape.split('x')[0]}x{size}x{size}"
            if v not in seen:
                seen.add(v)
                keys.append(v)
        size += 1
    return keys[:n]


def entries(keys, seed):
    return [{"key": k, "median_ms": seed + (i + 1) / 1024, "iqr_ms": 1 / 64,
             "p10_ms": (seed + (i + 1) / 1024) * 0.75, "p90_ms": (seed + (i + 1) / 1024) * 1.25,
             "samples": 7, "status": "ENTRY_MEASURED"} for i, k in enumerate(keys)]


def start_daemon(workdir):
    """lutnasd with SEARCHES workers, through lutnas.daemon.Daemon (the one
    launcher): (process, target)."""
    d = Daemon(workdir / "lutnas.db", ["--workers", str(SEARCHES)],
               log=workdir / "lutnasd.log").start()
    return d.proc, d.target


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


# ------------------------------------------------------------------ clients
def predict_client(target, seconds, ready, go, out):
    """One process: Predict in a loop for `seconds` after `go`."""
    lat, fails, errors = [], 0, []
    try:
        with lutnas.Client(target, timeout=10) as c:
            c.predict(ARCH, [HW])  # connect and warm up (not counted)
            ready.release()
            go.wait()
            end = time.monotonic() + seconds
            while time.monotonic() < end and len(lat) < MAX_CALLS_PER_CLIENT:
                t0 = time.perf_counter()
                try:
                    r = c.predict(ARCH, [HW])
                    if not r.predictions or not r.predictions[0].latency_ms > 0:
                        raise ValueError(f"bad answer {r}")
                except Exception as e:  # noqa: BLE001 - every failure counts
                    fails += 1
                    if len(errors) < 3:
                        errors.append(repr(e)[:300])
                lat.append(time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - a client that could not start at all
        fails += 1
        errors.append("setup: " + repr(e)[:300])
        ready.release()
    out.put((lat, fails, errors))


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = self.fails = 0
        self.errors = []

    def call(self, f, *a, **kw):
        with self.lock:
            self.calls += 1
        try:
            return f(*a, **kw)
        except Exception as e:
            with self.lock:
                self.fails += 1
                if len(self.errors) < 5:
                    self.errors.append(repr(e)[:300])
            return None


def searches(c, counter, stop, report):
    """Keeps SEARCHES searches running until `stop`; then cancels them."""
    terminal = {"JOB_SUCCEEDED", "JOB_FAILED", "JOB_CANCELLED"}
    S = c.pb.service_pb2
    running, seed = [], 1
    ended_early = 0
    while True:
        while len(running) < SEARCHES and not stop.is_set():
            job = counter.call(c.submit, dict(SEARCH_SPEC, seed=seed, name=f"load-{seed}"))
            seed += 1
            if job is None:
                break
            running.append(job.id)
            report["submitted"] += 1
        if stop.wait(0.5):
            break
        for jid in list(running):
            job = counter.call(c.get_job, jid)
            if job is not None and S.JobState.Name(job.state) in terminal:
                running.remove(jid)
                ended_early += 1
                if job.state == S.JOB_FAILED:
                    report["failed_jobs"].append(job.error)
    for jid in running:
        job = counter.call(c.cancel, jid)
        if job is not None:
            report["generations"] += job.progress.generation
            report["evaluated"] += job.progress.evaluated
    report["ended_early"] = ended_early


def sample_rss(pid, stop, samples, t0):
    while not stop.wait(0.2):
        try:
            samples.append((time.monotonic() - t0, rss_kib(pid)))
        except (OSError, RuntimeError):
            return


def slope_mib_per_min(samples, since):
    """Least-squares slope of RSS from `since` (s into the run) to the end, MiB/min."""
    part = [s for s in samples if s[0] >= since]
    if len(part) < 2:
        return float("nan")
    xs, ys = [t for t, _ in part], [r / 1024 for _, r in part]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


# ------------------------------------------------------------------ main
def run(seconds, clients):
    ctx = mp.get_context("spawn")  # no grpc state crosses a fork
    res = {"seconds": seconds, "clients": clients}
    with tempfile.TemporaryDirectory(prefix="lutnas-load-") as tmp:
        workdir = pathlib.Path(tmp)
        proc, target = start_daemon(workdir)
        try:
            counter = Counter()
            with lutnas.Client(target, timeout=60) as c:
                hw = {"name": HW, "description": "bench/load_test.py", "backend": "rknn",
                      "precision": "int8", "threads": 1, "peak_gops": 6000.0,
                      "bandwidth_gbs": 20.0, "channel_alignment": 8}
                counter.call(c.register_hardware, hw)
                small = list(dict.fromkeys(space_keys("tiny") + space_keys("edge")))
                counter.call(c.upload_table, {"hardware": HW, "space": "edge", "tool": "load"},
                             entries(small, 0))
                big = entries(keys_for(UPLOAD_ENTRIES, ("tiny", "edge")), 1)

                # Clients connect and warm up before the clock starts.
                ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
                procs = [ctx.Process(target=predict_client, args=(target, seconds, ready, go, out),
                                     daemon=True) for _ in range(clients)]
                for p in procs:
                    p.start()
                for _ in procs:
                    if not ready.acquire(timeout=120):
                        raise SystemExit("a client process did not start in 120 s")

                res["rss_start_kib"] = rss_kib(proc.pid)
                stop = threading.Event()
                samples = []
                t0 = time.monotonic()
                report = {"submitted": 0, "generations": 0, "evaluated": 0, "failed_jobs": []}
                threads = [threading.Thread(target=sample_rss, args=(proc.pid, stop, samples, t0)),
                           threading.Thread(target=searches, args=(c, counter, stop, report))]
                for t in threads:
                    t.start()
                go.set()

                time.sleep(seconds / 2)
                u0 = time.monotonic()
                info = counter.call(c.upload_table, {"hardware": HW, "space": "edge",
                                                     "tool": "load upload"}, iter(big))
                res["upload_s"] = round(time.monotonic() - u0, 3)
                res["upload_end_at_s"] = round(time.monotonic() - t0, 3)
                res["upload_entries"] = info.entries if info is not None else 0

                lat, fails, errors = [], 0, []
                for _ in procs:
                    l, f, e = out.get(timeout=seconds + 120)
                    lat += l
                    fails += f
                    errors += e
                for p in procs:
                    p.join(30)
                elapsed = time.monotonic() - t0
                stop.set()
                for t in threads:
                    t.join(60)
                res["rss_end_kib"] = rss_kib(proc.pid)
                res["rss_hwm_kib"] = rss_kib(proc.pid, "VmHWM")
                candidates = counter.call(c.list_candidates, page_size=1)
                res["candidates_stored"] = candidates[2] if candidates else 0
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = "killed after 30 s"
            else:
                rc = proc.returncode
            res["daemon_exit"] = rc

    lat.sort()
    peak = max([r for _, r in samples] + [res["rss_start_kib"], res["rss_end_kib"]])
    res.update({
        "predict_calls": len(lat),
        "predict_failed": fails,
        "other_calls": counter.calls,
        "other_failed": counter.fails,
        "total_calls": len(lat) + counter.calls,
        "failed_calls": fails + counter.fails,
        "errors": (errors + counter.errors + report["failed_jobs"])[:8],
        "calls_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(percentile(lat, 0.50) * 1e3, 3),
        "p99_ms": round(percentile(lat, 0.99) * 1e3, 3),
        "max_ms": round(lat[-1] * 1e3, 3) if lat else float("nan"),
        "rss_peak_kib": peak,
        "rss_drift_kib": res["rss_end_kib"] - res["rss_start_kib"],
        # After the upload (whose table the daemon then holds) has settled.
        "rss_slope_mib_per_min": round(slope_mib_per_min(samples, res["upload_end_at_s"] + 1), 2),
        "searches_submitted": report["submitted"],
        "searches_ended_early": report.get("ended_early", 0),
        "search_generations_at_cancel": report["generations"],
        "search_evaluated_at_cancel": report["evaluated"],
        "elapsed_s": round(elapsed, 2),
    })
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--quick", action="store_true", help="--seconds 10 --clients 8")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.clients = 10, 8
    if not (1 <= a.seconds <= 3600) or not (1 <= a.clients <= 256):
        ap.error("--seconds must be in 1..3600 and --clients in 1..256")
    if not (BIN / "lutnasd").exists():
        raise SystemExit(f"{BIN / 'lutnasd'} is not built")
    r = run(a.seconds, a.clients)
    if a.json:
        print(json.dumps(r))
    else:
        mib = lambda k: f"{r[k] / 1024:.1f} MiB"  # noqa: E731
        print(f"load: {r['clients']} Predict clients + {SEARCHES} searches + one "
              f"{UPLOAD_ENTRIES}-entry upload for {r['elapsed_s']} s")
        print(f"calls: {r['total_calls']} total ({r['predict_calls']} Predict, "
              f"{r['other_calls']} others), failed: {r['failed_calls']}")
        print(f"Predict: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms, "
              f"{r['calls_per_s']} calls/s")
        print(f"upload: {r['upload_entries']} entries in {r.get('upload_s')} s; searches: "
              f"{r['searches_submitted']} submitted, {r['searches_ended_early']} ended early, "
              f"{r['candidates_stored']} candidates stored")
        print(f"daemon RSS: start {mib('rss_start_kib')}, end {mib('rss_end_kib')}, peak "
              f"{mib('rss_peak_kib')} (VmHWM {mib('rss_hwm_kib')}), drift "
              f"{r['rss_drift_kib'] / 1024:+.1f} MiB, slope after the upload "
              f"{r['rss_slope_mib_per_min']:+.2f} MiB/min")
        print(f"lutnasd exit on SIGTERM: {r['daemon_exit']}")
        for e in r["errors"]:
            print("error:", e)
    ok = r["failed_calls"] == 0 and r["daemon_exit"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
