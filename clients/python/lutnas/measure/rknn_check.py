"""`lutnas rknn-check`: which keys of a space RKNN-Toolkit2 can put on the
RK3588 NPU, converted here on x86 (no board needed).

For every key (a space's, or a key list's) this module exports the key's
module to ONNX (as profile-external does), generates INT8 calibration inputs
locally (4 standard-normal tensors of the key's input shape, seed 0: latency
and operator placement do not depend on the data), and runs, in a child
process per 50 keys (a toolkit crash or hang costs the key it was on,
never the run):

    RKNN.config(target_platform="rk3588")  # w8a8 INT8
    RKNN.load_onnx(model)
    RKNN.build(do_quantization=True, dataset=calibration list)

It reads the layer table the toolkit's compiler prints on stdout at build
time (verbose), which lists every layer of the compiled network with the
target it runs on, NPU or CPU (the graph's input and output operators are
CPU-side by construction and are not counted, nor is a layout-only reshape
right before the output). A key whose
load or build fails becomes a `failed` entry with the toolkit's error line;
one with layers on the CPU becomes `cpu_fallback` naming them (untimed:
median_ms 0); a key that converts fully onto the NPU gets no entry (it has
no timing from this machine, and the spec prior keeps estimating it).

The entries are written as a table CSV (`--out`), imported with
`lutnas table import FILE.csv --hardware rk3588-npu` as a new table version;
`--report` writes per-key JSON (status, CPU layers, seconds). The toolkit
lives in its own venv (scripts/bootstrap-rknn): run this module with
`.venv-rknn/bin/python -m lutnas rknn-check ...` or `scripts/lutnas-rknn`.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .. import tablefile

CAL_SAMPLES = 4
CHUNK = 50  # keys per child process
# "D RKNN: [..] 12   ConvRelu   INT8   NPU   (1,16,56,56),... " in the layer table
LAYER_RE = re.compile(r"^\s*(\d+)\s+([A-Za-z][A-Za-z0-9_]*)\s+\S+\s+(NPU|CPU)\b")
ALWAYS_CPU = {"InputOperator", "OutputOperator"}
LAYOUT_OPS = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze"}


class RknnError(RuntimeError):
    """rknn-toolkit2 is missing or unusable; the message says why."""


def layer_targets(log_text: str) -> List[Tuple[str, str]]:
    """[(op_type, target)] of the compiled network's layer table, which the
    toolkit's native compiler prints on stdout ("D RKNN: [time] ID OpType
    DataType Target ..."); the last table if there are several."""
    out: List[Tuple[str, str]] = []
    for line in log_text.splitlines():
        if "RKNN:" not in line:
            continue
        m = LAYER_RE.match(line.split("]", 1)[-1])
        if m:
            if m.group(1) == "0":
                out = []
            out.append((m.group(2), m.group(3)))
    return out


def cpu_layers(targets: Iterable[Tuple[str, str]]) -> List[str]:
    """Op types that run on the CPU, in order, each once. Not counted: the
    graph's input and output operators, and a layout-only Reshape / Transpose /
    Flatten / Squeeze right before the output (the runtime's output formatting,
    e.g. [1,1000,1,1] -> [1,1000], which every classifier head has)."""
    ops = [(op, t) for op, t in targets]
    while len(ops) >= 2 and ops[-1][0] in ALWAYS_CPU and ops[-2][0] in LAYOUT_OPS and ops[-2][1] == "CPU":
        ops = ops[:-2] + ops[-1:]
    return list(dict.fromkeys(op for op, t in ops if t == "CPU" and op not in ALWAYS_CPU))


