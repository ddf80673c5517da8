"""The analysis of bench/ort_reorders.sh (run it there): from one measurement's
kept bench-onnx outputs, host-ort's table and networks in four variants

  table: boundary reorders excluded (as measured) or included (each sample
         divided back by 1 - boundary_share); normalised per round
         (median_ms) or once per run (run_scaled_ms);
  networks: per round or per run;

each refitted by `lutnas-profile fit-correction` (leave-one-out figures) and,
with that fit stored on the variant's table in a real lutnasd, the zoo at 224
px predicted against its measurement. Also: the excluded share per block type,
the networks' run-to-run Kendall tau (the noise ceiling), and how far one
table run's entries move against another's.

    /usr/bin/python3 bench/ort_reorders_analyse.py OUT_DIR
"""

import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
from lutnas import tablefile  # noqa: E402
from lutnas.client import Client  # noqa: E402
from lutnas.measure.validate_external import load_archs, type_split  # noqa: E402

BIN = ROOT / os.environ.get("LUTNAS_BUILD_DIR", "build") / "bin"
LINE = re.compile(r"median_ms=(\S+) .*?run_scaled_ms=(\S+) (?:boundary_share=(\S+) )?model=(\S+)")
med = statistics.median
# how a table entry is made of one line's (median_ms, run_scaled_ms, boundary_share)
TABLES = {
    "excluded, per round": lambda a, b, s: a,
    "excluded, per run": lambda a, b, s: b,
    "included, per round": lambda a, b, s: a / (1 - s),
    "included, per run": lambda a, b, s: b / (1 - s),
}
NETS = {"per round": 0, "per run": 1}


def runs(d):
    """[{1-based item index: (median_ms, run_scaled_ms, boundary_share)}], one per tool run."""
    out = []
    for f in sorted(glob.glob(os.path.join(d, "*.txt"))):
        r = {}
        for m in LINE.finditer(Path(f).read_text()):
            i = int(os.path.basename(m.group(4)).split("-", 1)[0])
            r[i] = (float(m.group(1)), float(m.group(2)), float(m.group(3) or 0))
        out.append(r)
    return out


def tau(a, b):
    c = t = 0
    for x in range(len(a)):
        for y in range(x + 1, len(a)):
            s = (a[x] - a[y]) * (b[x] - b[y])
            t += 1
            c += (s > 0) - (s < 0)
    return c / t


