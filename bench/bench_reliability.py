#!/usr/bin/python3
"""Reliability benchmarks (issue 14) against a real lutnasd on loopback.

  bench/bench_reliability.py cancel [--repeats 5] [--populations 32,3000]
      Cancel latency (Cancel call -> answer JOB_CANCELLED, the worker stopped)
      and SIGTERM-to-exit, each measured inside generation 0 (after its first
      progress event) of an edge-space Zen search at 128 px. Median, min, max.
  bench/bench_reliability.py load [--seconds 30]
      64 concurrent Watch streams + 24 predicting client processes + 4
      concurrent uploads (20k entries each, repeated); samples the daemon's
      thread count and RSS every 0.2 s; counts errors.
  bench/bench_reliability.py soak [--minutes 10]
      Predicting clients, searches, cancels and uploads for --minutes, with a
      kill -9 and restart every 2 minutes (--kill-every SECONDS, 0 for none). Reports the RSS slope (MiB/min over
      the run, per daemon life), threads, errors outside the kill windows, and
      whether every search's final result equals an uninterrupted run of the
      same spec on a fresh database.

Add --json for one JSON object on stdout. Every mode starts its own daemons on
temporary databases and stops them. Client processes share the machine's
cores with the daemon; figures are noisy on a shared host (medians reported).
"""
import argparse
import json
import multiprocessing as mp
import os
import pathlib
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
import grpc  # noqa: E402

import lutnas  # noqa: E402
import lutnas.daemon  # noqa: E402

BIN = ROOT / os.environ.get("LUTNAS_BUILD_DIR", "build") / "bin"
PB = lutnas.proto()
S = PB.service_pb2
TERMINAL = (S.JOB_SUCCEEDED, S.JOB_FAILED, S.JOB_CANCELLED)
HW = "rel-hw"
ARCH = {"name": "rel", "resolution": 96,
        "stem": [{"conv": {"out_channels": 16, "kernel": 3, "stride": 2, "act": "RELU"}}],
        "stages": [{"blocks": [{"mbconv": {"out_channels": 24, "expansion": 3, "kernel": 3, "stride": 2}},
                               {"conv": {"out_channels": 24, "kernel": 3, "stride": 1}}]}],
        "head": {"num_classes": 100}}


def zen_spec(population):
    return {"name": f"zen128-p{population}", "space": "edge", "objective": "ZEN",
            "proxy_resolution": 128, "population": population, "generations": 2, "seed": 7,
            "max_macs": 2_000_000_000}


