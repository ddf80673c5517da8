#!/usr/bin/python3
"""Out-of-table estimates against measurement (issue 10, item 3).

Predicts every network in models/ on host-cpu from an edge-space table alone
(no key of any zoo network in it: they are stripped if present, so every
zoo key is estimated), through a real lutnasd, then measures each network
end to end with `lutnas-profile measure --table` (same time units as the
table) and prints predicted, measured (median, spread = (p90-p10)/median),
ratio and measured_fraction. Exit 1 when a ratio is outside [1/F, F]
(F = --factor, 1.5). A noisy run (median spread of the zoo measurements
above --noisy-spread, 50%: the machine is busy, and large tensors then slow
down far more than the table's small keys and the reference workload show)
is reported as such and checked against --noisy-factor (5) instead; so is
each network whose own measurement spread more than --noisy-spread (marked
"(noisy)" in its row).

    bench/estimate_zoo.py                       # measures the edge table first (long)
    bench/estimate_zoo.py --table var/edge.csv  # an edge table measured before
    bench/estimate_zoo.py --short               # scripts/test: a sampled subset of the
                                                # edge keys, fewer rounds (< 2 min)

--clock thread-cpu (the default) times with the measuring thread's CPU time
(LUTNAS_CLOCK=thread-cpu, 1 thread): on an oversubscribed host, wall-clock
medians of ops longer than a scheduler slice include time spent preempted
(seen: max-pool 14 ms wall vs 4.6 ms CPU, a 0.3 ms conv unaffected), which
no table of short keys can predict. --clock wall for wall-clock time.

--short measures a seeded fifth (at least 6) of the edge keys of every block
type plus every head, with 3 rounds, and the zoo with 3 rounds; from a fifth
of the table it checks a factor of 2 (about 60 s; scripts/test runs it).

ratio = predicted latency_ms (the table's correction applied, if it has one:
--validate) / measured median; sum/meas = the plain block sum / measured,
the estimator's own accuracy.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))

import lutnas  # noqa: E402


def build_dir():
    b = Path(os.environ.get("LUTNAS_BUILD_DIR", "build"))
    return b if b.is_absolute() else ROOT / b


def tool(name):
    return str(build_dir() / "bin" / name)


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"error: {' '.join(argv[:3])}...: exit {r.returncode}\n{r.stderr[-2000:]}")
    return r


def zoo_keys(models):
    """Every key of the zoo networks, from lutnas-inspect --json."""
    keys = set()
    for m in models:
        doc = json.loads(run([tool("lutnas-inspect"), str(m), "--json"]).stdout)
        for b in doc["blocks"]:
            keys.add(b["key"])
    return keys


def short_keys(workdir):
    """A seeded fifth of each block type's edge keys, and every edge head."""
    all_keys = run([tool("lutnas-inspect"), "--space", str(ROOT / "search/spaces/edge.json"),
                    "--keys"]).stdout.split()
    rng = random.Random(1)
    picked = [k for k in all_keys if k.startswith("head:")]
    # One key in five of every block type, so each type keeps members of all sizes.
    by_type = {}
    for k in all_keys:
        by_type.setdefault(k.split(":")[0], []).append(k)
    for t, ks in sorted(by_type.items()):
        if t == "head":
            continue
        n = max(6, len(ks) // 5)
        picked += rng.sample(ks, min(n, len(ks)))
    path = Path(workdir) / "edge-short.keys"
    path.write_text("\n".join(dict.fromkeys(picked)) + "\n")
    return path, len(set(picked)), len(all_keys)


def per_key(args, models, preds, stripped_path, work, rounds):
    """Measures the zoo keys into the edge table's time units; estimated /
    measured per key, grouped by block type."""
    merged = work / "edge-plus-zoo.csv"
    argv = [tool("lutnas-profile"), "table", "--arch", *map(str, models), "--table",
            str(stripped_path), "--out", str(merged), "--accept-noisy"]
    if rounds:
        argv += ["--rounds", str(rounds)]
    print("measuring every zoo key (--per-key) ...", file=sys.stderr)
    run(argv)
    measured = {}
    for ln in merged.read_text().splitlines():
        if ln.startswith(("#", "key,")):
            continue
        at = ln.index("@")
        key_end = ln.index(",", at)
        cols = ln[key_end + 1:].split(",")
        if cols[6 - 1] == "measured" and cols[0]:
            measured[ln[:key_end]] = float(cols[0])
    est, sums = {}, {}
    for name, p in preds.items():
        s = 0.0
        for b in p.blocks:
            s += measured.get(b.key, 0.0)
            if b.key in measured:
                est[b.key] = b.latency_ms
        sums[name] = s
    types = {}
    for k, e in est.items():
        types.setdefault(k.split(":")[0], []).append((e / measured[k], k))
    out = {}
    for t, v in types.items():
        v.sort()
        r = [x for x, _ in v]
        worst = max(v, key=lambda x: abs(__import__("math").log(x[0])))
        out[t] = {"keys": len(v), "median": r[len(r) // 2], "min": r[0], "max": r[-1],
                  "worst": f"{worst[1]} {worst[0]:.2f}"}
    return {"types": out, "sums": sums}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", help="an edge table (CSV) measured on this machine")
    ap.add_argument("--short", action="store_true", help="subset of edge keys, 3 rounds")
    ap.add_argument("--rounds", type=int, default=0, help="rounds for table and zoo")
    ap.add_argument("--factor", type=float, help="default 1.5 (2 with --short)")
    ap.add_argument("--noisy-spread", type=float, default=0.5)
    ap.add_argument("--noisy-factor", type=float, default=5.0)
    ap.add_argument("--keep", help="folder to keep the table and measurements in")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--validate", type=int, default=0, metavar="N",
                    help="first fit the table's sum-to-end-to-end correction on N random edge "
                         "networks (lutnas-profile validate --write-correction)")
    ap.add_argument("--clock", choices=("thread-cpu", "wall"), default="thread-cpu")
    ap.add_argument("--per-key", action="store_true",
                    help="also measure every zoo key (lutnas-profile table --arch, in the edge "
                         "table's time units) and report estimated/measured per block type, and "
                         "per network the measured key sum / end to end (what no per-key "
                         "estimate can fix)")
    ap.add_argument("--models", nargs="+", metavar="NAME",
                    help="only these models/NAME.json (default: every model in models/)")
    args = ap.parse_args()
    models = sorted((ROOT / "models").glob("*.json"))
    if args.models:
        known = {m.stem: m for m in models}
        unknown = [n for n in args.models if n not in known]
        if unknown:
            ap.error(f"--models: no models/{unknown[0]}.json (known: {', '.join(sorted(known))})")
        models = [known[n] for n in args.models]
    if args.clock == "thread-cpu":
        os.environ["LUTNAS_CLOCK"] = "thread-cpu"
    else:
        os.environ.pop("LUTNAS_CLOCK", None)
    work = Path(args.keep or tempfile.mkdtemp(prefix="lutnas-estimate-"))
    work.mkdir(parents=True, exist_ok=True)
    rounds = args.rounds or (3 if args.short else 0)
    if args.factor is None:  # a fifth of the table, 3 rounds: a looser check
        args.factor = 2.0 if args.short else 1.5
    t0 = time.monotonic()

    table = Path(args.table) if args.table else work / "edge.csv"
    if not args.table:
        # --accept-noisy: this script reports the noise itself (the zoo's spread, below).
        argv = [tool("lutnas-profile"), "table", "--hardware", "host-cpu", "--out", str(table),
                "--accept-noisy"]
        if args.short:
            keys, n, total = short_keys(work)
            argv += ["--keys", str(keys)]
            print(f"measuring {n} of the edge space's {total} keys (--short) ...", file=sys.stderr)
        else:
            argv += ["--space", str(ROOT / "search/spaces/edge.json")]
            print("measuring the edge table ...", file=sys.stderr)
        if rounds:
            argv += ["--rounds", str(rounds)]
        run(argv)
    if args.validate:
        fitted = work / "edge-corrected.csv"
        fitted.write_text(table.read_text())
        argv = [tool("lutnas-profile"), "validate", "--space", str(ROOT / "search/spaces/edge.json"),
                "--table", str(fitted), "--samples", str(args.validate), "--json",
                "--write-correction"]
        if rounds:
            argv += ["--rounds", str(rounds)]
        print(f"fitting the correction on {args.validate} edge networks ...", file=sys.stderr)
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode not in (0, 3):
            sys.exit(f"error: lutnas-profile validate: exit {r.returncode}\n{r.stderr[-2000:]}")
        if "# correction:" not in fitted.read_text():
            print("validate stored no correction (refused): predictions are raw sums",
                  file=sys.stderr)
        table = fitted
    # No zoo key may be in the table: every zoo key must be estimated.
    text = table.read_text()
    zk = zoo_keys(models)
    lines = text.splitlines(keepends=True)
    kept = [ln for ln in lines if ln.startswith("#") or ln.startswith("key,")
            or ln.split("@")[0] + "@" + ln.split("@")[1].split(",")[0] not in zk]
    stripped = len(lines) - len(kept)
    entries = sum(1 for ln in kept if not ln.startswith(("#", "key,")))
    table_text = "".join(kept)
    stripped_path = work / "edge-stripped.csv"
    stripped_path.write_text(table_text)
    t_table = time.monotonic() - t0

    # Predictions through a real daemon.
    dd = work / "daemon"
    dd.mkdir(exist_ok=True)
    port_file = dd / "port"
    if port_file.exists():
        port_file.unlink()
    log = open(dd / "lutnasd.log", "ab")
    proc = subprocess.Popen([tool("lutnasd"), "--listen", "127.0.0.1:0", "--port_file",
                             str(port_file), "--db", str(dd / "lutnas.db")],
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        for _ in range(600):
            if port_file.exists() and port_file.read_text().strip():
                break
            if proc.poll() is not None:
                sys.exit("error: lutnasd exited; see " + str(dd / "lutnasd.log"))
            time.sleep(0.05)
        client = lutnas.Client(f"127.0.0.1:{port_file.read_text().strip()}")
        info = client.import_table("host-cpu", content=table_text).info
        preds = {}
        for m in models:
            resp = client.predict(json.loads(m.read_text()), hardware=["host-cpu"],
                                  breakdown=args.per_key)
            preds[m.stem] = resp.predictions[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()

    # End-to-end measurement in the table's time units.
    # --accept-noisy: this script judges the spread itself (--noisy-spread) and reports it.
    argv = [tool("lutnas-profile"), "measure", *map(str, models), "--table", str(table), "--json",
            "--accept-noisy"]
    if rounds:
        argv += ["--rounds", str(rounds)]
    meas = {Path(r["name"]).stem if "/" in r["name"] else r["name"]: r
            for r in json.loads(run(argv).stdout)}
    rows, bad = [], []
    for m in models:
        p, r = preds[m.stem], meas.get(m.stem) or meas.get(str(m))
        if r is None or r["failed"]:
            bad.append(f"{m.stem}: measurement failed")
            continue
        ratio = p.latency_ms / r["median_ms"]
        spread = (r["p90_ms"] - r["p10_ms"]) / r["median_ms"]
        rows.append({"network": m.stem, "predicted_ms": p.latency_ms, "sum_ms": p.sum_ms,
                     "measured_ms": r["median_ms"],
                     "spread": spread, "ratio": ratio, "measured_fraction": p.measured_fraction,
                     "estimated_keys": len(p.missing_keys), "low_confidence": p.low_confidence})
    key_rows = per_key(args, models, preds, stripped_path, work, rounds) if args.per_key else None
    if key_rows:
        for w in rows:
            w["measured_key_sum_ms"] = key_rows["sums"].get(w["network"], 0.0)
    spreads = sorted(w["spread"] for w in rows)
    noisy = bool(spreads) and spreads[len(spreads) // 2] > args.noisy_spread
    factor = args.noisy_factor if noisy else args.factor
    for w in rows:
        # A network whose own repeats spread more than --noisy-spread was measured
        # too noisily to hold it to --factor (seen: mobilenet_v2 at 28.8 ms, 2.5x its
        # usual 11 ms, spread 100%, in a 3-round run): it is checked against
        # --noisy-factor and marked.
        w["noisy"] = noisy or w["spread"] > args.noisy_spread
        f = args.noisy_factor if w["noisy"] else factor
        w["factor_checked"] = f
        if not 1 / f <= w["ratio"] <= f:
            bad.append(f"{w['network']}: ratio {w['ratio']:.2f} outside [{1 / f:.2f}, {f}]"
                       f"{' (noisy measurement)' if w['noisy'] else ''}")
    if noisy:
        print(f"NOISY run: median spread of the zoo measurements "
              f"{spreads[len(spreads) // 2]:.0%} > {args.noisy_spread:.0%}; checked against "
              f"{factor}x instead of {args.factor}x", file=sys.stderr)
    if args.json:
        print(json.dumps({"clock": args.clock, "per_key": key_rows and key_rows["types"], "noisy": noisy, "factor_checked": factor, "table_entries": entries, "stripped_zoo_keys": stripped,
                          "table_version": info.version, "rows": rows, "failures": bad}, indent=1))
    else:
        print(f"edge table: {entries} measured keys ({'--short subset' if args.short else 'full'}"
              f"{', ' + str(stripped) + ' zoo keys stripped' if stripped else ''}), "
              f"rounds {rounds or 'default'}, clock {args.clock}; table {t_table:.0f} s, total "
              f"{time.monotonic() - t0:.0f} s; correction "
              + (f"scale {info.correction.scale:.3f} offset {info.correction.offset_ms:+.3f} ms"
                 if info.correction.scale > 0 else "none (predicted = block sum)"))
        print(f"{'network':<22} {'sum_ms':>8} {'predicted_ms':>12} {'measured_ms':>11} {'spread':>7} "
              f"{'sum/meas':>8} {'ratio':>6} {'measured_fraction':>17} {'est.keys':>8}  checked")
        for w in rows:
            print(f"{w['network']:<22} {w['sum_ms']:>8.2f} {w['predicted_ms']:>12.2f} {w['measured_ms']:>11.2f} "
                  f"{w['spread']:>6.1%} {w['sum_ms'] / w['measured_ms']:>8.2f} {w['ratio']:>6.2f} {w['measured_fraction']:>17.2f} "
                  f"{w['estimated_keys']:>8}  {w['factor_checked']:g}x{' (noisy)' if w['noisy'] else ''}")
        if rows:
            r = sorted(w["ratio"] for w in rows)
            print(f"ratios {r[0]:.2f}-{r[-1]:.2f} (median {r[len(r) // 2]:.2f}; worst factor "
                  f"{max(max(x, 1 / x) for x in r):.2f}); spread of the measurements "
                  f"{spreads[0]:.0%}-{spreads[-1]:.0%} (median {spreads[len(spreads) // 2]:.0%})")
        if key_rows:
            print(f"per block type: estimated / measured key latency (zoo keys measured by "
                  f"lutnas-profile table --arch, in the edge table's time units)")
            print(f"{'type':<14} {'keys':>5} {'median':>7} {'min':>6} {'max':>6}  worst key")
            for t, v in sorted(key_rows["types"].items()):
                print(f"{t:<14} {v['keys']:>5} {v['median']:>7.2f} {v['min']:>6.2f} {v['max']:>6.2f}  "
                      f"{v['worst']}")
            print("per network: measured key sum / measured end to end (the inter-block gap)")
            print("  " + ", ".join(f"{w['network']} {w['measured_key_sum_ms'] / w['measured_ms']:.2f}"
                                   for w in rows))
    for b in bad:
        print("FAIL " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