def main(out):
    keys = list(dict.fromkeys(Path(out, "keys.txt").read_text().split()))  # profile-external's order
    tr = runs(os.path.join(out, "logs-table"))
    tables = {n: {k: med([fn(*r[i]) for r in tr if i in r]) for i, k in enumerate(keys, 1)}
              for n, fn in TABLES.items()}
    share = {}
    for i, k in enumerate(keys, 1):
        share.setdefault(k.split(":")[0], []).append(med([r[i][2] for r in tr if i in r]))
    print(f"table: {len(keys)} keys, {len(tr)} runs; excluded boundary share, median per block type: "
          + ", ".join(f"{t} {100 * med(v):.1f}%" for t, v in sorted(share.items())))
    for n in ("excluded, per round", "excluded, per run"):
        fn = TABLES[n]
        for x in range(len(tr)):
            for y in range(x + 1, len(tr)):
                rat = sorted(fn(*tr[y][i]) / fn(*tr[x][i]) for i in tr[x] if i in tr[y])
                m = med(rat)
                w5 = sum(abs(r / m - 1) <= 0.05 for r in rat) / len(rat)
                print(f"  {n}: run {y + 1} / run {x + 1} per key: median {m:.3f}, p10-p90 "
                      f"{rat[len(rat) // 10]:.3f}-{rat[9 * len(rat) // 10]:.3f}, "
                      f"{100 * w5:.0f}% within 5% of the median")

    val = json.loads(Path(out, "val.json").read_text())
    pairs = json.loads(Path(out, "pairs.json").read_text())
    ok = [(i, n) for i, n in enumerate(val["networks"], 1) if "error" not in n]
    assert len(ok) == len(pairs["samples"])
    nr = runs(os.path.join(out, "logs-nets"))
    worst = max(abs(sum(tables["excluded, per round"][k] for k, _ in n["blocks"]) - n["sum_ms"])
                / n["sum_ms"] for _, n in ok)
    assert worst < 1e-6, f"the rebuilt table does not give the daemon's sums ({worst:.2e})"
    nets = {nv: {i: med([r[i][j] for r in nr if i in r]) for i, _ in ok} for nv, j in NETS.items()}
    for nv, j in NETS.items():
        per = [[r[i][j] for i, _ in ok] for r in nr]
        ts = [tau(per[a], per[b]) for a in range(len(per)) for b in range(a + 1, len(per))]
        print(f"networks {nv}: Kendall tau between runs " + ", ".join(f"{t:.3f}" for t in ts))

    zoo_files = Path(out, "zoo-files.txt").read_text().split()
    zoo = load_archs(str(ROOT / f) for f in zoo_files)
    zr = runs(os.path.join(out, "logs-zoo"))
    zoo_meas = {nv: {i: med([r[i][j] for r in zr if i in r]) for i in range(1, len(zoo) + 1)}
                for nv, j in NETS.items()}
    info, entries = tablefile.read_csv_table(Path(out, "ort.csv").read_text())
    info.pop("correction", None)

    d = tempfile.mkdtemp(prefix="lutnas-ort-reorders-")
    daemon = subprocess.Popen([str(BIN / "lutnasd"), "--listen", "127.0.0.1:0", "--port_file",
                               d + "/port", "--db", d + "/db.sqlite"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(d + "/port") and ":" in Path(d, "port").read_text():
                break
            time.sleep(0.1)
        addr = "127.0.0.1:" + Path(d, "port").read_text().strip().rsplit(":", 1)[-1]
        env = dict(os.environ, LUTNAS_SERVER=addr)
        client = Client(addr)
        print(f"\n| table | networks | within ±10% | MAPE | tau (corrected) | tau (raw sums) | "
              f"tau (MACs) | fit | zoo within ±10% | zoo MAPE | zoo worst |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for tn, t in tables.items():
            for nv, meas in nets.items():
                p = json.loads(json.dumps(pairs))
                for smp, (i, n) in zip(p["samples"], ok):
                    bl = [[k, t[k]] for k, _ in n["blocks"]]
                    smp["sum_ms"] = sum(ms for _, ms in bl)
                    smp["measured_ms"] = meas[i]
                    smp["type_ms"] = type_split(bl)
                p["min_key_ms"] = min(v for v in t.values() if v > 0)
                lo = (min(v for k, v in t.items() if not k.startswith("head:"))
                      + min(v for k, v in t.items() if k.startswith("head:")))
                p["range_ms"] = [min(lo, min(s["sum_ms"] for s in p["samples"])),
                                 max(s["sum_ms"] for s in p["samples"])]
                pf, ff = Path(d, "pairs.json"), Path(d, "fit.json")
                pf.write_text(json.dumps(p))
                r = subprocess.run([str(BIN / "lutnas-profile"), "fit-correction", "--in", str(pf),
                                    "--json", "--accept-noisy"], capture_output=True, text=True)
                ff.write_text(r.stdout)
                fit = json.loads(r.stdout)
                # the variant's table with that fit, through the real daemon
                es = []
                for e in entries:
                    f = t[e["key"]] / e["median_ms"]
                    es.append(dict(e, **{c: e[c] * f for c in ("median_ms", "p10_ms", "p90_ms",
                                                                "iqr_ms") if c in e}))
                tf = Path(d, "t.csv")
                tf.write_text(tablefile.csv_text(es, info=info))
                for argv in (["table", "upload", str(tf), "--hardware", "host-ort"],
                             ["table", "set-correction", "host-ort", "--from", str(ff)]):
                    subprocess.run([str(ROOT / "scripts" / "lutnas"), *argv], env=env, check=True,
                                   capture_output=True)
                errs = []
                for i, (name, arch) in enumerate(zoo, 1):
                    pr = client.predict(arch, hardware=["host-ort"]).predictions[0]
                    errs.append((name, pr.latency_ms / zoo_meas[nv][i] - 1))
                w = max(errs, key=lambda x: abs(x[1]))
                print(f"| {tn} | {nv} | {100 * fit['within_10pct']:.0f}% | {100 * fit['mape']:.1f}% | "
                      f"{fit['kendall_tau_lut']:.3f} | {fit['kendall_tau_lut_raw']:.3f} | "
                      f"{fit['kendall_tau_macs']:.3f} | {fit['correction']['method']} | "
                      f"{sum(abs(e) <= 0.10 for _, e in errs)} of {len(errs)} | "
                      f"{100 * statistics.mean(abs(e) for _, e in errs):.1f}% | "
                      f"{w[0]} {100 * w[1]:+.1f}% |")
    finally:
        daemon.terminate()
        daemon.wait()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.rsplit("\n\n", 1)[1].strip())
    main(sys.argv[1])