def error_line(text: str) -> str:
    """The toolkit's most telling error line: the last 'E ' line, else the last line."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    errs = [l for l in lines if l.startswith("E ") or "Error" in l or "error" in l]
    pick = (errs or lines or ["no output"])[-1]
    return " ".join(pick.split())[:300]


def convert_one(key: str, workdir: str) -> Dict[str, Any]:
    """Child side: export, calibrate, build one key. Returns a result dict."""
    import onnx  # noqa: F401  (before torch: Debian's torch registers an older onnx.proto)
    import numpy as np

    from . import external
    try:
        from rknn.api import RKNN
    except ImportError as e:
        return {"key": key, "status": "error", "error": f"rknn-toolkit2 not importable: {e}"}
    from ..tools import ToolError
    try:
        files = external.export_key(key, workdir, ["onnx"], "key")
    except ToolError as e:  # lutnas-inspect missing or broken: the run's problem, not the key's
        return {"key": key, "status": "error", "error": str(e)}
    except Exception as e:  # noqa: BLE001 (any other export failure is the key's result)
        return {"key": key, "status": "failed", "error": f"export to onnx failed: {type(e).__name__}: {e}"[:300]}
    shape = [1] + [int(x) for x in key.rsplit("@", 1)[1].split("x")]
    rng = np.random.default_rng(0)
    cal: List[str] = []
    for i in range(CAL_SAMPLES):
        p = os.path.join(workdir, f"cal{i}.npy")
        np.save(p, rng.standard_normal(shape).astype(np.float32))
        cal.append(p)
    ds = os.path.join(workdir, "dataset.txt")
    with open(ds, "w") as f:
        f.write("\n".join(cal) + "\n")
    log = os.path.join(workdir, "rknn.log")
    rk = RKNN(verbose=True, verbose_file=log)
    try:
        rk.config(target_platform="rk3588")
        ret = rk.load_onnx(model=files["onnx"])
        stage = "load_onnx"
        if ret == 0:
            stage = "build"
            ret = rk.build(do_quantization=True, dataset=ds)
    finally:
        rk.release()
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    if ret != 0:
        return {"key": key, "status": "failed", "error": f"rknn {stage} failed: {error_line(text)}"}
    return {"key": key, "status": "built", "error": ""}


def classify(res: Dict[str, Any], stdout: str) -> Dict[str, Any]:
    """A built key's status from the layer table on the child's stdout."""
    if res["status"] != "built":
        return res
    targets = layer_targets(stdout)
    if not targets:
        return dict(res, status="failed", error="rknn build printed no layer table (cannot tell NPU from CPU)")
    cpu = cpu_layers(targets)
    return dict(res, status="cpu_fallback" if cpu else "npu", cpu_ops=cpu, layers=len(targets),
                error=("runs on the CPU: " + ", ".join(cpu)) if cpu else "")


def convert_chunk(keys_path: str, workdir: str, results_path: str) -> None:
    """Child side: converts the keys of keys_path one after another in this
    process (the toolkit's import costs seconds), appending one JSON result
    line per key to results_path as it finishes. The compiler's native
    stdout is redirected per key to a file, and parsed here."""
    keys = [k for k in open(keys_path).read().split("\n") if k]
    saved = os.dup(1)
    with open(results_path, "a") as out:
        for i, key in enumerate(keys):
            wd = os.path.join(workdir, f"k{i}")
            os.makedirs(wd, exist_ok=True)
            cap = os.path.join(wd, "stdout.txt")
            t0 = time.monotonic()
            sys.stdout.flush()
            fd = os.open(cap, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.close(fd)
            try:
                res = convert_one(key, wd)
            except Exception as e:  # noqa: BLE001 (a toolkit exception is the key's result)
                res = {"key": key, "status": "failed", "error": f"rknn: {type(e).__name__}: {e}"[:300]}
            finally:
                sys.stdout.flush()
                os.dup2(saved, 1)
            res = classify(res, open(cap, errors="replace").read())
            res["secs"] = round(time.monotonic() - t0, 2)
            out.write(json.dumps(res) + "\n")
            out.flush()
            if res["status"] == "error":
                return


def run_keys(keys: Iterable[str], timeout: float,
             on_result: Callable[[Dict[str, Any]], None]) -> None:
    """Converts keys in child processes of up to CHUNK keys; a child that
    dies or hangs costs the key it was on (failed, with the reason) and the
    rest are retried in a fresh child."""
    pending = list(keys)
    while pending:
        chunk = pending[:CHUNK]
        with tempfile.TemporaryDirectory(prefix="lutnas-rknn-") as wd:
            kp, rp = os.path.join(wd, "keys.txt"), os.path.join(wd, "results.jsonl")
            with open(kp, "w") as f:
                f.write("\n".join(chunk) + "\n")
            why: Optional[str] = None
            try:
                r = subprocess.run([sys.executable, "-m", "lutnas.measure.rknn_check", "--chunk", kp, "--workdir", wd,
                                    "--results", rp], capture_output=True, text=True,
                                   timeout=timeout * len(chunk), cwd=wd,  # the toolkit writes check*.onnx to cwd
                                   env=_child_env())
                if r.returncode != 0:
                    why = f"rknn toolkit exited {r.returncode}: {error_line(r.stderr)}"
            except subprocess.TimeoutExpired:
                why = f"rknn build timed out (more than {timeout:g} s per key)"
            done: List[Dict[str, Any]] = []
            if os.path.exists(rp):
                for line in open(rp):
                    if line.strip():
                        done.append(json.loads(line))
        for res in done:
            on_result(res)
            if res["status"] == "error":
                return
        pending = pending[len(done):]
        if len(done) < len(chunk) and pending:
            on_result({"key": pending[0], "status": "failed", "error": why or "rknn toolkit stopped", "secs": 0})
            pending = pending[1:]


def _child_env() -> Dict[str, str]:
    """This environment with this package importable from any directory."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=pkg_parent + (os.pathsep + path if path else ""))


def entry_of(res: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    if res["status"] == "failed":
        return {"key": res["key"], "median_ms": 0.0, "samples": 0, "status": "ENTRY_FAILED",
                "error": res["error"]}
    if res["status"] == "cpu_fallback":
        return {"key": res["key"], "median_ms": 0.0, "samples": 0, "status": "ENTRY_CPU_FALLBACK",
                "error": res["error"]}
    return None


def block_type(key: str) -> str:
    return key.split(":", 1)[0].split("@", 1)[0]


def summarize(results: Iterable[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per block type: keys, npu, cpu_fallback, failed, and the CPU op types seen."""
    by: Dict[str, Dict[str, Any]] = {}
    for r in results:
        s = by.setdefault(block_type(r["key"]), {"keys": 0, "npu": 0, "cpu_fallback": 0, "failed": 0,
                                                 "cpu_ops": {}})
        s["keys"] += 1
        s[r["status"] if r["status"] in ("npu", "cpu_fallback", "failed") else "failed"] += 1
        for op in r.get("cpu_ops", []):
            s["cpu_ops"][op] = s["cpu_ops"].get(op, 0) + 1
    return by


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="lutnas rknn-check", description=__doc__.split("\n\n")[0])
    p.add_argument("--space", help="space JSON (search/spaces/edge.json)")
    p.add_argument("--keys-file", help="key list instead of a space")
    p.add_argument("--limit", type=int, default=0, help="first N keys only")
    p.add_argument("--out", help="table CSV of the failed / cpu_fallback entries")
    p.add_argument("--report", help="per-key JSON report")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per key (default 600)")
    p.add_argument("--chunk", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--results", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.chunk:
        convert_chunk(a.chunk, a.workdir, a.results)
        return 0
    if bool(a.space) == bool(a.keys_file):
        p.error("give exactly one of --space and --keys-file")
    from . import external
    keys, space_name = external.load_keys(a.space, a.keys_file, a.limit)
    results: List[Dict[str, Any]]
    results, t0 = [], time.monotonic()

    def on_result(r: Dict[str, Any]) -> None:
        if r["status"] == "error":
            raise SystemExit(f"error: {r['error']}")
        results.append(r)
        i = len(results)
        eta = (time.monotonic() - t0) / i * (len(keys) - i)
        print(f"[{i}/{len(keys)}] {r['key']}: {r['status']}"
              f"{(' (' + r['error'] + ')') if r['error'] else ''}  {r['secs']:.1f} s  ETA {eta / 60:.0f} min",
              file=sys.stderr, flush=True)
        if a.report and (i % 10 == 0 or i == len(keys)):
            write_report(a.report, len(keys), results)

    run_keys(keys, a.timeout, on_result)
    if a.report:
        write_report(a.report, len(keys), results)
    entries = [e for e in map(entry_of, results) if e]
    if a.out:
        ver = _toolkit_version()
        with open(a.out, "w") as f:
            tablefile.write_csv(entries, f, info={
                "hardware": "rk3588-npu", "backend": "rknn", "precision": "int8", "threads": 1,
                "tool": f"rknn-toolkit2 {ver} build (lutnas rknn-check)", "space": space_name,
                "source": "rknn-check"})
    n = {s: sum(r["status"] == s for r in results) for s in ("npu", "cpu_fallback", "failed")}
    print(f"{len(results)} keys: {n['npu']} on the NPU, {n['cpu_fallback']} cpu_fallback, {n['failed']} failed"
          + (f"; wrote {a.out} ({len(entries)} entries)" if a.out else ""))
    return 0


def write_report(path: str, total: int, results: Sequence[Mapping[str, Any]]) -> None:
    with open(path, "w") as f:
        json.dump({"keys": total, "done": len(results), "toolkit": f"rknn-toolkit2 {_toolkit_version()}",
                   "results": results, "by_block_type": summarize(results)}, f, indent=1)


def _toolkit_version() -> str:
    try:
        from importlib.metadata import version
        return version("rknn-toolkit2")
    except Exception:  # noqa: BLE001
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
