"""Page-load time of the dashboard's Pareto view for a job of ~50,000 candidates.

Makes the job the fast way the API allows (no candidate import exists): a
RANDOM search with the PARAMS objective (no proxy to compute) on the edge
space, population 5000 x 10 generations, budgets on two spec-only devices
(roofline predictions, cheap), in a fresh lutnasd (--max_population 10000).
Then, per run, headless chromium opens /jobs/<id> on a freshly started
`lutnas dashboard` (cold: no candidate cached) three ways, each timed from
navigation start to the first draw of the scatter (the Pareto set and a
sample of what was read so far; the page then refines it as the rest comes):
  fresh  - a new browser profile (plotly.min.js downloaded and compiled anew),
  cold   - the dashboard restarted on the same URL, the browser's cache warm
           (how an engineer opens it again),
  warm   - a reload (candidates cached by the dashboard);
and `full`: fresh, until the scatter is drawn from every candidate; and, as a
control, a fresh browser on a job of 200 candidates (what plotly.min.js costs
a new browser profile, whatever the job's size).
Prints medians and min-max over the runs. Runs in .venv/bin/python (Flask,
plotly, Selenium) with Debian's chromium + chromium-driver:

    LUTNAS_BUILD_DIR=build .venv/bin/python bench/dashboard_pareto_load.py --runs 5
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))

import lutnas  # noqa: E402
from lutnas.daemon import Daemon  # noqa: E402

DEVICES = [  # spec-only devices: published-peak (roofline) predictions
    {"name": "bench-npu", "description": "bench device", "backend": "rknn", "precision": "int8",
     "threads": 1, "peak_gops": 6000.0, "bandwidth_gbs": 20.0, "channel_alignment": 16,
     "precisions": ["int8"], "source": "bench"},
    {"name": "bench-gpu", "description": "bench device", "backend": "opencl", "precision": "fp16",
     "threads": 1, "peak_gops": 1000.0, "bandwidth_gbs": 30.0, "channel_alignment": 8,
     "precisions": ["fp16"], "source": "bench"},
]


def make_job(client, population, generations, name=None):
    for hw in DEVICES:
        try:
            client.register_hardware(hw)
        except lutnas.AlreadyExists:
            pass
    spec = {"name": name or f"bench-{population * (generations + 1)}", "space": "edge",
            "algorithm": "RANDOM", "objective": "PARAMS", "population": population,
            "generations": generations, "seed": 1, "allow_spec_budgets": True,
            "budgets": [{"hardware": "bench-npu", "max_ms": 0.35},
                        {"hardware": "bench-gpu", "max_ms": 4.0}]}
    t = time.monotonic()
    job = client.submit(spec)
    final = client.wait(job.id)
    assert final.state.label == "succeeded", final.error
    total = client.list_candidates(job_id=job.id, page_size=1).total
    return job.id, total, time.monotonic() - t


class Dashboard:
    def __init__(self, server, points, port):
        env = dict(os.environ, PYTHONPATH=str(ROOT / "clients" / "python"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lutnas", "--server", server, "dashboard", "--port", str(port),
             "--points", str(points)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if not m:
            self.stop()
            raise SystemExit(f"dashboard printed no URL: {line!r}")
        self.url = m.group(1)
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def open_pareto(driver, url, timeout=300):
    """(first draw ms, complete draw ms, points shown) from navigation start."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(
        "return !!(window.lutnasPareto && window.lutnasPareto.completeMs)"))
    r = driver.execute_script("return window.lutnasPareto")
    return r["firstMs"], r["completeMs"], r["shown"]


def spread(xs):
    return (f"median {statistics.median(xs):7.0f} ms  "
            f"(min {min(xs):.0f}, max {max(xs):.0f}, n={len(xs)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--population", type=int, default=5000)
    ap.add_argument("--generations", type=int, default=9)
    ap.add_argument("--points", type=int, default=3000, help="dashboard --points")
    ap.add_argument("--db", help="reuse this database (made on first use) instead of a temp one")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="lutnas-dash-bench-")
    db = a.db or os.path.join(tmp, "lutnas.db")
    with Daemon(db, args=["--max_population", "10000"]) as d, \
            lutnas.Client(d.target, timeout=600) as c:
        def job(name, population, generations):
            done = [j for j in c.list_jobs() if j.spec.name == name
                    and j.state.label == "succeeded"]
            if done:
                return done[0].id, c.list_candidates(job_id=done[0].id, page_size=1).total, 0.0
            return make_job(c, population, generations, name)

        job_id, total, made_s = job(f"bench-{a.population * (a.generations + 1)}",
                                    a.population, a.generations)
        print(f"job {job_id}: {total} candidates (made in {made_s:.1f} s; 0 = reused)", flush=True)
        # Control: a job of 200 candidates, what a fresh browser costs whatever the job's size.
        small_id, small_total, _ = job("bench-small", 100, 1)
        t = time.monotonic()
        n = sum(1 for _ in c.iter_candidates(job_id=job_id, page_size=1000))
        list_s = time.monotonic() - t
        print(f"listing all {n} through the API: {list_s:.1f} s", flush=True)

        port = free_port()
        fresh, cold, full, warm, small, shown = [], [], [], [], [], 0
        for i in range(a.runs):
            driver = browser()  # a fresh profile: nothing cached, plotly.min.js parsed anew
            try:
                dash = Dashboard(d.target, a.points, port)
                try:
                    f, comp, shown = open_pareto(driver, f"{dash.url}/jobs/{job_id}")
                finally:
                    dash.stop()
                dash = Dashboard(d.target, a.points, port)  # cold dashboard, browser cache warm
                try:
                    cf, _, _ = open_pareto(driver, f"{dash.url}/jobs/{job_id}")
                    w, _, _ = open_pareto(driver, f"{dash.url}/jobs/{job_id}")
                finally:
                    dash.stop()
            finally:
                driver.quit()
            driver = browser()
            try:
                dash = Dashboard(d.target, a.points, port)
                try:
                    sf, _, _ = open_pareto(driver, f"{dash.url}/jobs/{small_id}")
                finally:
                    dash.stop()
            finally:
                driver.quit()
            small.append(sf)
            fresh.append(f)
            full.append(comp)
            cold.append(cf)
            warm.append(w)
            print(f"run {i + 1}: fresh browser {f:.0f} ms (all read {comp:.0f} ms); "
                  f"cold dashboard {cf:.0f} ms; warm {w:.0f} ms ({shown} points drawn); "
                  f"fresh browser, {small_total}-candidate job: {sf:.0f} ms",
                  flush=True)
    print(f"Pareto view of {total} candidates, {shown} points drawn, time to the first draw:")
    print(f"  cold dashboard, browser cache warm   {spread(cold)}")
    print(f"  cold dashboard, fresh browser        {spread(fresh)}")
    print(f"  warm dashboard (reload)              {spread(warm)}")
    print(f"  fresh: until drawn from every read   {spread(full)}")
    print(f"  control: fresh browser, {small_total}-candidate job {spread(small)}")
    if a.json:
        Path(a.json).write_text(json.dumps({
            "candidates": total, "shown": shown, "list_all_s": list_s, "fresh_ms": fresh,
            "cold_ms": cold, "warm_ms": warm, "complete_ms": full,
            "control_candidates": small_total, "control_fresh_ms": small}, indent=1))
    if not a.db:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
