"""`lutnas validate-external`: a table measured by a vendor tool, checked
against whole networks run end to end by the same tool.

1. draws --samples distinct random networks of --space (`lutnas-inspect
   --space S --sample N --seed S`, the draw `lutnas-profile validate` makes),
   or takes the networks of --arch files;
2. asks lutnasd for each one's prediction on --hardware (the block sum of the
   latest table version, its MACs and params);
3. exports every network to ONNX (or TorchScript) and runs --command on it
   exactly as `lutnas profile-external` does (batches; {model} or {models}),
   with $LUTNAS_REFERENCE_MS set to the table's reference_ms, so that a
   runner that speaks lutnas' protocol (bench-onnx) reports in the table's
   time units;
4. writes the pairs (sum_ms, measured_ms, spread, macs, params) and fits the
   correction with `lutnas-profile fit-correction --json` (robust fit,
   leave-one-out accuracy, refusals when the data are noisy or unsafe);
5. stores the accepted correction with TableService.SetCorrection (not with
   --dry-run, never when refused).

The JSON (--json) is fit-correction's object (the fields of `lutnas-profile
validate --json`: samples, within_10pct, mape, within_10pct_raw, mape_raw,
kendall_tau_lut, kendall_tau_macs, kendall_tau_params, loo_*, correction,
accepted, refusals) plus hardware, table_version, stored and networks.
Exit status: 0 stored (or accepted with --dry-run), 3 refused, 1 on errors.

With --arch (e.g. models/*.json) nothing is fitted: each network's corrected
prediction (the stored correction) is compared with its measured latency.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from . import external
from .. import tools
from ..errors import InvalidArgument

if TYPE_CHECKING:
    from ..client import Client
    from ..results import LatencyEntry, Prediction, PredictResponse

# A network: (name or hash, architecture dict).
_Net = Tuple[str, Dict[str, Any]]

REFUSED = 3


class ValidateError(external.ExternalError):
    """A problem with the whole run; the message names the option."""


def sample_networks(space: Union[str, "os.PathLike[str]"], n: int, seed: int) -> List[_Net]:
    """[(hash, arch dict)] of n distinct random networks of the space."""
    out = tools._run([tools.find_tool("lutnas-inspect"), "--space", str(space), "--sample",
                      str(n), "--seed", str(seed)],
                     what=f"lutnas-inspect --space {space} --sample")
    return [(d["hash"], d["arch"]) for d in json.loads(out)]


def arch_pytorch(arch: Mapping[str, Any], workdir: str) -> str:
    """The PyTorch code of an architecture (dict), from lutnas-inspect."""
    fd, path = tempfile.mkstemp(suffix=".json", dir=workdir)
    with os.fdopen(fd, "w") as f:
        json.dump(arch, f)
    try:
        return tools._run([tools.find_tool("lutnas-inspect"), path, "--pytorch"],
                          what="lutnas-inspect --pytorch")
    finally:
        os.unlink(path)


def load_archs(paths: Iterable[str]) -> List[_Net]:
    out: List[_Net] = []
    for p in paths:
        try:
            with open(p) as f:
                arch = json.load(f)
        except OSError as e:
            raise ValidateError(f"--arch {p}: {e.strerror or e}") from None
        except ValueError as e:
            raise ValidateError(f"--arch {p}: not valid JSON: {e}") from None
        out.append((Path(p).stem, arch))
    return out


def measure_networks(nets: Sequence[_Net], runner: external.Runner, batch: int,
                     progress: bool = True, repeats: int = 1) -> Dict[str, external._Result]:
    """{name: (ms, stats, error)} for [(name, arch)], measured by the runner."""
    results: Dict[str, external._Result] = {}
    bar = external.Progress(len(nets)) if progress else None
    with tempfile.TemporaryDirectory(prefix="lutnas-validate-") as workdir:
        def export(item: _Net, wd: str, formats: List[str], stem: str) -> Dict[str, str]:
            return external.export_code(arch_pytorch(item[1], wd), wd, formats, stem)

        def on_result(item: _Net, ms: Optional[float], stats: Dict[str, float],
                      err: Optional[str]) -> None:
            results[item[0]] = (ms, stats, err)

        try:
            external.run_batches(nets, runner, workdir, export, lambda it: it[0], batch, bar,
                                 on_result, repeats)
        finally:
            if bar:
                bar.close()
    return results


def measure_networks_in_rounds(nets: Sequence[_Net], runner: external.Runner, rounds: int,
                               target_ms: float = 0.0, onnx_dir: Optional[str] = None,
                               cache: Optional[str] = None, progress: bool = True
                               ) -> Dict[str, external._Result]:
    """{name: (ms, stats, error)}: every network exported once (or taken as
    ONNX_DIR/NAME.onnx, e.g. torchvision's own export), then timed by the
    runner in `rounds` interleaved rounds with the reference model, each time
    normalised by the reference (lutnas.measure.rounds) into target_ms's
    units (0: the run's own). stats: p10/p90 = the odd/even halves,
    samples = rounds, repeat_spread = |halves| / ms. cache: a JSON file of
    earlier results (reused, rescaled to target_ms) that new ones join."""
    from .context import REFERENCE, export_module, reference_module
    from .keys import measure_models

    old: Dict[str, Any] = {}
    if cache and os.path.exists(cache):
        with open(cache) as f:
            old = json.load(f)
    scale = 1.0
    if old.get("target_ms") and target_ms > 0:
        scale = target_ms / float(old["target_ms"])
    results: Dict[str, external._Result] = {}
    for name, _ in nets:
        r = old.get("networks", {}).get(name)
        if r and r.get("ms"):
            a, b = r["half_a"] * scale, r["half_b"] * scale
            ms = r["ms"] * scale
            results[name] = (ms, {"p10_ms": min(a, b), "p90_ms": max(a, b),
                                  "samples": r.get("rounds", 2),
                                  "repeat_spread": abs(a - b) / ms}, None)
    todo = [n for n in nets if n[0] not in results]
    if todo:
        with tempfile.TemporaryDirectory(prefix="lutnas-validate-") as wd:
            files: Dict[str, Dict[str, str]] = {}
            ref, shape = reference_module()
            files[REFERENCE] = export_module(ref, shape, wd, runner.formats, "0000-reference")
            for i, (name, arch) in enumerate(todo, 1):
                given = os.path.join(onnx_dir, name + ".onnx") if onnx_dir else ""
                try:
                    if given and os.path.exists(given):
                        files[name] = {"onnx": given}
                    else:
                        files[name] = external.export_code(arch_pytorch(arch, wd), wd,
                                                           runner.formats,
                                                           f"{i:04d}-{external.slug(name)}")
                except Exception as e:  # noqa: BLE001 - the network's failure
                    results[name] = (None, {}, external.export_failure(e, runner.formats))
            for fs in files.values():
                fs["model"] = fs.get(runner.fmt) or next(iter(fs.values()))
            bar = external.Progress(1) if progress else None

            def measure(names: Sequence[str]) -> List[Tuple[Optional[float], Optional[str]]]:
                return [(ms, err) for ms, _, err in runner.run([(n, files[n]) for n in names])]

            def on_progress(done: int, total: int) -> None:
                if bar:
                    bar.total = total
                    bar.partial(done, f"networks: {done}/{total} model runs")

            names = [n for n, _ in todo if n in files]
            try:
                got = measure_models(names, measure, rounds, target_ms=target_ms,
                                     on_progress=on_progress)
            finally:
                if bar:
                    bar.close()
        target_ms = got["target_ms"]
        for n in names:
            if n in got["values"]:
                ms = got["values"][n]
                a, b = got["halves"][n]
                a, b = (ms if a is None else a), (ms if b is None else b)
                results[n] = (ms, {"p10_ms": min(a, b), "p90_ms": max(a, b), "samples": rounds,
                                   "repeat_spread": abs(a - b) / ms}, None)
                old.setdefault("networks", {})[n] = {"ms": ms / scale, "half_a": a / scale,
                                                     "half_b": b / scale, "rounds": rounds}
            else:
                results[n] = (None, {}, got["errors"].get(n, "not measured"))
        if cache:
            old.setdefault("target_ms", target_ms)
            with open(cache, "w") as f:
                json.dump(old, f, indent=1)
    return results


def fit_correction(pairs: Mapping[str, Any], accept_noisy: bool = False) -> Tuple[int, Dict[str, Any]]:
    """(exit status, fit-correction's JSON object) for the pairs dict."""
    tool = tools.find_tool("lutnas-profile")
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="lutnas-pairs-",
                                     delete=False) as f:
        json.dump(pairs, f)
        path = f.name
    try:
        argv = [tool, "fit-correction", "--in", path, "--json"]
        if accept_noisy:
            argv.append("--accept-noisy")
        r = subprocess.run(argv, capture_output=True, text=True)
    finally:
        os.unlink(path)
    if r.returncode not in (0, REFUSED):
        lines = [ln.strip() for ln in r.stderr.strip().splitlines() if ln.strip()]
        msg = " / ".join(lines[-3:]) or f"exit status {r.returncode}"
        raise ValidateError(f"lutnas-profile fit-correction: {msg}")
    try:
        return r.returncode, json.loads(r.stdout)
    except ValueError:
        raise ValidateError("lutnas-profile fit-correction: output is not JSON: "
                            f"{r.stdout[:200]!r}") from None


def correction_fields(client: "Client", corr: Mapping[str, Any]) -> Dict[str, Any]:
    """The fields of corr that this client's Correction message has."""
    fields = client.pb.table_pb2.Correction.DESCRIPTOR.fields_by_name
    return {k: v for k, v in corr.items() if k in fields}


def table_sum_floor(entries: Iterable["LatencyEntry"]) -> float:
    """Smallest block sum a network can get from a table: its smallest measured
    block entry plus its smallest measured head entry (0: unknown)."""
    blocks: List[float]
    heads: List[float]
    blocks, heads = [], []
    for e in entries:
        if e.status == 1 and e.median_ms > 0:  # ENTRY_MEASURED
            (heads if e.key.startswith("head:") else blocks).append(e.median_ms)
    return min(blocks) + min(heads) if blocks and heads else 0.0


def type_split(blocks: Iterable[Sequence[Any]]) -> Dict[str, float]:
    """{block type: ms} of a breakdown's [key, latency_ms] rows: the table's
    block sum split by the key's text before ':' (Correction.type_factors)."""
    out: Dict[str, float] = {}
    for key, ms in blocks:
        t = str(key).split(":", 1)[0]
        out[t] = out.get(t, 0.0) + float(ms)
    return out


def _prediction(resp: "PredictResponse", hardware: str) -> "Prediction":
    for p in resp.predictions:
        if p.hardware == hardware:
            return p
    raise ValidateError(f"--hardware {hardware}: the daemon returned no prediction for it")


def cmd_validate_external(args: argparse.Namespace, client: "Client") -> int:
    if "--exclude-boundary-reorders" in args.command_line.split():
        # a network's own input and output reorders are part of its end-to-end time
        raise ValidateError("--command: whole networks are timed with the layout reorders at "
                            "their inputs and outputs (they pay them once); drop "
                            "--exclude-boundary-reorders, which is for the table's blocks")
    runner = external.Runner(args.command_line, args.parse, args.format, args.tool_timeout,
                             args.version_parse)
    if args.arch:
        nets = load_archs(args.arch)
    else:
        if not args.space:
            raise ValidateError("give --space (random networks) or --arch FILE...")
        if args.samples < 3:
            raise ValidateError(f"--samples: must be >= 3 to fit a correction, got {args.samples}")
        nets = sample_networks(args.space, args.samples, args.seed)
    client.get_hardware(args.hardware)  # NotFound before any export
    preds: Dict[str, "Prediction"]
    macs_params: Dict[str, Tuple[int, int, int]]
    preds, macs_params = {}, {}
    for name, arch in nets:
        # breakdown: the keys the table sums (blocks + head) for the per-key terms
        resp = client.predict(arch, hardware=[args.hardware], breakdown=True)
        p = _prediction(resp, args.hardware)
        macs_params[name] = (int(resp.macs), int(resp.params), len(p.blocks))
        if p.table_version == 0 or p.estimated_from_spec:
            raise ValidateError(f"--hardware {args.hardware}: no measured table to validate "
                                "(measure one with lutnas profile-external)")
        preds[name] = p
    versions = {p.table_version for p in preds.values()}
    version = max(versions)
    table, entries = client.export_table(args.hardware, version)
    if table.reference_ms > 0:
        # the networks in the table's time units, as lutnas-profile validate scales them
        runner.reference_ms = table.reference_ms
    print(f"validate-external: {len(nets)} networks on {args.hardware} (table version "
          f"{version}), {args.format} models", file=sys.stderr)
    rounds = args.rounds if args.rounds is not None else (0 if runner.many else 2)
    if rounds >= 2:
        # a table measured in context holds its keys in its reference model's units
        target = table.reference_ms if "[context" in table.tool else 0.0
        measured = measure_networks_in_rounds(nets, runner, rounds, target, args.onnx_dir,
                                              args.measurements)
    else:
        measured = measure_networks(nets, runner, args.batch, repeats=args.repeats)
    rows: List[Dict[str, Any]]
    failed: List[Dict[str, Any]]
    stats_of: Dict[str, Dict[str, float]]
    rows, failed, stats_of = [], [], {}
    for name, arch in nets:
        ms, stats, err = measured[name]
        stats_of[name] = stats
        p = preds[name]
        row: Dict[str, Any] = {"name": name, "sum_ms": p.sum_ms, "predicted_ms": p.latency_ms,
               "measured_fraction": p.measured_fraction, "measured_ms": ms,
               "blocks": [[b.key, b.latency_ms] for b in p.blocks]}
        if err is not None:
            row["error"] = err
            failed.append(row)
        else:
            spread = 0.0
            # ms is a float here (err is None), which the (ms, stats, err) tuple cannot say
            if stats.get("samples", 1) > 1 and ms > 0:  # type: ignore[operator]
                spread = (stats.get("p90_ms", ms) - stats.get("p10_ms", ms)) / ms  # type: ignore[operator]
            row["spread"] = spread
            if "repeat_spread" in stats:  # --repeats: how far the runs' medians were apart
                row["repeat_spread"] = stats["repeat_spread"]
        rows.append(row)
    ok = [r for r in rows if "error" not in r]
    if args.arch:
        if args.pairs_out:  # the same pairs a fit would get, for fit-correction by hand
            _write_pairs(args.pairs_out, args.hardware, version, args.seed, ok, macs_params)
        return _check_zoo(args, rows, ok, version)
    if len(ok) < 3:
        first = failed[0]["error"] if failed else "none measured"
        raise ValidateError(f"only {len(ok)} of {len(rows)} networks were measured "
                            f"(first failure: {first}); nothing fitted")
    pairs = {"hardware": args.hardware, "table_version": int(version), "seed": args.seed,
             "samples": [{"sum_ms": r["sum_ms"], "measured_ms": r["measured_ms"],
                          "spread": r["spread"], "macs": macs_params[r["name"]][0],
                          "params": macs_params[r["name"]][1],
                          "keys": macs_params[r["name"]][2],
                          "type_ms": type_split(r["blocks"])} for r in ok]}
    lo = table_sum_floor(entries)
    if lo > 0:  # the floor SetCorrection checks a correction against (issue 10)
        pairs["range_ms"] = [min(lo, min(r["sum_ms"] for r in ok)),
                             max(r["sum_ms"] for r in ok)]
    keys_ms = [e.median_ms for e in entries if e.status == 1 and e.median_ms > 0]
    if keys_ms:  # bounds a fitted negative per-key overhead (correction.h)
        pairs["min_key_ms"] = min(keys_ms)
    if runner.reference_drift is not None:
        pairs["reference_drift"] = runner.reference_drift
    if args.pairs_out:
        with open(args.pairs_out, "w") as f:
            json.dump(pairs, f, indent=1)
    spread_known = any(stats_of.get(r["name"], {}).get("samples", 1) > 1 for r in ok)
    if not spread_known:
        for smp in pairs["samples"]:
            smp.pop("spread", None)  # unknown, not 0: the tool printed one number per run
    code, fit = fit_correction(pairs, args.accept_noisy)
    fit["spread_known"] = spread_known
    reps = sorted(r["repeat_spread"] for r in ok if "repeat_spread" in r)
    if reps:  # --repeats: the median network's run-to-run spread
        fit["median_repeat_spread"] = reps[len(reps) // 2]
    fit.update({"hardware": args.hardware, "table_version": int(version), "stored": False,
                "tool": runner.tool(args.command_line), "failed": len(failed),
                "networks": rows})
    if code == 0 and fit.get("accepted", True) and not args.dry_run:
        corr = correction_fields(client, fit["correction"])
        try:
            stored = client.set_correction(args.hardware, version, corr)
        except InvalidArgument as e:  # the daemon's check refused it: nothing stored
            field, _, reason = str(e.details).partition(": ")
            fit["accepted"] = False
            fit.setdefault("refusals", []).append({"field": field, "reason": reason or field})
            code = REFUSED
        else:
            fit["stored"] = True
            fit["stored_correction"] = {
                "scale": stored.correction.scale, "offset_ms": stored.correction.offset_ms,
                "key_ms_per_mparam": stored.correction.key_ms_per_mparam,
                "key_overhead_ms": stored.correction.key_overhead_ms,
                "type_factors": dict(stored.correction.type_factors)}
    _report(args, fit)
    return 0 if code == 0 else REFUSED


def _write_pairs(path: str, hardware: str, version: int, seed: int,
                 ok: Sequence[Mapping[str, Any]],
                 macs_params: Mapping[str, Tuple[int, int, int]]) -> None:
    pairs = {"hardware": hardware, "table_version": int(version), "seed": seed,
             "samples": [{"name": r["name"], "sum_ms": r["sum_ms"],
                          "predicted_ms": r["predicted_ms"], "measured_ms": r["measured_ms"],
                          "spread": r.get("spread", 0.0), "macs": macs_params[r["name"]][0],
                          "params": macs_params[r["name"]][1], "keys": macs_params[r["name"]][2],
                          "type_ms": type_split(r["blocks"])} for r in ok]}
    with open(path, "w") as f:
        json.dump(pairs, f, indent=1)


def _check_zoo(args: argparse.Namespace, rows: Sequence[Mapping[str, Any]],
               ok: Sequence[Mapping[str, Any]], version: int) -> int:
    within = [r for r in ok if abs(r["predicted_ms"] - r["measured_ms"]) / r["measured_ms"] <= 0.10]
    res = {"hardware": args.hardware, "table_version": int(version), "samples": len(ok),
           "within_10pct": len(within) / len(ok) if ok else 0.0,
           "mape": (sum(abs(r["predicted_ms"] - r["measured_ms"]) / r["measured_ms"] for r in ok)
                    / len(ok)) if ok else 0.0,
           "failed": len(rows) - len(ok), "networks": rows}
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{'network':<28} {'sum_ms':>9} {'pred_ms':>9} {'meas_ms':>9} {'err%':>7}")
        for r in rows:
            if "error" in r:
                print(f"{r['name']:<28} failed: {r['error']}")
                continue
            e = 100 * (r["predicted_ms"] - r["measured_ms"]) / r["measured_ms"]
            print(f"{r['name']:<28} {r['sum_ms']:9.3f} {r['predicted_ms']:9.3f} "
                  f"{r['measured_ms']:9.3f} {e:+6.1f}%")
        print(f"{len(within)} of {len(ok)} within 10% (MAPE {100 * res['mape']:.1f}%)")
    return 0 if ok else 1


def _report(args: argparse.Namespace, fit: Mapping[str, Any]) -> None:
    if args.json:
        print(json.dumps(fit, indent=1))
        return
    print(f"{'#':<4} {'sum_ms':>9} {'meas_ms':>9} {'spread':>7}")
    for i, r in enumerate(fit["networks"]):
        if "error" in r:
            print(f"{i:<4} {r['sum_ms']:9.3f} failed: {r['error']}")
        else:
            print(f"{i:<4} {r['sum_ms']:9.3f} {r['measured_ms']:9.3f} {r['spread']:7.3f}")
    pct: Callable[[str], str] = lambda k: f"{100 * fit.get(k, 0):.0f}%"  # noqa: E731
    print(f"{fit.get('samples')} networks: within 10% out of sample (leave-one-out) "
          f"{pct('loo_within_10pct')}, MAPE {pct('loo_mape')}; raw block sum within 10% "
          f"{pct('within_10pct_raw')}, MAPE {pct('mape_raw')}")
    print(f"Kendall tau: table {fit.get('kendall_tau_lut', 0):.3f} (raw sums "
          f"{fit.get('kendall_tau_lut_raw', 0):.3f}), MACs "
          f"{fit.get('kendall_tau_macs', 0):.3f}, params {fit.get('kendall_tau_params', 0):.3f}")
    c = fit.get("correction") or {}
    print(f"correction: scale {c.get('scale', 0):.4f}, offset {c.get('offset_ms', 0):.4f} ms"
          + (f", per key {c.get('key_overhead_ms', 0):+.4g} ms and "
             f"{c.get('key_ms_per_mparam', 0):+.4g} ms per million parameters ({c.get('method')})"
             if c.get("method") in ("key-terms", "type-factors") else ""))
    if c.get("type_factors"):
        print("block-type factors: " + ", ".join(f"{t} {f:.3f}"
                                                for t, f in sorted(c["type_factors"].items())))
    for r in fit.get("refusals") or []:
        print(f"refused: {r.get('field')}: {r.get('reason')}")
    if not fit.get("spread_known", True):
        print("warning: the tool printed one latency per run, so the networks' spread is "
              "unknown and the noise checks could not look at it")
    if fit["stored"]:
        print(f"stored as the correction of {fit['hardware']} version {fit['table_version']}")
    elif fit.get("refusals"):
        print("nothing stored (refused)")
        print(NEXT_STEP)
    else:
        print("nothing stored (--dry-run)")


NEXT_STEP = ("next: re-measure with more rounds (--rounds 4), with the second core idle, or "
             "with more networks (--samples); `--pairs-out F` keeps the pairs to inspect; "
             "--accept-noisy stores the fit anyway (its numbers above say how far to trust it)")

DESCRIPTION = __doc__.split("\n\n", 1)[1].rsplit("\n\nWith --arch", 1)[0]


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", json_flag: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    c = sub.add_parser(
        "validate-external",
        help="run random networks end to end with the table's tool; fit and store the correction",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=DESCRIPTION,
        epilog="example:\n  lutnas validate-external --space search/spaces/edge.json "
               "--hardware host-ort --samples 60 \\\n      --command 'scripts/lutnas bench-onnx "
               "{models}' --parse 'median_ms=([0-9.e+-]+)'")
    c.add_argument("--space", metavar="SPACE.json", help="draw random networks of this space")
    c.add_argument("--arch", nargs="+", metavar="ARCH.json",
                   help="check these networks against the corrected predictions instead")
    c.add_argument("--hardware", required=True, metavar="NAME")
    c.add_argument("--samples", type=int, default=60, metavar="N",
                   help="random networks (default 60)")
    c.add_argument("--seed", type=int, default=1, help="seed of the draw (default 1)")
    c.add_argument("--command", dest="command_line", required=True, metavar="'TOOL {model}'",
                   help="the benchmark command the table was measured with")
    c.add_argument("--parse", required=True, metavar="REGEX",
                   help="regex whose first group is the latency in ms")
    c.add_argument("--version-parse", metavar="REGEX", help="as in profile-external")
    c.add_argument("--repeats", type=external._repeats, default=1, metavar="N",
                   help="measure every batch N times, each a run of its own; a network's latency "
                        "is the median of the runs' medians (default 1)")
    c.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    c.add_argument("--timeout", dest="tool_timeout", type=float, default=300.0, metavar="S",
                   help="seconds per network before the command is killed (default 300)")
    c.add_argument("--batch", type=external._batch_size, default=16, metavar="N",
                   help="networks per batch / per {models} command (default 16)")
    c.add_argument("--accept-noisy", action="store_true",
                   help="store a correction even if the measurements look noisy")
    c.add_argument("--dry-run", action="store_true", help="fit and report, store nothing")
    c.add_argument("--pairs-out", metavar="FILE.json",
                   help="also write the pairs given to lutnas-profile fit-correction (with "
                        "--arch: the networks' pairs, nothing fitted)")
    c.add_argument("--rounds", type=int, default=None, metavar="N",
                   help="time the networks in N interleaved rounds with a reference model, each "
                        "time normalised by it (into the table's units when it was measured in "
                        "context); 0 or 1: one run per --repeats (default: 2 for a {model} "
                        "command, 0 for a {models} runner, which has its own rounds)")
    c.add_argument("--onnx-dir", metavar="DIR",
                   help="with --arch X.json: time DIR/X.onnx (e.g. torchvision's own export) "
                        "instead of lutnas' export of X, where it exists")
    c.add_argument("--measurements", metavar="FILE.json",
                   help="cache of measured networks: reused (in the table's units) and extended, "
                        "so two tables of the same tool are validated on one measurement")
    json_flag(c)
    c.set_defaults(func=cmd_validate_external, subparser=c)
    return c
