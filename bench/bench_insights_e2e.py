#!/usr/bin/env python3
"""The same N random networks measured end to end through each runtime, for
`lutnas insights --hardware host-cpu,host-ort,host-openvino --e2e FILE.json`.

    .venv/bin/python bench/bench_insights_e2e.py --space search/spaces/edge.json \\
        --networks 20 --seed 1 --out var/e2e-20.json

- host-cpu: `lutnas-profile measure ARCH.json... --threads 1 --json` (LibTorch,
  LUTNAS_CLOCK=thread-cpu unless --wall-clock);
- host-ort: `lutnas bench-onnx` on the exported ONNX models, the command host-ort's
  networks are validated with (ORT_COMMAND);
- host-openvino: `lutnas bench-onnx --runtime openvino` likewise (OV_COMMAND;
  LUTNAS_OV_BENCHMARK_APP=1: benchmark_app, one model per process).

The draw is lutnas-inspect's (`--space S --sample N --seed S`), the same
networks `lutnas insights --networks N --seed S` ranks by table. The output
JSON: {space, seed, tools: {hardware: command}, networks: [{name, hash, arch,
measured: {hardware: {median_ms, p10_ms, p90_ms, samples}}}]}; a network a
runtime failed on has {"error": ...} there instead.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))

from lutnas.measure import external, validate_external  # noqa: E402
from lutnas.insights import compare as insights_compare  # noqa: E402
from lutnas import tools  # noqa: E402

# The commands whole networks are validated with (docs/notes/runtimes.md, round 5): both runtimes
# through lutnas' runner; LUTNAS_OV_BENCHMARK_APP=1 times OpenVINO with benchmark_app instead
# (wall clock, one model per process, as rounds 2-4 did).
ORT_COMMAND = ("scripts/lutnas bench-onnx --quiet --clock thread --flush-kib 16384 --hot-input "
               "--min-ms 20 --rounds 45 {models}")
ORT_PARSE = r"median_ms=([0-9.e+-]+)"
if os.environ.get("LUTNAS_OV_BENCHMARK_APP"):
    OV_COMMAND = (".venv/bin/benchmark_app -m {model} -d CPU -load_config "
                  "scripts/openvino-cpu-1thread.json -api sync -t 1")
    OV_PARSE = r"Median: +([0-9.]+) (?P<unit>ms|us)"
    OV_VERSION = r"Build \.+ (\S+)"
else:
    OV_COMMAND = ("scripts/lutnas bench-onnx --runtime openvino --quiet --clock thread "
                  "--flush-kib 2048 --min-ms 20 --rounds 45 {models}")
    OV_PARSE = ORT_PARSE
    OV_VERSION = None


def measure_libtorch(nets, wall_clock):
    """{name: result} by lutnas-profile measure (one process, all networks)."""
    with tempfile.TemporaryDirectory(prefix="lutnas-e2e-") as wd:
        paths = []
        for n in nets:
            p = os.path.join(wd, f"{n['name']}.json")
            with open(p, "w") as f:
                json.dump(dict(n["arch"], name=n["name"]), f)
            paths.append(p)
        env = dict(os.environ)
        if not wall_clock:
            env["LUTNAS_CLOCK"] = "thread-cpu"
        r = subprocess.run([tools.find_tool("lutnas-profile"), "measure", *paths, "--threads", "1",
                            "--json"], capture_output=True, text=True, env=env)
    if not r.stdout.strip():
        raise SystemExit(f"lutnas-profile measure failed: {r.stderr.strip()[-500:]}")
    if r.returncode != 0:
        print(f"host-cpu: lutnas-profile measure exit {r.returncode} (noisy run; kept, "
              f"with its spreads): {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    out = {}
    for d in json.loads(r.stdout):
        if d.get("failed"):
            out[d["name"]] = {"error": "failed"}
        else:
            out[d["name"]] = {k: d[k] for k in ("median_ms", "p10_ms", "p90_ms", "samples",
                                                "spread")}
    return out


def measure_external(nets, command, parse, version_parse=None, batch=20):
    runner = external.Runner(command, parse, "onnx", 600.0, version_parse)
    res = validate_external.measure_networks([(n["name"], n["arch"]) for n in nets], runner,
                                             batch)
    out = {}
    for name, (ms, stats, err) in res.items():
        if err is not None or ms is None:
            out[name] = {"error": err or "no result"}
        else:
            out[name] = dict({k: v for k, v in stats.items()}, median_ms=ms)
    return out, runner.tool(command)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", default=str(ROOT / "search" / "spaces" / "edge.json"))
    ap.add_argument("--networks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runtimes", default="host-cpu,host-ort,host-openvino")
    ap.add_argument("--wall-clock", action="store_true", help="host-cpu: wall time")
    ap.add_argument("--out", required=True)
    ap.add_argument("--merge", action="store_true",
                    help="keep the other runtimes' results already in --out (same draw)")
    args = ap.parse_args(argv)
    os.chdir(ROOT)  # the commands' relative paths
    nets = insights_compare.sample_networks(args.space, args.networks, args.seed)
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    tools_used, measured, times = {}, {}, {}
    for hw in runtimes:
        t0 = time.time()
        print(f"== {hw}: {len(nets)} networks", file=sys.stderr)
        if hw == "host-cpu":
            measured[hw] = measure_libtorch(nets, args.wall_clock)
            tools_used[hw] = ("lutnas-profile measure --threads 1"
                              + ("" if args.wall_clock else " (LUTNAS_CLOCK=thread-cpu)"))
        elif hw == "host-ort":
            measured[hw], tools_used[hw] = measure_external(nets, ORT_COMMAND, ORT_PARSE)
        elif hw == "host-openvino":
            measured[hw], tools_used[hw] = measure_external(nets, OV_COMMAND, OV_PARSE, OV_VERSION)
        else:
            raise SystemExit(f"--runtimes: unknown runtime {hw!r} (host-cpu, host-ort, "
                             "host-openvino)")
        times[hw] = time.time() - t0
        print(f"== {hw}: {times[hw]:.0f} s", file=sys.stderr)
    doc = {"space": args.space, "seed": args.seed, "tools": tools_used, "seconds": times,
           "networks": [dict(n, measured={hw: measured[hw].get(n["name"], {"error": "missing"})
                                          for hw in runtimes}) for n in nets]}
    if args.merge and os.path.exists(args.out):
        with open(args.out) as f:
            old = json.load(f)
        if [n["hash"] for n in old["networks"]] != [n["hash"] for n in nets]:
            raise SystemExit(f"--merge: {args.out} holds another draw of networks")
        for hw in set(old["tools"]) - set(runtimes):
            doc["tools"][hw] = old["tools"][hw]
            doc["seconds"][hw] = old.get("seconds", {}).get(hw)
            for n, o in zip(doc["networks"], old["networks"]):
                n["measured"][hw] = o["measured"][hw]
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