class Daemon(lutnas.daemon.Daemon):
    """lutnas.daemon.Daemon (the one launcher) in a work directory of its own,
    with the timed SIGTERM and the /proc status this benchmark reads."""

    def __init__(self, workdir, args=()):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.workdir / "lutnas.db", args, log=self.workdir / "lutnasd.log",
                         start_timeout=60)

    def sigterm(self):
        t0 = time.monotonic()
        rc = self.stop(timeout=120)
        return time.monotonic() - t0, rc

    def status(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0


def summary(xs):
    xs = sorted(xs)
    return {"n": len(xs), "median": round(statistics.median(xs), 4), "min": round(xs[0], 4),
            "max": round(xs[-1], 4)} if xs else {"n": 0}


def first_progress(c, job_id, timeout=600):
    for job in c.watch(job_id, timeout=timeout):
        if job.state in TERMINAL:
            raise SystemExit(f"job {job_id} ended first: {job.error}")
        if job.progress.generation_evaluated > 0:
            return job
    raise SystemExit("watch ended without a progress event")


def keys(space):
    return subprocess.run([str(BIN / "lutnas-inspect"), "--space", str(ROOT / "search/spaces" / f"{space}.json"),
                           "--keys"], capture_output=True, text=True, check=True).stdout.split()


def entries(ks, seed):
    return [{"key": k, "median_ms": seed + (i + 1) / 1024, "iqr_ms": 1 / 64,
             "p10_ms": (seed + (i + 1) / 1024) * 0.75, "p90_ms": (seed + (i + 1) / 1024) * 1.25,
             "samples": 7, "status": "ENTRY_MEASURED"} for i, k in enumerate(ks)]


def many_keys(n):
    base = list(dict.fromkeys(keys("tiny") + keys("edge")))
    out, seen, size = list(base), set(base), 4
    while len(out) < n:
        for k in base:
            op, shape = k.split("@")
            v = f"{op}@{shape.split('x')[0]}x{size}x{size}"
            if v not in seen:
                seen.add(v)
                out.append(v)
        size += 1
    return out[:n]


# ------------------------------------------------------------------ cancel
def bench_cancel(args):
    res = {}
    with tempfile.TemporaryDirectory(prefix="lutnas-bench-rel-") as tmp:
        for pop in args.populations:
            cancel_s, term_s, first_s = [], [], []
            for r in range(args.repeats):
                d = Daemon(pathlib.Path(tmp) / f"p{pop}-{r}").start()
                try:
                    with lutnas.Client(d.target, timeout=120) as c:
                        job = c.submit(zen_spec(pop))
                        t0 = time.monotonic()
                        first_progress(c, job.id)
                        first_s.append(time.monotonic() - t0)
                        t0 = time.monotonic()
                        ans = c.cancel(job.id)
                        cancel_s.append(time.monotonic() - t0)
                        assert ans.state == S.JOB_CANCELLED, S.JobState.Name(ans.state)
                        job = c.submit(dict(zen_spec(pop), seed=8))
                        first_progress(c, job.id)
                    took, rc = d.sigterm()
                    assert rc == 0, rc
                    term_s.append(took)
                finally:
                    d.kill()
            res[f"population_{pop}"] = {"cancel_s": summary(cancel_s), "sigterm_to_exit_s": summary(term_s),
                                        "first_progress_event_s": summary(first_s)}
            if not args.json:
                print(f"population {pop}: cancel {summary(cancel_s)}  sigterm->exit {summary(term_s)}  "
                      f"first progress event {summary(first_s)}", flush=True)
    return res


# ------------------------------------------------------------------ load
def predict_proc(target, seconds, out):
    calls = fails = 0
    err = []
    with lutnas.Client(target, timeout=20) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            calls += 1
            try:
                c.predict(ARCH, [HW])
            except Exception as e:  # noqa: BLE001 - every failure counts
                fails += 1
                if len(err) < 3:
                    err.append(repr(e)[:200])
    out.put((calls, fails, err))


def bench_load(args):
    with tempfile.TemporaryDirectory(prefix="lutnas-bench-rel-") as tmp:
        d = Daemon(pathlib.Path(tmp) / "d", ["--workers", "2"]).start()
        c = lutnas.Client(d.target, timeout=60)
        c.register_hardware({"name": HW, "backend": "rknn", "peak_gops": 6000, "bandwidth_gbs": 20})
        ks = many_keys(20000)
        c.upload_table({"hardware": HW}, entries(ks[:2000], 0))
        idle = {"threads": d.status("Threads"), "rss_mib": d.status("VmRSS") / 1024}
        jobs = [c.submit({"name": f"load-{i}", "space": "edge", "objective": "PARAMS", "population": 100,
                          "generations": 5000, "seed": i, "budgets": [{"hardware": HW, "max_ms": 40}]})
                for i in range(2)]
        stop = threading.Event()
        errors = {"watch": 0, "upload": 0}
        lock = threading.Lock()
        uploads_done = [0]

        def watcher(i):
            try:
                for _ in c.watch(jobs[i % 2].id, timeout=args.seconds + 30):
                    if stop.is_set():
                        return
            except Exception:  # noqa: BLE001
                if not stop.is_set():
                    with lock:
                        errors["watch"] += 1

        def uploader(i):
            n = 0
            while not stop.is_set():
                try:
                    c.upload_table({"hardware": HW}, entries(ks, 10 * i + n), timeout=120)
                    with lock:
                        uploads_done[0] += 1
                except Exception:  # noqa: BLE001
                    with lock:
                        errors["upload"] += 1
                n += 1

        threads = [threading.Thread(target=watcher, args=(i,), daemon=True) for i in range(64)]
        threads += [threading.Thread(target=uploader, args=(i,), daemon=True) for i in range(4)]
        # spawn, not fork: a forked child inherits this process's gRPC channel
        # fds ("Socket operation on non-socket" errors in the child).
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        procs = [ctx.Process(target=predict_proc, args=(d.target, args.seconds, out)) for _ in range(24)]
        for t in threads:
            t.start()
        for p in procs:
            p.start()
        samples = []
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            samples.append((d.status("Threads"), d.status("VmRSS") / 1024))
            time.sleep(0.2)
        stop.set()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join()
        for j in jobs:
            c.cancel(j.id)
        for t in threads:
            t.join(timeout=30)
        c.close()
        took, rc = d.sigterm()
        th = [s[0] for s in samples]
        rss = [s[1] for s in samples]
        return {"seconds": args.seconds, "idle": idle,
                "threads": {"median": statistics.median(th), "max": max(th)},
                "rss_mib": {"median": round(statistics.median(rss), 1), "max": round(max(rss), 1)},
                "predict_calls": sum(r[0] for r in results), "predict_errors": sum(r[1] for r in results),
                "predict_error_samples": [e for r in results for e in r[2]][:3],
                "watch_errors": errors["watch"], "upload_errors": errors["upload"],
                "uploads_done": uploads_done[0], "sigterm_to_exit_s": round(took, 3), "exit_code": rc}


# ------------------------------------------------------------------ soak
SOAK_SPECS = [{"name": f"soak-{i}", "space": "tiny", "objective": "ZEN", "proxy_resolution": 32,
               "proxy_batch": 4, "population": 16, "sample_size": 4, "generations": 8 + i, "seed": 60 + i,
               "max_macs": 500_000_000} for i in range(6)]


def result_of(c, job_id):
    cands = list(c.iter_candidates(job_id=job_id, page_size=1000))
    return (sorted((x.arch_hash, x.score, x.feasible) for x in cands),
            sorted(x.arch_hash for x in cands if x.pareto))


def bench_soak(args):
    rng = random.Random(1234)
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="lutnas-bench-soak-") as tmp:
        d = Daemon(pathlib.Path(tmp) / "soak", ["--workers", "2"]).start()
        lives = [[]]  # (t, rss MiB, threads) per daemon life
        errors = {"outside_kill_windows": 0, "samples": []}
        kills = 0
        lock = threading.Lock()
        in_window = threading.Event()  # set from a kill until the restart is serving
        stop = threading.Event()
        target = [d.target]
        with lutnas.Client(d.target, timeout=60) as c:
            c.register_hardware({"name": HW, "backend": "rknn", "peak_gops": 6000, "bandwidth_gbs": 20})
            ks = many_keys(5000)
            c.upload_table({"hardware": HW}, entries(ks[:2000], 0))
        kept = {}     # job id -> spec index: searches that must end SUCCEEDED and match the reference
        cancelled = []

        def count_error(e):
            with lock:
                if not in_window.is_set():
                    errors["outside_kill_windows"] += 1
                    if len(errors["samples"]) < 5:
                        errors["samples"].append(repr(e)[:200])

        def predictor():
            while not stop.is_set():
                try:
                    with lutnas.Client(target[0], timeout=10) as c:
                        for _ in range(200):
                            if stop.is_set():
                                return
                            c.predict(ARCH, [HW])
                except Exception as e:  # noqa: BLE001
                    count_error(e)
                    time.sleep(0.2)

        def churn():
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    with lutnas.Client(target[0], timeout=30) as c:
                        if n % 5 == 0:
                            c.upload_table({"hardware": HW}, entries(ks, n))
                        j = c.submit({"name": f"churn-{n}", "space": "tiny", "objective": "ZEN",
                                      "proxy_resolution": 32, "population": 16, "generations": 200,
                                      "seed": n, "max_macs": 500_000_000})
                        time.sleep(rng.uniform(0.05, 1.0))
                        try:
                            a = c.cancel(j.id)
                            with lock:
                                cancelled.append((j.id, a.state))
                        except lutnas.errors.LutnasError as e:
                            if e.code != grpc.StatusCode.FAILED_PRECONDITION:  # it had ended: fine
                                raise
                except Exception as e:  # noqa: BLE001
                    count_error(e)
                    time.sleep(0.5)
                stop.wait(1.0)

        t_start = time.monotonic()
        with lutnas.Client(d.target, timeout=60) as c:
            for i, spec in enumerate(SOAK_SPECS):
                kept[c.submit(spec).id] = i
        workers = [threading.Thread(target=predictor, daemon=True) for _ in range(4)]
        workers.append(threading.Thread(target=churn, daemon=True))
        for w in workers:
            w.start()
        next_kill = t_start + (args.kill_every if args.kill_every > 0 else float("inf"))
        while time.monotonic() - t_start < seconds:
            now = time.monotonic()
            lives[-1].append((now - t_start, d.status("VmRSS") / 1024, d.status("Threads")))
            if now >= next_kill:
                in_window.set()
                d.kill()
                kills += 1
                d.start()
                target[0] = d.target
                time.sleep(1.0)
                in_window.clear()
                lives.append([])
                next_kill += args.kill_every
            time.sleep(1.0)
        stop.set()
        for w in workers:
            w.join(timeout=60)
        # Let the kept searches finish, then compare with uninterrupted runs.
        finals = {}
        with lutnas.Client(d.target, timeout=60) as c:
            for jid in kept:
                for job in c.watch(jid, timeout=1800):
                    pass
                finals[jid] = c.get_job(jid)
            got = {jid: result_of(c, jid) for jid in kept}
            lies = [(jid, S.JobState.Name(c.get_job(jid).state)) for jid, said in cancelled
                    if said == S.JOB_CANCELLED and c.get_job(jid).state != S.JOB_CANCELLED]
        d.sigterm()
        ref = Daemon(pathlib.Path(tmp) / "ref").start()
        with lutnas.Client(ref.target, timeout=60) as c:
            c.register_hardware({"name": HW, "backend": "rknn", "peak_gops": 6000, "bandwidth_gbs": 20})
            refs = {}
            for i, spec in enumerate(SOAK_SPECS):
                j = c.submit(spec)
                for _ in c.watch(j.id, timeout=1800):
                    pass
                refs[i] = result_of(c, j.id)
        ref.sigterm()

        def slope(points):
            if len(points) < 10:
                return None
            xs = [p[0] / 60 for p in points]
            ys = [p[1] for p in points]
            mx, my = statistics.mean(xs), statistics.mean(ys)
            den = sum((x - mx) ** 2 for x in xs)
            return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den, 3) if den else None

        all_points = [p for life in lives for p in life]
        return {"minutes": args.minutes, "kills": kills,
                "rss_mib": {"start": round(all_points[0][1], 1), "end": round(all_points[-1][1], 1),
                            "max": round(max(p[1] for p in all_points), 1)},
                "rss_slope_mib_per_min_per_life": [slope(life) for life in lives],
                "threads": {"median": statistics.median(p[2] for p in all_points),
                            "max": max(p[2] for p in all_points)},
                "errors_outside_kill_windows": errors["outside_kill_windows"],
                "error_samples": errors["samples"],
                "cancels": len(cancelled), "cancel_answered_cancelled_but_ran": lies,
                "searches": len(kept),
                "searches_succeeded": sum(1 for j in finals.values() if j.state == S.JOB_SUCCEEDED),
                "results_equal_uninterrupted": all(got[jid] == refs[i] for jid, i in kept.items()),
                "mismatched": [SOAK_SPECS[i]["name"] for jid, i in kept.items() if got[jid] != refs[i]]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["cancel", "load", "soak"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--populations", default="32,3000")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--kill-every", type=float, default=120, help="soak: seconds between kill -9s (0: none)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.populations = [int(x) for x in args.populations.split(",")]
    res = {"cancel": bench_cancel, "load": bench_load, "soak": bench_soak}[args.mode](args)
    print(json.dumps(res, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
