"""Corrections from the JSON that `lutnas-profile validate --json` and
`lutnas-profile fit-correction --json` print: the fitted correction with its
provenance (fitted_on, mape_before/after, reference drift, seed, when,
method, range), for `lutnas table set-correction --from FILE`.

A fit the tool refused (noisy or unsafe, "accepted": false) is never sent:
loading it raises CorrectionFileError with the tool's reasons.
"""

import json
from typing import Any, Callable, Dict

# Correction fields (lutnas.v1.Correction) taken from the file's "correction".
FIELDS: Dict[str, Callable[[Any], Any]] = {"scale": float, "offset_ms": float, "fitted_on": int, "mape_before": float,
          "mape_after": float, "reference_drift": float, "seed": int,
          "fitted_unix_ms": int, "method": str, "range_min_ms": float,
          "range_max_ms": float, "half_rel_diff": float, "accepted_noisy": bool,
          # the per-key terms and block-type factors (issue 11): a key-terms or
          # type-factors fit stored without them would predict what was not fitted
          "key_overhead_ms": float, "key_ms_per_mparam": float,
          # the fit's validation (issue 24): a fit stored with --accept-noisy
          # carries why it failed, and every prediction from it says so
          "validation_flags": lambda v: [str(x) for x in v], "loo_within_10pct": float,
          "loo_mape": float, "kendall_tau_lut": float, "kendall_tau_macs": float}


class CorrectionFileError(Exception):
    """The file is not a validate/fit-correction result, or its fit was refused."""


def parse(text: str, name: str = "<input>") -> Dict[str, Any]:
    """The Correction fields (a dict) of one validate/fit-correction JSON
    result. `text` may hold other lines (validate prints a table before it):
    the last line that is a JSON object is used."""
    obj = None
    try:
        obj = json.loads(text)
    except ValueError:
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                break
    if not isinstance(obj, dict) or not isinstance(obj.get("correction"), dict):
        raise CorrectionFileError(
            f"{name}: not a `lutnas-profile validate --json` or `fit-correction --json` result "
            "(no \"correction\" object)")
    if obj.get("accepted") is not True:
        why = "; ".join(f"{r.get('field')}: {r.get('reason')}"
                        for r in obj.get("refusals") or []) or "no \"accepted\": true"
        raise CorrectionFileError(f"{name}: the fit was refused, not storing it: {why}")
    corr: Dict[str, Any] = {}
    for k, kind in FIELDS.items():
        v = obj["correction"].get(k)
        if v is None:
            continue
        try:
            corr[k] = kind(v) if kind is not bool else bool(v)
        except (TypeError, ValueError):
            raise CorrectionFileError(f"{name}: correction.{k}: not a {kind.__name__}: {v!r}") from None
    factors = obj["correction"].get("type_factors")
    if factors:
        if not isinstance(factors, dict):
            raise CorrectionFileError(f"{name}: correction.type_factors: not an object: {factors!r}")
        try:
            corr["type_factors"] = {str(t): float(f) for t, f in factors.items()}
        except (TypeError, ValueError):
            raise CorrectionFileError(f"{name}: correction.type_factors: not numbers: {factors!r}") from None
    if "scale" not in corr:
        raise CorrectionFileError(f"{name}: correction.scale: missing")
    return corr


def load(path: str) -> Dict[str, Any]:
    """parse() of a file ("-": stdin)."""
    import sys
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as e:
        raise CorrectionFileError(f"{path}: {e.strerror}") from None
    return parse(text, path)
