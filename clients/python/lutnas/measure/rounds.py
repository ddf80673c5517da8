"""Noise handled by statistics: interleaved rounds, a reference model,
robust estimates, split-half reproducibility.

A noisy board (thermal throttling, frequency scaling, a neighbour's job)
changes the speed of everything for a while. Refusing a table because a
reference moved protects nothing (it always moves); instead

1. every model is timed once per *round*, rounds in fresh shuffled orders,
   so slow drift spreads over all models instead of biasing some;
2. the reference model is timed every `ref_every` models; each time is
   scaled by target / (the reference's time at that moment, interpolated
   between its neighbouring measurements, after a running median of three),
   so the whole run is expressed in the units of one reference time;
3. a model's time is the median of its rounds; a key's latency follows
   from its models' medians (measure.context);
4. the key is judged by whether it *reproduces*: its latency from the odd
   rounds and from the even rounds must agree within `tol` of the key's
   scale (its latency, at least `floor_frac` of the median key's). Keys
   that do not get more rounds, within a time cap; those that still do not
   reproduce are refused by name, and only they.
"""

import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .context import REFERENCE, ContextPlan, KeyModels

# One timing: (sequence number, round, model name, ms or None, error or None).
Timing = Tuple[int, int, str, Optional[float], Optional[str]]
# measure(names) -> [(ms or None, error or None)] per name, in order.
Measure = Callable[[Sequence[str]], List[Tuple[Optional[float], Optional[str]]]]

TOL = 0.10        # halves must agree within 10% of the key's scale
FLOOR_FRAC = 0.5  # ... where the scale is at least half the median key
MIN_MS = 1e-4     # a key that reproduces at or below zero is stored as this


@dataclass
class RoundResult:
    """Every timing of a run (extra rounds append), and the reference target."""

    log: List[Timing] = field(default_factory=list)
    target_ms: float = 0.0    # the reference time the run is expressed in (0: unnormalised)
    rounds: int = 0
    seconds: float = 0.0

    def reference_times(self) -> List[float]:
        return [ms for _, _, n, ms, _ in self.log if n == REFERENCE and ms is not None]

    def reference_drift(self) -> float:
        """(max - min) / median of the reference's times: reported, never a reason to refuse."""
        r = self.reference_times()
        return (max(r) - min(r)) / statistics.median(r) if len(r) > 1 else 0.0


