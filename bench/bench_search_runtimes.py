#!/usr/bin/env python3
"""Searches on real runtimes, their picks measured end to end (issue 11 item 6).

both: one search with latency budgets on host-ort and host-openvino at once,
    through a real lutnasd (its own SQLite file under --workdir): the two
    tables uploaded, the job submitted with both budgets (objective Zen), its
    top 10 feasible candidates by score exported and measured end to end by
    both runtimes (bench-onnx, --repeat times, in the tables' reference
    units); prints how many meet both budgets, measured.

    .venv/bin/python bench/bench_search_runtimes.py both \\
        --ort-table docs/insights-data/edge-host-ort.csv \\
        --ov-table docs/insights-data/edge-host-openvino.csv --workdir var/search-both

thesis: `bench_search thesis` on one runtime's table (--runtime host-ort: the
    host-ort table, each pick measured by ONNX Runtime through bench-onnx;
    host-openvino: by bench-onnx --runtime openvino; host-cpu: by lutnas-profile
    measure):
    latency-constrained vs FLOPs(MACs)-constrained vs random search at equal
    evaluation budgets, and the top 10 of each measured end to end.

    .venv/bin/python bench/bench_search_runtimes.py thesis --runtime host-ort \\
        --table docs/insights-data/edge-host-ort.csv --budget 2.0 --workdir var/thesis-ort

Budgets default to the median table prediction of 200 random networks of
the space (so about half the space is feasible). Every measured latency is
the runner's median over interleaved rounds; the spread (p90-p10)/median is
printed beside it.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))

import lutnas  # noqa: E402
from lutnas.measure import external, validate_external  # noqa: E402
from lutnas.insights import compare as insights_compare  # noqa: E402
from lutnas import tools  # noqa: E402
from lutnas.daemon import Daemon  # noqa: E402

# The commands whole networks are validated with (docs/notes/runtimes.md, bench/external_accuracy.sh):
# both runtimes through lutnas' runner (interleaved rounds, thread clock, reference workload, so
# a measurement is in the table's time units); LUTNAS_OV_BENCHMARK_APP=1 measures OpenVINO with
# its own benchmark_app instead (wall clock, one model per process: what rounds 2-4 used).
RUNTIMES = {
    "host-ort": ("scripts/lutnas bench-onnx --quiet --clock thread --flush-kib 16384 --hot-input "
                 "--min-ms 20 --rounds 45 {models}", r"median_ms=([0-9.e+-]+)", None),
    "host-openvino": ("scripts/lutnas bench-onnx --runtime openvino --quiet --clock thread "
                      "--flush-kib 2048 --min-ms 20 --rounds 45 {models}",
                      r"median_ms=([0-9.e+-]+)", None),
}
BENCHMARK_APP = (".venv/bin/benchmark_app -m {model} -d CPU -load_config "
                 "scripts/openvino-cpu-1thread.json -api sync -t 1",
                 r"Median: +([0-9.]+) (?P<unit>ms|us)", r"Build \.+ (\S+)")


def measure_libtorch(nets, table=None):
    """host-cpu: lutnas-profile measure (LibTorch, 1 thread, thread clock; with
    --table, scaled to the table's reference workload, as validate does)."""
    with tempfile.TemporaryDirectory(prefix="lutnas-thesis-") as wd:
        paths = []
        for name, arch in nets:
            path = os.path.join(wd, f"{name}.json")
            with open(path, "w") as f:
                json.dump(dict(arch, name=name), f)
            paths.append(path)
        r = subprocess.run([tools.find_tool("lutnas-profile"), "measure", *paths, "--threads", "1",
                            "--json"] + (["--table", table] if table else []),
                           capture_output=True, text=True,
                           env=dict(os.environ, LUTNAS_CLOCK="thread-cpu"))
    if not r.stdout.strip():
        raise SystemExit(f"lutnas-profile measure failed: {r.stderr.strip()[-400:]}")
    out = {d["name"]: (None if d.get("failed") else d["median_ms"], d.get("spread"))
           for d in json.loads(r.stdout)}
    return out, ("lutnas-profile measure --threads 1 (LUTNAS_CLOCK=thread-cpu)"
                 + (f" --table {table}" if table else ""))


def table_reference_ms(path):
    """The reference_ms a table file was measured at (0 when it has none)."""
    info, _ = insights_compare._read_file(path)
    return float(info.get("reference_ms") or 0)


def measure(hw, nets, table=None):
    """{name: (ms or None, spread or None)} measured end to end on hw; with the
    table's reference_ms, a runner that speaks lutnas' protocol (bench-onnx)
    reports in the table's time units, as validate-external does, so that a
    busier host does not move the picks against their budget."""
    if hw == "host-cpu":
        return measure_libtorch(nets, table)
    command, parse, version = RUNTIMES[hw]
    if hw == "host-openvino" and os.environ.get("LUTNAS_OV_BENCHMARK_APP"):
        command, parse, version = BENCHMARK_APP
    runner = external.Runner(command, parse, "onnx", 600.0, version)
    if table:
        runner.reference_ms = table_reference_ms(table)
    res = validate_external.measure_networks(nets, runner, 20)
    out = {}
    for name, (ms, stats, err) in res.items():
        spread = None
        if ms and stats.get("samples", 1) > 1:
            spread = (stats.get("p90_ms", ms) - stats.get("p10_ms", ms)) / ms
        out[name] = (None if err else ms, spread)
    return out, runner.tool(command)


def table_sums(table_path, space, n=200, seed=11):
    """Block sums of n random networks on a table file (for default budgets)."""
    info, entries = insights_compare._read_file(table_path)
    ents = insights_compare._measured(entries)
    sums = []
    for net in insights_compare.sample_networks(space, n, seed):
        keys = insights_compare.network_blocks(net["arch"])["keys"]
        if all(k in ents for k in keys):
            sums.append(sum(float(ents[k]["median_ms"]) for k in keys))
    return sums


def fmt(x, f=".3g"):
    return "-" if x is None else format(x, f)


def cmd_both(args):
    space = str(ROOT / "search" / "spaces" / f"{args.space}.json")
    budgets = {}
    tables = {"host-ort": args.ort_table, "host-openvino": args.ov_table}
    for hw, path, given in (("host-ort", args.ort_table, args.ort_budget),
                            ("host-openvino", args.ov_table, args.ov_budget)):
        budgets[hw] = given or statistics.median(table_sums(path, space))
    os.makedirs(args.workdir, exist_ok=True)
    db = os.path.join(args.workdir, "lutnas.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    t0 = time.time()
    with Daemon(db) as d, lutnas.Client(d.target) as c:
        for hw, path in (("host-ort", args.ort_table), ("host-openvino", args.ov_table)):
            with open(path) as f:
                r = c.import_table(hw, content=f.read())
            print(f"{hw}: table {path} uploaded as version {r.info.version}", file=sys.stderr)
        spec = {"space": args.space, "objective": "ZEN", "algorithm": "EVOLUTION",
                "population": args.population, "generations": args.generations,
                "sample_size": 10, "seed": args.seed,
                "budgets": [{"hardware": hw, "max_ms": ms} for hw, ms in budgets.items()],
                "name": "both-runtimes"}
        job = c.submit(spec)
        job = c.wait(job.id, timeout=3600)
        print(f"job {job.id}: state {job.state} {job.error}, {time.time() - t0:.0f} s",
              file=sys.stderr)
        if job.error:
            raise SystemExit(f"job {job.id} failed: {job.error}")
        cands = [x for x in c.iter_candidates(job_id=job.id, order_by="score", descending=True)
                 if x.feasible][:10]
        nets = []
        for x in cands:
            arch = json.loads(c.export_candidate(x.id, "json").content)
            nets.append((f"cand{x.id}", arch, x))
    print(f"budgets: host-ort <= {budgets['host-ort']:.3f} ms, host-openvino <= "
          f"{budgets['host-openvino']:.3f} ms (median table prediction of 200 random "
          f"{args.space} networks unless given); job: population {args.population}, "
          f"{args.generations} generations, seed {args.seed}, objective Zen")
    meas, tool = {}, {}
    runs = {hw: [] for hw in budgets}

    def within(m, hw):
        return m[0] is not None and m[0] <= budgets[hw]

    for rep_i in range(args.repeat):
        for hw in budgets:
            m, tool[hw] = measure(hw, [(n, a) for n, a, _ in nets], tables[hw])
            runs[hw].append(m)
        counts = {hw: sum(within(runs[hw][rep_i][n], hw) for n, _, _ in nets) for hw in budgets}
        both = sum(all(within(runs[hw][rep_i][n], hw) for hw in budgets) for n, _, _ in nets)
        print(f"measurement {rep_i + 1}: " + ", ".join(f"{c} within {hw}" for hw, c in
                                                        counts.items()) + f", {both} within both")
    for hw in budgets:  # each candidate's median over the measurements, its spread from the first
        meas[hw] = {}
        for n, _, _ in nets:
            vals = [r[n][0] for r in runs[hw] if r[n][0] is not None]
            meas[hw][n] = (statistics.median(vals) if vals else None, runs[hw][0][n][1])
        print(f"{hw} measured by: {tool[hw]}")
    print(f"{'candidate':>10} {'Zen':>7} {'MMACs':>6} | {'ort pred':>8} {'ort meas':>8} "
          f"{'spread':>6} | {'ov pred':>8} {'ov meas':>8} | both")
    n_both = n_ort = n_ov = 0
    rows = []
    for name, _, x in nets:
        po, pv = x.latency_on("host-ort"), x.latency_on("host-openvino")
        mo, so = meas["host-ort"][name]
        mv, _ = meas["host-openvino"][name]
        ok_o = mo is not None and mo <= budgets["host-ort"]
        ok_v = mv is not None and mv <= budgets["host-openvino"]
        n_ort += ok_o
        n_ov += ok_v
        n_both += ok_o and ok_v
        rows.append({"candidate": x.id, "zen": x.score, "macs": x.macs, "ort_pred": po,
                     "ort_ms": mo, "ort_spread": so, "ov_pred": pv, "ov_ms": mv,
                     "both": ok_o and ok_v})
        print(f"{name:>10} {x.score:7.2f} {x.macs / 1e6:6.0f} | {fmt(po):>8} {fmt(mo):>8} "
              f"{fmt(so, '.2f'):>6} | {fmt(pv):>8} {fmt(mv):>8} | {'yes' if ok_o and ok_v else 'no'}")
    print(f"top {len(nets)}: {n_ort} within the host-ort budget, {n_ov} within the "
          f"host-openvino budget, {n_both} within both (measured end to end"
          + (f", medians of {args.repeat} measurements)" if args.repeat > 1 else ")"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"budgets": budgets, "rows": rows, "tools": tool, "repeat": args.repeat,
                       "runs": {hw: [{n: r[n][0] for n, _, _ in nets} for r in runs[hw]]
                                for hw in runs},
                       "within": {"host-ort": n_ort, "host-openvino": n_ov, "both": n_both}}, f,
                      indent=1)
    return 0


TOP_RE = re.compile(r"^(latency|flops|random)\s+seed 1:.*")


def cmd_thesis(args):
    if args.runtime not in RUNTIMES and args.runtime != "host-cpu":
        raise SystemExit(f"--runtime: one of host-cpu, {', '.join(RUNTIMES)}")
    space = str(ROOT / "search" / "spaces" / f"{args.space}.json")
    budget = args.budget or statistics.median(table_sums(args.table, space))
    os.makedirs(args.workdir, exist_ok=True)
    argv = [tools.find_tool("bench_search"), "thesis", "--table", args.table, "--space", space,
            "--budget", f"{budget:.6g}", "--evals", str(args.evals), "--seeds", str(args.seeds),
            "--out", args.workdir]
    saved = Path(args.workdir) / "bench_search.txt"
    if args.reuse:  # measure the picks of an earlier run again (a second sample of the noise)
        if not saved.is_file():
            raise SystemExit(f"--reuse: no {saved} (run without --reuse first)")
        stdout = saved.read_text()
        budget = float(re.search(r"^latency budget ([0-9.]+) ms", stdout, re.M).group(1))
    else:
        print("$ " + " ".join(argv), file=sys.stderr)
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"bench_search thesis failed: {r.stderr.strip()[-400:]}")
        stdout = r.stdout
        saved.write_text(stdout)
    sys.stdout.write(stdout)
    methods = ("latency", "flops", "random")
    nets = []
    for m in methods:
        for i in range(10):
            p = Path(args.workdir) / f"{m}_top{i}.json"
            if p.is_file():
                nets.append((f"{m}_top{i}", json.loads(p.read_text())))
    zen = {}  # seed 1's top-10 Zen, from bench_search's output
    cur = None
    for line in stdout.splitlines():
        m = re.match(r"^(latency|flops|random)\s+seed (\d+):", line)
        if m:
            cur = m.group(1) if m.group(2) == "1" else None
        elif cur and line.strip().startswith("top-10 Zen:"):
            zen[cur] = [float(v) for v in line.split(":", 1)[1].split()]
    meas, tool = measure(args.runtime, nets, args.table)
    print(f"\ntop 10 of each method (seed 1) measured end to end on {args.runtime} by: {tool}")
    print(f"latency budget {budget:.3f} ms")
    summary = {}
    for m in methods:
        names = [n for n, _ in nets if n.startswith(m + "_")]
        ms = [meas[n][0] for n in names if meas[n][0] is not None]
        sp = [meas[n][1] for n in names if meas[n][1] is not None]
        within = sum(v <= budget for v in ms)
        z = zen.get(m, [])
        summary[m] = {"measured_ms": ms, "within": within, "zen": z}
        print(f"{m:8s}: measured ms " + " ".join(f"{v:.3g}" for v in ms))
        print(f"          median {fmt(statistics.median(ms) if ms else None)} ms "
              f"[{fmt(min(ms) if ms else None)} .. {fmt(max(ms) if ms else None)}], "
              f"{within}/{len(ms)} within the budget, median spread "
              f"{fmt(statistics.median(sp) if sp else None, '.2f')}; Zen median "
              f"{fmt(statistics.median(z) if z else None, '.2f')}; best Zen within budget "
              f"(measured) {fmt(max((zz for zz, v in zip(z, ms) if v <= budget), default=None), '.2f')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"budget": budget, "runtime": args.runtime, "tool": tool,
                       "summary": summary}, f, indent=1)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("both")
    b.add_argument("--ort-table", default="docs/insights-data/edge-host-ort.csv")
    b.add_argument("--ov-table", default="docs/insights-data/edge-host-openvino.csv")
    b.add_argument("--ort-budget", type=float, default=0.0)
    b.add_argument("--ov-budget", type=float, default=0.0)
    b.add_argument("--space", default="edge")
    b.add_argument("--population", type=int, default=50)
    b.add_argument("--generations", type=int, default=30)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--workdir", default="var/search-both")
    b.add_argument("--json", metavar="FILE")
    b.add_argument("--repeat", type=int, default=1,
                   help="measure the top 10 with both tools N times; medians decide")
    t = sub.add_parser("thesis")
    t.add_argument("--runtime", default="host-ort")
    t.add_argument("--table", default="docs/insights-data/edge-host-ort.csv")
    t.add_argument("--space", default="edge")
    t.add_argument("--budget", type=float, default=0.0)
    t.add_argument("--evals", type=int, default=600)
    t.add_argument("--seeds", type=int, default=3)
    t.add_argument("--workdir", default="var/thesis-ort")
    t.add_argument("--json", metavar="FILE")
    t.add_argument("--reuse", action="store_true",
                   help="measure the picks already in --workdir again; no new search")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    return cmd_both(args) if args.cmd == "both" else cmd_thesis(args)


if __name__ == "__main__":
    sys.exit(main())
