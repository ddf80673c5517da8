#!/usr/bin/env python3
"""How well a table measured through a black-box timing tool (one model per
call, one number printed) predicts whole networks, with blocks timed in
context (`profile-external --method context`, the default) beside the same
run's lone-model times (today's method).

For one tool (ort: bench/external_tools/ort_timer.py; openvino: OpenVINO's
own benchmark_app; mnn: bench/external_tools/mnn_timer.py), on a fresh
lutnasd of its own:
1. draws N random edge networks (lutnas-inspect --sample N --seed S) and
   takes the keys they and the torchvision zoo (resnet18, resnet50,
   mobilenet_v2, mobilenet_v3_large, efficientnet_b0, regnet_y_400mf,
   shufflenet_v2_x1_0 from models/) need;
2. measures them once with `profile-external --keys-file ... --lone-out`:
   the context table goes to hardware TOOL-ctx, the same run's lone times
   to TOOL-lone;
3. `validate-external` on the N networks for each table (one measurement of
   the networks, shared through --measurements), storing the fitted
   correction;
4. the zoo, exported by torchvision itself (torch.onnx.export, 224 px),
   timed by the same tool and compared with both tables' predictions from
   models/*.json (raw block sums and corrected).
Prints a summary and writes var/bench-external/TOOL/summary.json.

  bench/external_context_accuracy.py ort --networks 60
  bench/external_context_accuracy.py openvino --networks 60
  bench/external_context_accuracy.py mnn --networks 30
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))

import lutnas  # noqa: E402
from lutnas import tablefile, tools  # noqa: E402
from lutnas.daemon import Daemon  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
ZOO = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0",
       "regnet_y_400mf", "shufflenet_v2_x1_0"]
TOOLS = {
    "ort": (f"{PY} bench/external_tools/ort_timer.py {{model}}", r"median_ms=([0-9.e+-]+)"),
    "ort-cpu": (f"{PY} bench/external_tools/ort_cpu_timer.py {{model}}", r"median_ms=([0-9.e+-]+)"),
    "openvino": (f"{ROOT}/.venv/bin/benchmark_app -m {{model}} -d CPU -nthreads 1 -nstreams 1 "
                 "-api sync -hint none -niter 50", r"Median: +([0-9.]+) (?P<unit>ms|us)"),
    "mnn": (f"{PY} bench/external_tools/mnn_timer.py {{model}}", r"median_ms=([0-9.e+-]+)"),
}


def kendall(a, b):
    n, s = len(a), 0
    for i in range(n):
        for j in range(i + 1, n):
            x = (a[i] - a[j]) * (b[i] - b[j])
            s += (x > 0) - (x < 0)
    return 2 * s / (n * (n - 1)) if n > 1 else 0.0


def cli(server, *argv, check=True):
    """Runs the lutnas CLI; its progress goes straight to our stderr."""
    r = subprocess.run([str(ROOT / "scripts" / "lutnas"), "--server", server, *argv],
                       stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if check and r.returncode not in (0, 3):
        raise SystemExit(f"lutnas {argv[0]} failed ({r.returncode})")
    return r.stdout


def arch_info(path):
    return json.loads(tools._run([tools.find_tool("lutnas-inspect"), str(path), "--json"]))


def export_torchvision(out_dir):
    """torchvision's own networks as ONNX (opset 13, 224 px), in system python's torch."""
    code = f"""
import torch, torchvision, os
out = {str(out_dir)!r}
for name in {ZOO!r}:
    path = os.path.join(out, name + ".onnx")
    if os.path.exists(path):
        continue
    m = getattr(torchvision.models, name)().eval()
    torch.onnx.export(m, torch.randn(1, 3, 224, 224), path, opset_version=13,
                      input_names=["input"], output_names=["output"])
