"""Python entry points for measuring on the device: thin wrappers over the
`lutnas-profile` binary (C++/LibTorch), found as lutnas.tools.find_tool does
($LUTNAS_BUILD_DIR/bin, the checkout's build/bin, then PATH).

- measure_table(): `lutnas-profile table`: every block key of a space, to a
  table file (or uploaded to a daemon with server=);
- measure(): `lutnas-profile measure --json`: whole networks end to end
  (median, IQR, p10/p90 over interleaved rounds), optionally in a table's
  time units;
- validate(): `lutnas-profile validate --json`: predicted vs measured on
  sampled networks, with the fitted correction (scale, offset_ms);
- fit_correction(): `lutnas-profile fit-correction --json` where the binary
  has it (a newer lutnas-profile), ToolError naming the gap otherwise;
- validate_external(): the vendor-runtime counterpart (lutnas.measure.external),
  where that module provides it.

Each runs the tool as a subprocess and raises lutnas.tools.ToolError with
the tool's last error line when it fails. Latency is noisy: these report
medians and spreads, never single samples.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ..tools import ToolError, find_tool

__all__ = ["measure_table", "measure", "validate", "fit_correction", "validate_external"]

PathLike = Union[str, "os.PathLike[str]"]


def _run(argv: Sequence[str], what: str, ok_codes: Sequence[int] = (0,)) -> str:
    try:
        r = subprocess.run(list(argv), capture_output=True, text=True)
    except OSError as e:
        raise ToolError(f"{argv[0]}: {e.strerror or e}") from None
    if r.returncode not in ok_codes:
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        msg = lines[-1] if lines else f"exit status {r.returncode}"
        raise ToolError(f"{what}: {msg}")
    return r.stdout


def _common(threads: int, rounds: int) -> List[str]:
    args = ["--threads", str(threads)]
    if rounds:
        args += ["--rounds", str(rounds)]
    return args


def measure_table(space: PathLike, hardware: str, out: Optional[PathLike] = None,
                  server: Optional[str] = None, threads: int = 1, rounds: int = 0,
                  resume: bool = False, accept_noisy: bool = False) -> Optional[Path]:
    """Measures every block key of a space file on this machine.

    out: the table file to write (CSV, the format Client.upload_table and
    `lutnas table import` take); server: "host:port" of a lutnasd to upload
    to instead (the hardware must be registered there). Returns out's Path
    (None when uploading). resume: keep the keys out already holds.
    A measurement that stays noisy after re-measuring (reference drift,
    spread, a bimodal reference: the limits validate uses) raises ToolError
    and writes/uploads nothing of it, unless accept_noisy (then the warnings
    go to stderr and the file marks the noisy rows)."""
    if (out is None) == (server is None):
        raise ValueError("give exactly one of out and server")
    argv = [find_tool("lutnas-profile"), "table", "--space", str(space), "--hardware", hardware]
    argv += ["--out", str(out)] if out is not None else ["--server", str(server)]
    argv += _common(threads, rounds)
    if resume:
        argv.append("--resume")
    if accept_noisy:
        argv.append("--accept-noisy")
    _run(argv, f"lutnas-profile table --space {space}")
    return Path(out) if out is not None else None


def measure(archs: Sequence[Union[PathLike, Mapping[str, Any]]], table: Optional[PathLike] = None,
            threads: int = 1, rounds: int = 0, accept_noisy: bool = False) -> List[Dict[str, Any]]:
    """Measures whole networks end to end on this machine.

    archs: architecture files or dicts (the JSON mapping of Architecture).
    table: a table file; the results are then expressed in that table's time
    units (its reference workload), so they compare with its predictions.
    Returns one dict per network: name, hash, median_ms, iqr_ms, p10_ms,
    p90_ms, samples, failed. A noisy run (reference drift, a bimodal
    reference, a wide spread) raises ToolError naming the problem, unless
    accept_noisy: then the figures come back as measured (report their
    spread with them)."""
    with tempfile.TemporaryDirectory(prefix="lutnas-measure-") as tmp:
        files = []
        for i, a in enumerate(archs):
            if isinstance(a, Mapping):
                path = Path(tmp) / f"arch{i}.json"
                path.write_text(json.dumps(dict(a)))
                files.append(str(path))
            else:
                files.append(str(a))
        argv = [find_tool("lutnas-profile"), "measure", *files, "--json", *_common(threads, rounds)]
        if table is not None:
            argv += ["--table", str(table)]
        if accept_noisy:
            argv.append("--accept-noisy")
        out = _run(argv, "lutnas-profile measure")
    result: List[Dict[str, Any]] = json.loads(out)
    return result


NEXT_STEP = ("re-measure with more rounds (rounds=...), with the machine's other cores idle, or "
             "with more samples; or keep the fit anyway with accept_noisy=True (its numbers say "
             "how far to trust it)")


def validate(space: PathLike, table: PathLike, samples: int = 20, seed: int = 1,
             threads: int = 1, rounds: int = 0, write_correction: bool = False,
             accept_noisy: bool = False) -> Dict[str, Any]:
    """Predicted (table sum) vs measured end-to-end latency of `samples`
    networks sampled from a space (at least 3).

    Returns `lutnas-profile validate --json`'s summary: samples,
    within_10pct, mape (with the correction, leave-one-out), their _raw
    forms (plain sums), kendall_tau_lut (the corrected predictions, leave-one-out)
    / _lut_raw (plain sums) / _macs / _params, coverage and
    correction {scale, offset_ms, fitted_on, ... its provenance}, plus
    "accepted" and "refusals": a run too noisy or a fit unsafe to store
    comes back with accepted False and the reasons (never stored).
    write_correction: also store an accepted correction in the table file.
    accept_noisy: accept (and with write_correction store) a fit that the
    noise checks would refuse (`lutnas-profile validate --accept-noisy`).
    A refused summary carries "next_step": what to do about it."""
    if samples < 3:
        raise ValueError("samples must be >= 3")
    argv = [find_tool("lutnas-profile"), "validate", "--space", str(space), "--table", str(table),
            "--samples", str(samples), "--seed", str(seed), "--json", *_common(threads, rounds)]
    if write_correction:
        argv.append("--write-correction")
    if accept_noisy:
        argv.append("--accept-noisy")
    # Exit 3 is an answer, not a failure: the fit was refused (noisy or
    # unsafe); the summary says why ("accepted": false, "refusals").
    out = _run(argv, f"lutnas-profile validate --space {space}", ok_codes=(0, 3))
    summary: Dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if summary.get("accepted") is False:
        summary["next_step"] = NEXT_STEP
    return summary


def fit_correction(pairs: Mapping[str, Any], accept_noisy: bool = False) -> Dict[str, Any]:
    """Fits a sum-to-end-to-end correction from measured pairs with
    `lutnas-profile fit-correction --json` (see that tool for the PAIRS
    format: hardware, table_version, seed, samples [{sum_ms, measured_ms,
    ...}]). Returns its report; "accepted" False (with "refusals") when the
    data is too noisy or unsafe to fit. ToolError when this lutnas-profile
    has no fit-correction."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(dict(pairs), f)
        path = f.name
    try:
        argv = [find_tool("lutnas-profile"), "fit-correction", "--in", path, "--json"]
        if accept_noisy:
            argv.append("--accept-noisy")
        out = _run(argv, "lutnas-profile fit-correction", ok_codes=(0, 3))
    finally:
        os.unlink(path)
    if not out.strip():
        raise ToolError("lutnas-profile fit-correction: this lutnas-profile has no "
                        "fit-correction (build a newer one)")
    report: Dict[str, Any] = json.loads(out)
    return report


def validate_external(*args: Any, **kwargs: Any) -> Any:
    """End-to-end validation of a table measured through a vendor runtime
    (ONNX Runtime, OpenVINO, ...). Forwards to lutnas.measure.external.validate_external
    where this lutnas has it; ToolError otherwise."""
    from . import external

    func = getattr(external, "validate_external", None)
    if func is None:
        raise ToolError("validate_external: this lutnas has no external validation yet "
                        "(lutnas.measure.external.validate_external)")
    return func(*args, **kwargs)
