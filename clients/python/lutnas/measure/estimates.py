"""Estimated (out-of-table) parts of predictions: what was estimated, how,
and measuring exactly what is missing.

A Prediction (one per hardware in a PredictResponse) carries, besides
measured_fraction (the share of sum_ms that was measured):

- missing_keys: the distinct table keys the network needs that the table
  lacks, in network order: the list a vendor tool has to measure;
- estimated_keys: for each, where it occurs, the estimate, its source and
  `method` (how it was estimated, in words) and `share` of sum_ms;
- low_confidence: more than 20% of sum_ms is estimated
  (measured_fraction < LOW_CONFIDENCE_MEASURED_FRACTION).

`lutnas predict --measure-missing` (this machine's devices only) runs
`lutnas-profile table --arch ARCH.json --hardware HW --server ...`, which
measures the missing keys and stores old + new entries as a new table
version, then predicts again.
"""

import subprocess
import sys
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, TextIO, Union

from ..tools import ToolError, find_tool

if TYPE_CHECKING:
    import os

    from ..client import Client
    from ..results import Prediction, PredictResponse

LOW_CONFIDENCE_MEASURED_FRACTION = 0.8  # latency_models/lut.h


def missing_keys(response: Any) -> Dict[str, List[str]]:
    """{hardware: [key, ...]} of a PredictResponse (or of a list of
    Predictions, e.g. a Candidate's latency): the keys each table lacks."""
    preds = getattr(response, "predictions", response)
    return {p.hardware: list(p.missing_keys) for p in preds}


def is_estimated(prediction: "Prediction") -> bool:
    """True when any part of the prediction was not measured."""
    return prediction.measured_fraction < 1.0


def warning_lines(predictions: Iterable["Prediction"]) -> List[str]:
    """One warning line per prediction that is partly estimated."""
    lines: List[str] = []
    for p in predictions:
        if not is_estimated(p):
            continue
        est = 1.0 - p.measured_fraction
        n = len(p.missing_keys)
        if p.estimated_from_spec:
            how = "no table: every key estimated from the device's published peak figures"
        else:
            what = f"{n} key{'s' if n != 1 else ''} not in table v{p.table_version}" if n else \
                "keys not in the table"
            how = f"{what} (see --breakdown; measure them: " + (
                "lutnas predict --measure-missing)" if is_this_machine_name(p.hardware)
                else "lutnas predict --json lists missing_keys for the device's tool)")
        flag = "LOW CONFIDENCE, " if p.low_confidence else ""
        lines.append(f"warning: {p.hardware}: {flag}{est:.0%} of the predicted time is "
                     f"estimated, {how}")
    return lines


def print_estimates(predictions: Iterable["Prediction"], out: Optional[TextIO] = None) -> None:
    """Per hardware, the estimated keys and how each was estimated."""
    out = out or sys.stdout
    for p in predictions:
        if not p.estimated_keys:
            continue
        print(f"\n{p.hardware}: estimated keys (table {p.table_version or '-'}):", file=out)
        for e in p.estimated_keys:
            where = ", ".join(e.where[:3]) + (f" (+{len(e.where) - 3})" if len(e.where) > 3 else "")
            print(f"  {e.key}  {e.latency_ms:.3f} ms x{len(e.where)} = {e.share:.0%}  [{where}]",
                  file=out)
            print(f"      {e.method}" + (f"; closest measured: {e.basis_key}" if e.basis_key
                                         else ""), file=out)


def is_this_machine_name(name: str) -> bool:
    return name.startswith("host-")


def this_machine(client: "Client", hardware: str) -> bool:
    """Whether lutnas-profile on this machine measures `hardware`: a host-*
    device measured with LibTorch (lutnas-profile's runtime)."""
    if not is_this_machine_name(hardware):
        return False
    hw = client.get_hardware(hardware)
    return (hw.backend or "libtorch-cpu") == "libtorch-cpu"


def measure_missing(client: "Client", arch_path: Union[str, "os.PathLike[str]"], response: "PredictResponse", server: str,
                    rounds: int = 0, out: Optional[TextIO] = None,
                    accept_noisy: bool = False) -> List[str]:
    """For every prediction of `response` with missing keys: measure them
    here (lutnas-profile table --arch) into a new table version. Returns the
    hardware names whose tables were extended; raises ToolError when a
    device is not this machine (naming the keys to measure elsewhere) or the
    measurement stayed noisy (unless accept_noisy: then it is stored)."""
    out = out or sys.stderr
    done: List[str] = []
    for p in response.predictions:
        if not p.missing_keys:
            continue
        if p.estimated_from_spec or not this_machine(client, p.hardware):
            raise ToolError(
                f"--measure-missing: {p.hardware} is not this machine (only host-* devices "
                f"measured with LibTorch are); measure its {len(p.missing_keys)} missing keys "
                f"with the device's tool: {', '.join(p.missing_keys)}")
        argv = [find_tool("lutnas-profile"), "table", "--arch", str(arch_path),
                "--hardware", p.hardware, "--server", server]
        if p.table_version:
            argv += ["--version", str(p.table_version)]
        if rounds:
            argv += ["--rounds", str(rounds)]
        if accept_noisy:
            argv.append("--accept-noisy")
        print(f"measuring {len(p.missing_keys)} missing keys on {p.hardware}: "
              + " ".join(argv[1:]), file=out)
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in r.stderr.splitlines():
            if line.startswith(("uploaded", "error", "measured", "warning: noisy")):
                print("  " + line.split("\r")[-1], file=out)
        if r.returncode != 0:
            msg = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
            raise ToolError(f"lutnas-profile table --arch: {msg}")
        done.append(p.hardware)
    return done