"""
    subprocess.run(["/usr/bin/python3", "-c", code], check=True)


def zoo_report(rows, macs):
    ok = [r for r in rows if "error" not in r]
    res = {}
    for what in ("sum_ms", "predicted_ms"):
        errs = [(r[what] - r["measured_ms"]) / r["measured_ms"] for r in ok]
        res[what] = {"within_10pct": sum(abs(e) <= 0.10 for e in errs) / len(ok),
                     "mape": sum(abs(e) for e in errs) / len(ok),
                     "errors_pct": {r["name"]: round(100 * e, 1) for r, e in zip(ok, errs)},
                     "tau": kendall([r[what] for r in ok], [r["measured_ms"] for r in ok])}
    res["tau_macs"] = kendall([macs[r["name"]] for r in ok], [r["measured_ms"] for r in ok])
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tool", choices=sorted(TOOLS))
    ap.add_argument("--networks", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--time-cap", type=float, default=300.0,
                    help="seconds profile-external may spend re-measuring keys (default 300)")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    command, parse = TOOLS[args.tool]
    wd = Path(args.workdir or ROOT / "var" / "bench-external" / args.tool)
    wd.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    # 1. networks and keys
    sample = json.loads(tools._run([tools.find_tool("lutnas-inspect"), "--space",
                                    "search/spaces/edge.json", "--sample", str(args.networks),
                                    "--seed", str(args.seed)]))
    keys = {}
    for d in sample:
        p = wd / "archs" / f"{d['hash']}.json"
        p.parent.mkdir(exist_ok=True)
        p.write_text(json.dumps(d["arch"]))
        for b in arch_info(p)["blocks"]:
            keys.setdefault(b["key"])
    macs = {}
    for name in ZOO:
        info = arch_info(ROOT / "models" / f"{name}.json")
        macs[name] = info["macs"]
        for b in info["blocks"]:
            keys.setdefault(b["key"])
    (wd / "keys.txt").write_text("\n".join(keys) + "\n")
    tv = wd / "torchvision"
    tv.mkdir(exist_ok=True)
    export_torchvision(tv)
    print(f"{args.tool}: {len(keys)} keys of {args.networks} edge networks and the zoo",
          file=sys.stderr)
    summary = {"tool": args.tool, "command": command, "networks": args.networks,
               "keys": len(keys)}
    with Daemon(wd / "db.sqlite") as d, lutnas.Client(d.target) as c:
        for suffix in ("ctx", "lone"):
            c.register_hardware({"name": f"{args.tool}-{suffix}", "backend": "external",
                                 "precision": "fp32", "threads": 1,
                                 "description": f"{command} ({suffix})", "source": "bench"},
                                update=True)
        # 2. the table, in context, with the lone times of the same run
        t0 = time.monotonic()
        cli(d.target, "profile-external", "--keys-file", str(wd / "keys.txt"),
            "--hardware", f"{args.tool}-ctx", "--command", command, "--parse", parse,
            "--rounds", str(args.rounds), "--time-cap", str(args.time_cap),
            "--details", str(wd / "details.json"),
            "--lone-out", str(wd / "lone.csv"))
        summary["table_s"] = time.monotonic() - t0
        info, entries = tablefile.read_csv_table((wd / "lone.csv").read_text())
        info["hardware"] = f"{args.tool}-lone"
        c.upload_table(info, entries)
        det = json.loads((wd / "details.json").read_text())
        summary["refused_keys"] = [k["key"] for k in det["keys"]
                                   if k["ms"] is not None and not k["reproduced"]]
        summary["reference_drift"] = det["reference_drift"]
        summary["rounds"] = det["rounds"]
        # 3. validation on random networks, one measurement shared
        # 4. the zoo from torchvision's own export
        for suffix in ("ctx", "lone"):
            hw = f"{args.tool}-{suffix}"
            out = cli(d.target, "validate-external", "--space", "search/spaces/edge.json",
                      "--samples", str(args.networks), "--seed", str(args.seed),
                      "--hardware", hw, "--command", command, "--parse", parse,
                      "--rounds", str(args.rounds), "--measurements", str(wd / "nets.json"),
                      "--pairs-out", str(wd / f"pairs-{suffix}.json"), "--json")
            fit = json.loads(out)
            summary[hw] = {"edge": {k: fit.get(k) for k in (
                "samples", "within_10pct", "mape", "within_10pct_raw", "mape_raw",
                "loo_within_10pct", "loo_mape", "kendall_tau_lut", "kendall_tau_lut_raw",
                "kendall_tau_macs", "accepted", "stored", "refusals", "correction")}}
            out = cli(d.target, "validate-external", "--arch",
                      *[str(ROOT / "models" / f"{n}.json") for n in ZOO],
                      "--onnx-dir", str(tv), "--hardware", hw, "--command", command,
                      "--parse", parse, "--rounds", str(args.rounds),
                      "--measurements", str(wd / "zoo.json"), "--json")
            summary[hw]["zoo"] = zoo_report(json.loads(out)["networks"], macs)
    summary["total_s"] = time.monotonic() - t_start
    (wd / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