def run_rounds(names: Sequence[str], measure: Measure, rounds: int, ref_every: int = 8,
               seed: int = 1, result: Optional[RoundResult] = None,
               on_progress: Optional[Callable[[int, int], None]] = None) -> RoundResult:
    """Times `names` in `rounds` interleaved rounds (shuffled, the reference
    every ref_every models and at the end), appending to result."""
    res = result or RoundResult()
    seq = max((t[0] for t in res.log), default=-1) + 1
    rng = random.Random(seed * 7919 + res.rounds)
    total = rounds * (len(names) + (len(names) + ref_every - 1) // ref_every + 1)
    done = 0
    t0 = time.monotonic()
    for r in range(res.rounds, res.rounds + rounds):
        order = list(names)
        rng.shuffle(order)
        chunks = [order[i:i + ref_every] for i in range(0, len(order), ref_every)] + [[]]
        for chunk in chunks:
            batch = [REFERENCE] + chunk
            for name, (ms, err) in zip(batch, measure(batch)):
                res.log.append((seq, r, name, ms, err))
                seq += 1
            done += len(batch)
            if on_progress:
                on_progress(done, total)
    res.rounds += rounds
    res.seconds += time.monotonic() - t0
    return res


def _running_median3(vals: List[float]) -> List[float]:
    if len(vals) < 3:
        return list(vals)
    return [vals[0]] + [statistics.median(vals[i - 1:i + 2]) for i in range(1, len(vals) - 1)] \
        + [vals[-1]]


def normalise(log: Sequence[Timing], target_ms: float = 0.0
              ) -> Tuple[Dict[str, Dict[int, float]], Dict[str, str], float]:
    """({model: {round: normalised ms}}, {model: first error}, target).

    target_ms 0: the median of the reference's times. Without a reference
    time the values stay as measured (target 0)."""
    refs = [(s, ms) for s, _, n, ms, _ in log if n == REFERENCE and ms is not None and ms > 0]
    refs.sort()
    smooth = _running_median3([ms for _, ms in refs])
    ref_seq = [s for s, _ in refs]
    target = target_ms if target_ms > 0 else (statistics.median(smooth) if smooth else 0.0)

    def ref_at(s: int) -> float:
        if not ref_seq:
            return 0.0
        import bisect

        j = bisect.bisect_left(ref_seq, s)
        if j <= 0:
            return smooth[0]
        if j >= len(ref_seq):
            return smooth[-1]
        s0, s1 = ref_seq[j - 1], ref_seq[j]
        w = (s - s0) / (s1 - s0) if s1 > s0 else 0.0
        return smooth[j - 1] * (1 - w) + smooth[j] * w

    per: Dict[str, Dict[int, List[float]]] = {}
    errors: Dict[str, str] = {}
    for s, r, name, ms, err in log:
        if name == REFERENCE:
            continue
        if ms is None:
            errors.setdefault(name, err or "failed")
            continue
        ref = ref_at(s)
        v = ms * target / ref if ref > 0 and target > 0 else ms
        per.setdefault(name, {}).setdefault(r, []).append(v)
    out = {n: {r: statistics.median(v) for r, v in rs.items()} for n, rs in per.items()}
    return out, errors, target


@dataclass
class KeyEstimate:
    """One key's latency from the rounds, and whether it reproduced."""

    key: str
    ms: Optional[float]              # None: failed
    half_a: Optional[float] = None   # from the even rounds
    half_b: Optional[float] = None   # from the odd rounds
    lone_ms: Optional[float] = None  # the block timed alone (today's method)
    rounds: int = 0
    method: str = "lone"
    reproduced: bool = False
    error: Optional[str] = None


def _median_over(rounds: Mapping[int, float], which: Optional[Sequence[int]] = None) -> Optional[float]:
    vals = [v for r, v in rounds.items() if which is None or r in which]
    return statistics.median(vals) if vals else None


def estimate_keys(plan: ContextPlan, values: Mapping[str, Mapping[int, float]],
                  errors: Mapping[str, str], tol: float = TOL,
                  floor_frac: float = FLOOR_FRAC) -> List[KeyEstimate]:
    """Every key's estimate from its models' normalised times."""
    out: List[KeyEstimate] = []
    for km in plan.keys:
        est = KeyEstimate(km.key, None, method=km.method)
        out.append(est)
        if km.error:
            est.error = km.error
            continue
        models = km.models(plan.k)
        bad = [m for m in models if m in errors and m not in values]
        if bad and km.lone not in bad and km.lone in values:
            # the tool cannot run the chain or its context (a compiler without
            # ConvTranspose, say): the key falls back to its lone time
            models = [km.lone]
            est.method = "lone"
            km = KeyModels(km.key, km.in_shape, km.out_shape, km.lone)
        elif bad:
            est.error = errors[bad[0]]
            continue
        if any(m not in values for m in models):
            est.error = "not measured"
            continue
        rounds = sorted(set().union(*(set(values[m]) for m in models)))
        est.rounds = min(len(values[m]) for m in models)
        med = {m: _median_over(values[m]) for m in models}
        est.ms = km.value({m: v for m, v in med.items() if v is not None}, plan.k)
        est.lone_ms = med.get(km.lone)
        halves = []
        for h in (rounds[0::2], rounds[1::2]):
            hm = {m: _median_over(values[m], h) for m in models}
            halves.append(km.value({m: v for m, v in hm.items() if v is not None}, plan.k))
        est.half_a, est.half_b = halves
    judge(out, tol, floor_frac)
    return out


def judge(estimates: Sequence[KeyEstimate], tol: float = TOL, floor_frac: float = FLOOR_FRAC) -> None:
    """Sets `reproduced` on every estimate (split halves within tol of its scale)."""
    vals = [abs(e.ms) for e in estimates if e.ms is not None]
    floor = floor_frac * statistics.median(vals) if vals else 0.0
    for e in estimates:
        e.reproduced = (e.ms is not None and e.half_a is not None and e.half_b is not None
                        and reproduces(e.half_a, e.half_b, max(abs(e.ms), floor), tol))


def reproduces(a: float, b: float, scale: float, tol: float = TOL) -> bool:
    """Whether two halves' estimates agree: |a - b| <= tol * scale."""
    return abs(a - b) <= tol * scale
