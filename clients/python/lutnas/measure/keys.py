"""A table's keys timed in context, in rounds, re-measured until they
reproduce (within a time cap): the driver behind `profile-external`."""

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from .context import ContextPlan
from .rounds import (FLOOR_FRAC, MIN_MS, TOL, KeyEstimate, Measure, RoundResult, estimate_keys,
                     normalise, run_rounds)


FLOOR_OF_LONE = 0.02  # a key is stored as at least this share of its lone time


@dataclass
class KeysRun:
    """The outcome: estimates per key, the rounds' log, the reference target."""

    estimates: List[KeyEstimate]
    rounds: RoundResult
    target_ms: float
    extra_rounds: int = 0

    def refused(self) -> List[KeyEstimate]:
        """Keys measured but not reproduced: refused by name."""
        return [e for e in self.estimates if e.ms is not None and not e.reproduced]


def measure_plan(plan: ContextPlan, measure: Measure, rounds: int = 2, max_rounds: int = 6,
                 time_cap_s: Optional[float] = None, ref_every: int = 8, target_ms: float = 0.0,
                 tol: float = TOL, floor_frac: float = FLOOR_FRAC, seed: int = 1,
                 on_progress: Optional[Callable[[str, int, int], None]] = None) -> KeysRun:
    """Times every model of the plan in `rounds` interleaved rounds, then
    re-times the models of keys that do not reproduce, two rounds at a time,
    until they do, `max_rounds` is reached or the extra rounds have taken
    time_cap_s (default: as long as the first rounds). target_ms: express
    the run in these reference units (a table's reference_ms), else its own."""
    if rounds < 2:
        raise ValueError("rounds must be >= 2 (the halves judge reproducibility)")

    def prog(what: str) -> Optional[Callable[[int, int], None]]:
        return (lambda d, t: on_progress(what, d, t)) if on_progress else None

    res = run_rounds(plan.models(), measure, rounds, ref_every, seed, None, prog("rounds"))
    cap = res.seconds if time_cap_s is None else time_cap_s
    values, errors, target = normalise(res.log, target_ms)
    est = estimate_keys(plan, values, errors, tol, floor_frac)
    t0 = time.monotonic()
    extra = 0
    while res.rounds + 2 <= max_rounds and time.monotonic() - t0 < cap:
        wide = {e.key for e in est if e.ms is not None and not e.reproduced}
        if not wide:
            break
        names: Dict[str, None] = {}
        for km in plan.keys:
            if km.key in wide:
                for m in km.models(plan.k):
                    names.setdefault(m)
        per_run = res.seconds / max(1, len(res.log))
        if time.monotonic() - t0 + 2 * len(names) * 1.15 * per_run > cap:
            break  # two more rounds of these would overrun the cap
        run_rounds(list(names), measure, 2, ref_every, seed, res,
                   prog(f"re-measuring {len(wide)} keys"))
        extra += 2
        values, errors, target = normalise(res.log, target_ms)
        est = estimate_keys(plan, values, errors, tol, floor_frac)
    for e in est:
        if e.ms is not None:
            # in context a block can cost less than the noise of its chain: it is not free
            e.ms = max(e.ms, MIN_MS, FLOOR_OF_LONE * (e.lone_ms or 0.0))
    return KeysRun(est, res, target, extra)


def refusal(e: KeyEstimate) -> str:
    """Why a key that did not reproduce was left out, with its halves."""
    return (f"did not reproduce: halves {_fmt(e.half_a)} and {_fmt(e.half_b)} ms after "
            f"{e.rounds} rounds")


def entries_of(run: KeysRun) -> List[Dict[str, Any]]:
    """Table entries: reproduced keys measured (median = the estimate; p10/p90
    = the halves; samples = rounds); keys the tool could not run failed with
    its error (the device cannot run them). Keys that did not reproduce are
    left out (KeysRun.refused names them): a prediction then estimates them
    and lists them in missing_keys, as it does for any key not measured."""
    out: List[Dict[str, Any]] = []
    for e in run.estimates:
        if e.ms is not None and not e.reproduced:
            continue
        if e.ms is None:
            out.append({"key": e.key, "median_ms": 0.0, "iqr_ms": 0.0, "p10_ms": 0.0,
                        "p90_ms": 0.0, "samples": 0, "status": "ENTRY_FAILED",
                        "error": e.error or "failed"})
            continue
        halves = [max(MIN_MS, h) for h in (e.half_a, e.half_b) if h is not None]
        lo, hi = min(halves + [e.ms]), max(halves + [e.ms])
        out.append({"key": e.key, "median_ms": e.ms, "iqr_ms": hi - lo, "p10_ms": lo,
                    "p90_ms": hi, "samples": e.rounds, "status": "ENTRY_MEASURED", "error": ""})
    return out


def lone_entries_of(run: KeysRun) -> List[Dict[str, Any]]:
    """The same run as today's lone-model table (each block timed alone)."""
    out: List[Dict[str, Any]] = []
    for e in run.estimates:
        if e.lone_ms is None:
            continue
        out.append({"key": e.key, "median_ms": e.lone_ms, "iqr_ms": 0.0, "p10_ms": e.lone_ms,
                    "p90_ms": e.lone_ms, "samples": e.rounds, "status": "ENTRY_MEASURED",
                    "error": ""})
    return out


def details_of(run: KeysRun) -> Dict[str, Any]:
    """JSON-able details of the run (for --details)."""
    return {"reference_ms": run.target_ms, "rounds": run.rounds.rounds,
            "extra_rounds": run.extra_rounds, "seconds": run.rounds.seconds,
            "reference_drift": run.rounds.reference_drift(),
            "keys": [{"key": e.key, "ms": e.ms, "half_a": e.half_a, "half_b": e.half_b,
                      "lone_ms": e.lone_ms, "rounds": e.rounds, "method": e.method,
                      "reproduced": e.reproduced, "error": e.error} for e in run.estimates]}


def _fmt(v: Optional[float]) -> str:
    return "?" if v is None else f"{v:.4g}"


def measure_models(names: Sequence[str], measure: Measure, rounds: int, ref_every: int = 8,
                   target_ms: float = 0.0, seed: int = 1,
                   on_progress: Optional[Callable[[int, int], None]] = None
                   ) -> Dict[str, Any]:
    """Whole models (networks) timed in interleaved rounds with the
    reference: {"values": {name: ms}, "halves": {name: (a, b)}, "errors":
    {name: error}, "target_ms", "reference_drift"}."""
    import statistics

    res = run_rounds(names, measure, rounds, ref_every, seed, None, on_progress)
    values, errors, target = normalise(res.log, target_ms)
    out: Dict[str, Any] = {"values": {}, "halves": {}, "errors": {}, "target_ms": target,
                           "reference_drift": res.reference_drift()}
    for n in names:
        if n not in values:
            out["errors"][n] = errors.get(n, "not measured")
            continue
        v = values[n]
        rs = sorted(v)
        out["values"][n] = statistics.median(v.values())
        a = [v[r] for r in rs[0::2]]
        b = [v[r] for r in rs[1::2]]
        out["halves"][n] = (statistics.median(a) if a else None,
                            statistics.median(b) if b else None)
    return out
