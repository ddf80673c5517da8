"""`lutnas insights HARDWARE`: what a measured latency table says about a device, in numbers.

Generating docs/insights-host-cpu.md (and its figure) on this machine:

    /usr/bin/python3 scripts/gen_probe_keys.py    # search/keys/insights_probe.txt, 96 conv keys
    build/bin/lutnas-profile table --keys search/keys/insights_probe.txt --hardware host-cpu \\
        --out var/probe-host-cpu.csv
    cd docs && ../scripts/lutnas insights host-cpu --table ../var/probe-host-cpu.csv \\
        -o insights-host-cpu.png > insights-host-cpu.md   # the report links the figure by this path

`--table FILE` reads a table file (CSV or JSON) instead of the daemon, so the probe table
need not become host-cpu's latest version (which searches would then use). To read it from
the daemon, upload it under a hardware of its own (`lutnas hardware add` a copy of host-cpu
named e.g. host-cpu-probe, then `lutnas-profile table --keys ... --hardware host-cpu-probe
--server HOST:PORT` and `lutnas insights host-cpu-probe`). The same works for any device:
`lutnas profile-external --keys-file search/keys/insights_probe.txt --hardware rk3588-npu ...`.
The shipped spaces' own tables (`lutnas insights host-cpu` after scripts/demo) feed sections
(b), (d) and (e); (a) and (c) need the probe's widths and 1x1 convs.

The report, from the measured entries and each key's costs (`lutnas-inspect --keys -`:
MACs and memory bytes at fp32):

(a) channel alignment: conv keys of one family (kernel, stride, groups kind, input size,
    input channels fixed or equal to the width) at several widths. For each step s in
    1/4/8/16/32 the family's latencies are fitted by the cost (MACs, bytes, constant) of the
    widths rounded up to multiples of s; the step whose fit has the least relative error
    (and at least 25% less than no rounding) is the step the device computes in. Evidence:
    for each multiple m, widths just below m cost ratio r of the next multiple's latency while
    their MACs are a ratio c of it; freeness (r - c) / (1 - c) is 1 when the missing
    channels are free and 0 when latency follows MACs.
(b) effective GMAC/s (MACs / latency) of depthwise convs (groups == channels) vs dense
    convs (groups 1), overall and for matching pairs (same kernel, width and input; also only
    widths that are multiples of the step of (a), so that padding does not blur the
    comparison), and of each block type (MBConv vs plain conv and RepVGG).
(c) computational density of 3x3 vs 1x1 dense convs (GMAC/s), overall and matched.
(d) memory-bound blocks: latency ~ a*MACs + b*bytes + c (a, b, c >= 0, relative least
    squares) over every measured key; per block type the share of predicted time from MACs,
    bytes and the constant; the keys whose byte term dominates; the block families whose
    latency ranks follow bytes better than MACs (Kendall tau).
(e) Kendall tau-b of latency vs MACs and vs bytes over all measured keys.

Text output is a Markdown report; --json a dict of the same numbers; -o a 2x2 figure.
"""

import argparse
import json
import math
import sys
from collections import OrderedDict, defaultdict
from typing import (TYPE_CHECKING, Any, Callable, DefaultDict, Dict, Iterable, List, Mapping,
                    Optional, Sequence, Set, Tuple, Union)

from .. import keys, tablefile, tools
from ._common import _f, _is_measured, _md_table, _num, _pct1, _ratio

if TYPE_CHECKING:
    import numpy as np

    from ..client import Client
else:
    try:
        import numpy as np
    except ImportError:  # only `lutnas insights` needs it; the rest of the CLI does not
        np = None

# A parsed key (parse_key), a measured entry with its costs (build_rows), and a
# conv family: (kind, kernel, stride, act, h, w, input channels or "=width").
Parsed = Dict[str, Any]
Row = Dict[str, Any]
Family = Tuple[str, int, int, str, int, int, Union[int, str]]

STEPS = (1, 4, 8, 16, 32)
MULTIPLES = (4, 8, 16, 32)
MIN_WIDTHS = 4          # widths a conv family needs for the alignment fit
MIN_GAIN = 0.25         # a step's fit error must be >= 25% below no rounding's ...
MIN_POINTS = 0.01       # ... and >= 1 percentage point below it
FREE_AT = 0.7           # freeness above which a multiple's missing channels count as free
MIN_FAMILY_KEYS = 4     # keys a family needs for its own Kendall taus
BYTES_PER = 4           # fp32, as lutnas-inspect's default


class InsightsError(RuntimeError):
    """No data to report on (empty table, unknown hardware...)."""


# ============================================================ keys
def parse_key(key: str) -> Dict[str, Any]:
    """'conv:o16,k3,s2,g1,relu@3x64x64' -> {type, fields {o:16,...}, act, flags, cin, h, w}.

    Read through the one key grammar (lutnas/key_grammar.json, generated from
    the C++ block traits): there is no second parser here."""
    try:
        return dict(keys.parse_key(key))
    except ValueError as e:
        raise InsightsError(f"key {key!r}: {e}") from None


def conv_kind(p: Parsed) -> Optional[str]:
    """'dense', 'depthwise' or 'grouped' for a conv key, else None."""
    if p["type"] != "conv":
        return None
    g = p["fields"].get("g", 1)
    if g == 1:
        return "dense"
    if g == p["cin"] and g == p["fields"].get("o"):
        return "depthwise"
    return "grouped"


def block_label(p: Parsed) -> str:
    """The block type for grouping: conv splits into dense / depthwise / grouped."""
    k = conv_kind(p)
    if k == "dense":
        return "conv"
    if k == "depthwise":
        return "dwconv"
    if k == "grouped":
        return "gconv"
    return str(p["type"])


def family_label(p: Parsed) -> str:
    """Block family: type and settings, without widths and input shape."""
    f = dict(p["fields"])
    for width in ("o", "c"):
        f.pop(width, None)
    kind = conv_kind(p)
    if kind == "depthwise":
        f.pop("g", None)
    parts = [block_label(p)] + [f"{k}{v}" for k, v in sorted(f.items())] + p["flags"]
    if p["act"]:
        parts.append(p["act"])
    return " ".join(parts)


# ============================================================ statistics
def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two equal-length sequences (ties in either handled);
    nan when fewer than two points or one side is constant."""
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    n = len(xa)
    if n != len(ya):
        raise ValueError("kendall_tau_b: x and y differ in length")
    if n < 2:
        return float("nan")
    iu = np.triu_indices(n, 1)
    sx = np.sign(xa[:, None] - xa[None, :])[iu]
    sy = np.sign(ya[:, None] - ya[None, :])[iu]
    s = float(np.sum(sx * sy))           # concordant - discordant
    nx = float(np.sum(sx != 0))          # pairs not tied in x
    ny = float(np.sum(sy != 0))
    if nx == 0 or ny == 0:
        return float("nan")
    return s / math.sqrt(nx * ny)


def nnls_fit(X: Any, y: Any, weights: Any = None) -> Tuple[Any, float]:
    """Least squares with every coefficient >= 0, by trying each subset of
    columns (few columns only). Returns (coefficients, weighted SSE)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    wts = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    Xw, yw = X * wts[:, None], y * wts
    ncol = X.shape[1]
    best, best_sse = np.zeros(ncol), float(np.sum(yw ** 2))
    for mask in range(1, 1 << ncol):
        cols = [j for j in range(ncol) if mask >> j & 1]
        coef, *_ = np.linalg.lstsq(Xw[:, cols], yw, rcond=None)
        if np.any(coef < 0):
            continue
        full = np.zeros(ncol)
        full[cols] = coef
        sse = float(np.sum((Xw @ full - yw) ** 2))
        if sse < best_sse - 1e-15 * max(1.0, best_sse):
            best, best_sse = full, sse
    return best, best_sse


def _median(values: Sequence[float]) -> Optional[float]:
    return float(np.median(values)) if len(values) else None


# ============================================================ rows
def build_rows(entries: Iterable[Mapping[str, Any]],
               costs: Mapping[str, Mapping[str, Any]]) -> List[Row]:
    """One dict per measured entry with its parsed key and costs."""
    rows = []
    for e in entries:
        c = costs.get(e["key"])
        if c is None:
            continue
        p = parse_key(e["key"])
        rows.append({
            "key": e["key"], "ms": float(e["median_ms"]), "p": p, "block": block_label(p),
            "family": family_label(p), "macs": int(c["macs"]), "bytes": int(c["mac_bytes"]),
            "out": c.get("out", [0, 0, 0]),
        })
    return rows


def gmacs(row: Row) -> float:
    """Effective GMAC/s of one row."""
    return float(row["macs"]) / (float(row["ms"]) * 1e6)


# ============================================================ (a) alignment
def _conv_out(size: int, k: int, s: int) -> int:
    return (size + 2 * (k // 2) - k) // s + 1


def _padded_cost(p: Parsed, width: int, step: int, pad_in: bool) -> Tuple[int, int]:
    """(MACs, bytes) of a conv key with its width rounded up to a multiple of step
    (and its input channels too when pad_in: they are the width)."""
    up = -(-width // step) * step
    f = p["fields"]
    k, s = f.get("k", 3), f.get("s", 1)
    ho, wo = _conv_out(p["h"], k, s), _conv_out(p["w"], k, s)
    cin = up if pad_in else p["cin"]
    groups = up if conv_kind(p) == "depthwise" else f.get("g", 1)
    macs = up * (cin // groups) * k * k * ho * wo
    nbytes = BYTES_PER * (cin * p["h"] * p["w"] + up * ho * wo + up * (cin // groups) * k * k)
    return macs, nbytes


def conv_families(rows: Sequence[Row]) -> Dict[Family, List[Row]]:
    """{family tuple: [rows sorted by width]} of dense / depthwise conv keys."""
    fams = defaultdict(list)
    for r in rows:
        p = r["p"]
        kind = conv_kind(p)
        if kind not in ("dense", "depthwise"):
            continue
        f = p["fields"]
        tied = kind == "depthwise" or p["cin"] == f["o"]
        fam = (kind, f.get("k", 3), f.get("s", 1), p["act"], p["h"], p["w"],
               "=width" if tied else p["cin"])
        fams[fam].append(r)
    out = {}
    for fam, rs in fams.items():
        rs.sort(key=lambda r: r["p"]["fields"]["o"])
        if len({r["p"]["fields"]["o"] for r in rs}) >= MIN_WIDTHS:
            out[fam] = rs
    return out


def family_name(fam: Family) -> str:
    kind, k, s, act, h, w, cin = fam
    cin_text = "in = width" if cin == "=width" else f"in {cin}"
    return f"{kind} {k}x{k} s{s} {act} @{h}x{w}, {cin_text}".replace("  ", " ")


def _fit_error(rows: Sequence[Row], step: int, tied: bool) -> float:
    """RMS relative error of the family's latencies fitted by the cost of the
    widths rounded up to multiples of step (the better padding variant: width
    only, or input channels too when they are the width)."""
    y = np.array([r["ms"] for r in rows])
    errs: List[float] = []
    for pad_in in ((False, True) if tied else (False,)):
        X = np.array([[*_padded_cost(r["p"], r["p"]["fields"]["o"], step, pad_in), 1.0]
                      for r in rows], dtype=float)
        X[:, 0] /= 1e6
        X[:, 1] /= 2 ** 20
        _, sse = nnls_fit(X, y, weights=1.0 / y)
        errs.append(math.sqrt(sse / len(y)))
    return min(errs)


def _pick_step(err: Mapping[int, float], candidates: Sequence[int]) -> int:
    """The candidate step with the least error, if it beats no rounding (step 1)
    by MIN_GAIN relatively and one percentage point absolutely; else 1."""
    best = min(candidates, key=lambda s: (round(err[s], 9), s))
    if err[best] > (1 - MIN_GAIN) * err[1] or err[1] - err[best] < MIN_POINTS:
        return 1
    return best


def _pairs(rows: Sequence[Row], m: int) -> List[Tuple[int, int, float, float]]:
    """(width, next multiple of m, latency ratio, MACs ratio) of each width in the
    family that is not a multiple of m and whose next multiple was measured."""
    by_w = {r["p"]["fields"]["o"]: r for r in rows}
    out = []
    for w, r in sorted(by_w.items()):
        if w % m == 0:
            continue
        up = -(-w // m) * m
        if up in by_w:
            out.append((w, up, r["ms"] / by_w[up]["ms"], r["macs"] / by_w[up]["macs"]))
    return out


def alignment(rows: Sequence[Row]) -> Dict[str, Any]:
    fams = conv_families(rows)
    result: Dict[str, Any] = {"families": [], "step_fit_error": {}, "testable_steps": [], "best_step": None,
              "multiples": {}, "verdict": ""}
    if not fams:
        result["verdict"] = (f"no conv family with >= {MIN_WIDTHS} widths in this table; "
                             "measure search/keys/insights_probe.txt for this section")
        return result
    totals = {s: 0.0 for s in STEPS}
    testable = set()
    for fam, rs in sorted(fams.items(), key=lambda kv: family_name(kv[0])):
        widths = [r["p"]["fields"]["o"] for r in rs]
        tied = fam[-1] == "=width"
        err = {}
        for s in STEPS:
            if s == 1 or any(w % s for w in widths):
                err[s] = _fit_error(rs, s, tied)
                if s > 1:
                    testable.add(s)
            else:
                err[s] = err[1]  # every width is a multiple: rounding changes nothing
        for s in STEPS:
            totals[s] += err[s]
        result["families"].append({
            "family": family_name(fam), "widths": widths,
            "latency_ms": [r["ms"] for r in rs],
            "ms_per_channel": [r["ms"] / w for r, w in zip(rs, widths)],
            "gmacs": [gmacs(r) for r in rs],
            "fit_error": {str(s): _num(err[s]) for s in STEPS},
            "best_step": _pick_step(err, STEPS),
        })
    n = len(fams)
    mean_err = {s: totals[s] / n for s in STEPS}
    result["step_fit_error"] = {str(s): _num(mean_err[s]) for s in STEPS}
    result["testable_steps"] = sorted(testable)
    best = _pick_step(mean_err, [1] + sorted(testable))
    result["best_step"] = best
    for m in MULTIPLES:
        pairs = [pr for rs in fams.values() for pr in _pairs(rs, m)]
        if not pairs:
            result["multiples"][str(m)] = {"pairs": 0, "testable": False}
            continue
        r = float(np.mean([pr[2] for pr in pairs]))
        c = float(np.mean([pr[3] for pr in pairs]))
        free = [(pr[2] - pr[3]) / (1 - pr[3]) for pr in pairs if pr[3] < 1]
        freeness = float(np.mean(free)) if free else None
        result["multiples"][str(m)] = {
            "pairs": len(pairs), "testable": True, "latency_ratio": r, "macs_ratio": c,
            "freeness": _num(freeness), "free": bool(freeness is not None and freeness >= FREE_AT),
            "examples": [{"width": w, "multiple": up, "latency_ratio": lr, "macs_ratio": mr}
                         for w, up, lr, mr in pairs[:6]],
        }
    untestable = [s for s in STEPS[1:] if s not in testable]
    if best > 1:
        result["verdict"] = (
            f"latency steps every {best} channels: costs of widths rounded up to multiples of "
            f"{best} fit the latencies to {100 * mean_err[best]:.1f}% (rms relative error), "
            f"the plain costs to {100 * mean_err[1]:.1f}% ({n} conv families)")
    else:
        result["verdict"] = (
            f"no channel step: rounding widths up to multiples of any step fits the latencies "
            f"no better than the plain costs ({100 * mean_err[1]:.1f}% rms relative error, "
            f"{n} conv families)")
    if untestable:
        result["verdict"] += (f"; steps {'/'.join(map(str, untestable))} cannot be told apart "
                              "(every measured width is a multiple)")
    return result


# ============================================================ (b), (c) efficiency
def _group_stats(rs: Sequence[Row]) -> Dict[str, Any]:
    if not rs:
        return {"n": 0, "median_gmacs": None, "aggregate_gmacs": None}
    return {"n": len(rs), "median_gmacs": _median([gmacs(r) for r in rs]),
            "aggregate_gmacs": sum(r["macs"] for r in rs) / (sum(r["ms"] for r in rs) * 1e6)}


def _matched(rows_a: Sequence[Row], rows_b: Sequence[Row],
             key: Callable[[Row], Tuple[Any, ...]]) -> Tuple[int, Optional[float]]:
    """Median of GMAC/s(a) / GMAC/s(b) over pairs with the same key(row)."""
    b_by: Dict[Tuple[Any, ...], Row] = {}
    for r in rows_b:
        b_by.setdefault(key(r), r)
    ratios = [gmacs(r) / gmacs(b_by[key(r)]) for r in rows_a if key(r) in b_by]
    return len(ratios), _median(ratios)


def _shape_key(r: Row) -> Tuple[Any, ...]:
    p = r["p"]
    f = p["fields"]
    return (f.get("k", 3), f.get("s", 1), f.get("o"), p["cin"], p["h"], p["w"])


def efficiency(rows: Sequence[Row], step: int = 1) -> Dict[str, Any]:
    convs = [r for r in rows if r["p"]["type"] == "conv"]
    dense = [r for r in convs if conv_kind(r["p"]) == "dense"]
    dw = [r for r in convs if conv_kind(r["p"]) == "depthwise"]
    by_block = defaultdict(list)
    for r in rows:
        by_block[r["block"]].append(r)
    blocks = OrderedDict((b, _group_stats(rs)) for b, rs in sorted(by_block.items()))
    d, w = _group_stats(dense), _group_stats(dw)
    n_pairs, matched = _matched(dense, dw, _shape_key)
    n_al, matched_al = None, None
    if step > 1:
        n_al, matched_al = _matched([r for r in dense if r["p"]["fields"]["o"] % step == 0], dw,
                                    _shape_key)
    conv_med = blocks.get("conv", {}).get("median_gmacs")
    out = {
        "dense": d, "depthwise": w,
        "dense_over_depthwise": _ratio(d["median_gmacs"], w["median_gmacs"]),
        "matched_pairs": n_pairs, "matched_dense_over_depthwise": matched,
        "aligned_step": step if step > 1 else None, "aligned_pairs": n_al,
        "aligned_dense_over_depthwise": matched_al,
        "blocks": blocks,
        "mbconv_over_conv": _ratio(blocks.get("mbconv", {}).get("median_gmacs"), conv_med),
        "mbconv_over_repvgg": _ratio(blocks.get("mbconv", {}).get("median_gmacs"),
                                     blocks.get("repvgg", {}).get("median_gmacs")),
    }
    return out


def kernel_density(rows: Sequence[Row]) -> Dict[str, Any]:
    dense = [r for r in rows if conv_kind(r["p"]) == "dense"]
    k3 = [r for r in dense if r["p"]["fields"].get("k") == 3]
    k1 = [r for r in dense if r["p"]["fields"].get("k") == 1]
    a, b = _group_stats(k3), _group_stats(k1)

    def same(r: Row) -> Tuple[Any, ...]:
        k = _shape_key(r)
        return k[1:]  # all but the kernel

    n_pairs, matched = _matched(k3, k1, same)
    return {"k3": a, "k1": b, "k3_over_k1": _ratio(a["median_gmacs"], b["median_gmacs"]),
            "matched_pairs": n_pairs, "matched_k3_over_k1": matched}


# ============================================================ (d), (e) memory
def memory(rows: Sequence[Row]) -> Dict[str, Any]:
    if len(rows) < 3:
        return {"fit": None, "by_block": {}, "bytes_bound_keys": [], "bytes_families": []}
    y = np.array([r["ms"] for r in rows])
    X = np.array([[r["macs"] / 1e6, r["bytes"] / 2 ** 20, 1.0] for r in rows])
    coef, _ = nnls_fit(X, y, weights=1.0 / y)
    a, b, c = (float(v) for v in coef)
    pred = X @ coef
    rel = np.abs(pred - y) / y
    fit = {"ms_per_mmac": a, "ms_per_mib": b, "overhead_ms": c,
           "median_rel_error": float(np.median(rel)), "mean_rel_error": float(np.mean(rel))}
    by_block = OrderedDict()
    groups = defaultdict(list)
    for i, r in enumerate(rows):
        groups[r["block"]].append(i)
    for blk, idx in sorted(groups.items()):
        tm = float(sum(a * X[i, 0] for i in idx))
        tb = float(sum(b * X[i, 1] for i in idx))
        tc = float(c * len(idx))
        tot = tm + tb + tc
        xs = [rows[i] for i in idx]
        by_block[blk] = {
            "n": len(idx),
            "macs_share": _num(tm / tot) if tot else None,
            "bytes_share": _num(tb / tot) if tot else None,
            "overhead_share": _num(tc / tot) if tot else None,
            "tau_macs": _num(kendall_tau_b([r["ms"] for r in xs], [r["macs"] for r in xs])),
            "tau_bytes": _num(kendall_tau_b([r["ms"] for r in xs], [r["bytes"] for r in xs])),
        }
    bound = []
    for i, r in enumerate(rows):
        tm, tb = a * X[i, 0], b * X[i, 1]
        if tb > tm:
            bound.append({"key": r["key"], "block": r["block"], "ms": r["ms"],
                          "bytes_share": float(tb / pred[i]) if pred[i] else None,
                          "macs_share": float(tm / pred[i]) if pred[i] else None})
    bound.sort(key=lambda d: -(d["bytes_share"] or 0))
    fams = defaultdict(list)
    for r in rows:
        fams[r["family"]].append(r)
    bytes_fams = []
    for fam, xs in sorted(fams.items()):
        if len(xs) < MIN_FAMILY_KEYS:
            continue
        tm = kendall_tau_b([r["ms"] for r in xs], [r["macs"] for r in xs])
        tb = kendall_tau_b([r["ms"] for r in xs], [r["bytes"] for r in xs])
        if math.isfinite(tb) and (not math.isfinite(tm) or tb > tm):
            bytes_fams.append({"family": fam, "n": len(xs), "tau_macs": _num(tm),
                               "tau_bytes": _num(tb)})
    return {"fit": fit, "by_block": by_block, "bytes_bound_keys": bound,
            "bytes_families": bytes_fams}


def kendall(rows: Sequence[Row]) -> Dict[str, Any]:
    ms = [r["ms"] for r in rows]
    return {"n": len(rows),
            "latency_vs_macs": _num(kendall_tau_b(ms, [r["macs"] for r in rows])),
            "latency_vs_bytes": _num(kendall_tau_b(ms, [r["bytes"] for r in rows]))}


# ============================================================ the report
def require_numpy() -> None:
    if np is None:
        raise InsightsError("lutnas insights needs numpy, which is not importable "
                            "(Debian: apt-get install python3-numpy)")


def analyze(info: Mapping[str, Any], entries: Sequence[Mapping[str, Any]],
            costs: Optional[Mapping[str, Mapping[str, Any]]] = None
            ) -> Tuple[Dict[str, Any], List[Row]]:
    """The report dict of one table. info: TableInfo dict; entries: entry
    dicts (LatencyEntry field names, status as a name); costs: {key: cost}
    (default: from lutnas-inspect)."""
    require_numpy()
    measured = [e for e in entries if e.get("status", "ENTRY_MEASURED") in
                ("ENTRY_MEASURED", 1) and float(e.get("median_ms", 0)) > 0]
    kept = {id(e) for e in measured}
    failed = [e for e in entries if id(e) not in kept]
    if not measured:
        raise InsightsError(f"table of {info.get('hardware', '?')} has no measured entry")
    if costs is None:
        costs = tools.key_costs([e["key"] for e in measured])
    rows = build_rows(measured, costs)
    align = alignment(rows)
    failed_by: DefaultDict[str, int] = defaultdict(int)
    for e in failed:
        failed_by[block_label(parse_key(e["key"]))] += 1
    return {
        "hardware": info.get("hardware", ""), "version": int(info.get("version", 0) or 0),
        "space": info.get("space", ""), "backend": info.get("backend", ""),
        "tool": info.get("tool", ""),
        "entries": len(entries), "measured": len(rows), "failed": len(failed),
        "failed_by_block": dict(sorted(failed_by.items())),
        "alignment": align,
        "efficiency": efficiency(rows, align["best_step"] or 1),
        "kernel_density": kernel_density(rows),
        "memory": memory(rows),
        "kendall": kendall(rows),
    }, rows


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def render_text(rep: Mapping[str, Any], figure: Optional[str] = None) -> str:
    """The report as Markdown text."""
    out = []
    ver = f"table v{rep['version']}" if rep["version"] else "table file"
    out.append(f"# lutnas insights: {rep['hardware']}")
    out.append("")
    out.append(f"{ver}{', space ' + rep['space'] if rep['space'] else ''}"
               f"{', backend ' + rep['backend'] if rep['backend'] else ''}: "
               f"{rep['measured']} measured keys, {rep['failed']} failed"
               + (" (" + ", ".join(f"{k} {v}" for k, v in rep["failed_by_block"].items()) + ")"
                  if rep["failed"] else "") + ".")
    if figure:
        out += ["", f"![insights]({figure})"]

    a = rep["alignment"]
    out += ["", "## (a) Channel alignment", "", a["verdict"] + "."]
    if a["families"]:
        out += ["", "Fit error (rms relative, mean over families) of latency ~ cost of the widths "
                "rounded up to multiples of the step:", ""]
        out.append(_md_table(["step"] + [str(s) for s in STEPS],
                             [["fit error"] + [_pct1(a["step_fit_error"][str(s)])
                                               for s in STEPS]]))
        rows = []
        for m in MULTIPLES:
            d = a["multiples"][str(m)]
            if not d["testable"]:
                rows.append([m, 0, "-", "-", "-", "untestable"])
                continue
            ex = ", ".join(f"{e['width']}->{e['multiple']}: {e['latency_ratio']:.2f}x"
                           for e in d["examples"][:3])
            rows.append([m, d["pairs"], f"{d['latency_ratio']:.2f}", f"{d['macs_ratio']:.2f}",
                         _f(d["freeness"], ".2f"),
                         ("free" if d["free"] else "not free") + (f" ({ex})" if ex else "")])
        out += ["", "Widths just below a multiple vs the multiple itself (latency ratio r, "
                "MACs ratio c, freeness (r-c)/(1-c): 1 = the missing channels are free):", ""]
        out.append(_md_table(["multiple", "pairs", "latency ratio", "MACs ratio", "freeness",
                              "verdict (examples)"], rows))
        fam = _showcase_family(a)
        if fam:
            out += ["", f"Latency per output channel, {fam['family']}:", ""]
            out.append(_md_table(["width", "ms", "ms/channel", "GMAC/s"], [
                [w, f"{ms:.4g}", f"{pc:.4g}", f"{g:.3g}"] for w, ms, pc, g in
                zip(fam["widths"], fam["latency_ms"], fam["ms_per_channel"], fam["gmacs"])]))
        out += ["", "Per family (best step, fit error at steps " + "/".join(map(str, STEPS))
                + "):", ""]
        out.append(_md_table(["family", "widths", "best step", "fit error"], [
            [f["family"], f"{f['widths'][0]}..{f['widths'][-1]} ({len(f['widths'])})",
             f["best_step"], " / ".join(_pct1(f["fit_error"][str(s)]) for s in STEPS)]
            for f in a["families"]]))

    e = rep["efficiency"]
    out += ["", "## (b) Depthwise vs dense convolution, and block types", ""]
    out.append(_md_table(["convs", "keys", "median GMAC/s", "aggregate GMAC/s"], [
        ["dense (groups 1)", e["dense"]["n"], _f(e["dense"]["median_gmacs"]),
         _f(e["dense"]["aggregate_gmacs"])],
        ["depthwise (groups = channels)", e["depthwise"]["n"],
         _f(e["depthwise"]["median_gmacs"]), _f(e["depthwise"]["aggregate_gmacs"])]]))
    out.append("")
    if e["dense_over_depthwise"] is not None:
        out.append(f"Dense convs run {e['dense_over_depthwise']:.2f}x the MACs per second of "
                   f"depthwise convs (medians)"
                   + (f"; {e['matched_dense_over_depthwise']:.2f}x over {e['matched_pairs']} "
                      "pairs of the same kernel, width and input"
                      if e["matched_pairs"] else "")
                   + (f"; {e['aligned_dense_over_depthwise']:.2f}x over the "
                      f"{e['aligned_pairs']} pairs whose width is a multiple of "
                      f"{e['aligned_step']}" if e["aligned_pairs"] else "") + ".")
    else:
        out.append("Not enough dense and depthwise conv keys to compare.")
    out += ["", _md_table(["block", "keys", "median GMAC/s", "aggregate GMAC/s"], [
        [b, s["n"], _f(s["median_gmacs"]), _f(s["aggregate_gmacs"])]
        for b, s in e["blocks"].items()])]
    cmp_ = []
    if e["mbconv_over_conv"] is not None:
        cmp_.append(f"MBConv blocks reach {e['mbconv_over_conv']:.2f}x the GMAC/s of plain convs")
    if e["mbconv_over_repvgg"] is not None:
        cmp_.append(f"{e['mbconv_over_repvgg']:.2f}x that of RepVGG blocks")
    if cmp_:
        out += ["", "; ".join(cmp_) + " (medians)."]

    k = rep["kernel_density"]
    out += ["", "## (c) 3x3 vs 1x1 density (dense convs)", ""]
    out.append(_md_table(["kernel", "keys", "median GMAC/s", "aggregate GMAC/s"], [
        ["3x3", k["k3"]["n"], _f(k["k3"]["median_gmacs"]), _f(k["k3"]["aggregate_gmacs"])],
        ["1x1", k["k1"]["n"], _f(k["k1"]["median_gmacs"]), _f(k["k1"]["aggregate_gmacs"])]]))
    out.append("")
    if k["k3_over_k1"] is not None:
        out.append(f"3x3 convs compute {k['k3_over_k1']:.2f}x the MACs per second of 1x1 convs"
                   + (f"; {k['matched_k3_over_k1']:.2f}x over {k['matched_pairs']} pairs of "
                      "the same width and input." if k["matched_pairs"] else "."))
    else:
        out.append("Not enough 3x3 and 1x1 dense conv keys to compare.")

    mem = rep["memory"]
    out += ["", "## (d) Memory-bound blocks", ""]
    if mem["fit"]:
        fit = mem["fit"]
        out.append(f"Fit over {rep['measured']} keys: latency = {fit['ms_per_mmac'] * 1e3:.4g} ms"
                   f"/GMAC * MACs + {fit['ms_per_mib']:.4g} ms/MiB * bytes + "
                   f"{fit['overhead_ms']:.4g} ms (median error "
                   f"{100 * fit['median_rel_error']:.1f}%, mean {100 * fit['mean_rel_error']:.1f}%).")
        out += ["", _md_table(["block", "keys", "MACs share", "bytes share", "constant share",
                               "tau vs MACs", "tau vs bytes"], [
            [b, s["n"], _pct(s["macs_share"]), _pct(s["bytes_share"]), _pct(s["overhead_share"]),
             _f(s["tau_macs"], ".2f"), _f(s["tau_bytes"], ".2f")]
            for b, s in mem["by_block"].items()])]
        bound = mem["bytes_bound_keys"]
        out += ["", f"{len(bound)} keys spend more predicted time on bytes than on MACs"
                + (":" if bound else ".")]
        if bound:
            counts: DefaultDict[str, int] = defaultdict(int)
            for d in bound:
                counts[d["block"]] += 1
            out.append("by block: " + ", ".join(f"{b} {n}" for b, n in sorted(counts.items()))
                       + "; the most byte-bound:")
            out += [f"- `{d['key']}`: {_pct(d['bytes_share'])} bytes, {d['ms']:.4g} ms"
                    for d in bound[:8]]
        bf = mem["bytes_families"]
        out += ["", "Block families whose latency ranks follow bytes more than MACs "
                "(Kendall tau within the family):" if bf else
                "No block family's latency ranks follow bytes more than MACs."]
        out += [f"- {d['family']} ({d['n']} keys): tau bytes {d['tau_bytes']:.2f} vs "
                f"MACs {_f(d['tau_macs'], '.2f')}" for d in bf]
    else:
        out.append("Too few measured keys to fit.")

    t = rep["kendall"]
    out += ["", "## (e) Ranking: Kendall tau-b over all measured keys", ""]
    out.append(f"latency vs MACs {_f(t['latency_vs_macs'], '.3f')}, latency vs memory bytes "
               f"{_f(t['latency_vs_bytes'], '.3f')} ({t['n']} keys)"
               + (": " + ("bytes" if (t["latency_vs_bytes"] or 0) > (t["latency_vs_macs"] or 0)
                          else "MACs") + " rank latency better."
                  if t["latency_vs_macs"] is not None and t["latency_vs_bytes"] is not None
                  else "."))
    return "\n".join(out) + "\n"


def _showcase_family(a: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The family with the most widths, dense 3x3 first."""
    if not a["families"]:
        return None
    best: Dict[str, Any] = max(a["families"], key=lambda f: (
        len(f["widths"]), f["family"].startswith("dense 3x3"), f["family"]))
    return best


# ============================================================ figure
def plot(rep: Mapping[str, Any], rows: Sequence[Row], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = sorted({r["block"] for r in rows})
    cmap = plt.get_cmap("tab10")
    color = {b: cmap(i % 10) for i, b in enumerate(blocks)}
    fig, axes = plt.subplots(2, 2, figsize=(12, 9), dpi=110)
    try:
        ax = axes[0][0]
        for b in blocks:
            xs = [r for r in rows if r["block"] == b and r["macs"] > 0]
            ax.scatter([r["macs"] / 1e6 for r in xs], [r["ms"] for r in xs], s=12,
                       color=color[b], label=f"{b} ({len(xs)})", alpha=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("MMACs")
        ax.set_ylabel("latency (ms)")
        t = rep["kendall"]
        ax.set_title(f"latency vs MACs (Kendall tau {_f(t['latency_vs_macs'], '.2f')}, "
                     f"vs bytes {_f(t['latency_vs_bytes'], '.2f')})", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3, which="both")

        ax = axes[0][1]
        eff = rep["efficiency"]["blocks"]
        names = [b for b in eff if eff[b]["median_gmacs"]]
        vals = [eff[b]["median_gmacs"] for b in names]
        ax.bar(names, vals, color=[color.get(b, "grey") for b in names])
        for i, b in enumerate(names):
            ax.text(i, vals[i], f"{vals[i]:.3g}\nn={eff[b]['n']}", ha="center", va="bottom",
                    fontsize=7)
        ax.set_ylabel("median effective GMAC/s")
        ax.set_title("compute efficiency by block type", fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)

        ax = axes[1][0]
        a = rep["alignment"]
        fam = _showcase_family(a)
        if fam:
            ax.plot(fam["widths"], fam["latency_ms"], "o-", ms=4, color="#bf1e2e")
            step = a["best_step"] if a["best_step"] and a["best_step"] > 1 else 16
            top = max(fam["widths"])
            for mlt in range(step, top + step, step):
                ax.axvline(mlt, color="#4c566a", lw=0.6, ls="--", alpha=0.6)
            ax.set_xlabel(f"width (output channels); dashed: multiples of {step}")
            ax.set_ylabel("latency (ms)")
            ax.set_title(f"{fam['family']}\nbest step {a['best_step']}", fontsize=9)
            ax.grid(True, alpha=0.3)
        else:
            ax.text(0.5, 0.5, "no conv family with enough widths\n"
                    "(measure search/keys/insights_probe.txt)", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()

        ax = axes[1][1]
        mem = rep["memory"]["by_block"]
        names = list(mem)
        if names:
            ms_ = np.array([mem[b]["macs_share"] or 0 for b in names])
            bs_ = np.array([mem[b]["bytes_share"] or 0 for b in names])
            cs_ = np.array([mem[b]["overhead_share"] or 0 for b in names])
            ax.bar(names, ms_, label="MACs", color="#5e81ac")
            ax.bar(names, bs_, bottom=ms_, label="bytes", color="#d08770")
            ax.bar(names, cs_, bottom=ms_ + bs_, label="constant", color="#a3be8c")
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("share of predicted latency")
            ax.legend(fontsize=8)
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.set_title("where the time goes: a*MACs + b*bytes + c", fontsize=10)
        fig.suptitle(f"lutnas insights: {rep['hardware']}"
                     + (f" table v{rep['version']}" if rep["version"] else "")
                     + f" ({rep['measured']} measured keys)")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


# ============================================================ the command
def _read_table_file(path: str) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise InsightsError(f"{path}: {e.strerror or e}") from None
    if path.lower().endswith(".json"):
        info, entries = tablefile.read_json(text)
    else:
        info, entries = tablefile.read_csv_table(text)
    return dict(info), [dict(x) for x in entries]


def merge_entries(files: Sequence[Sequence[Mapping[str, Any]]]) -> List[Dict[str, Any]]:
    """The entries of several table files of one hardware, one per key: a key
    in one file keeps its entry; a key measured in several (runs of the same
    keys) gets the median of their medians, on the entry of the run closest to
    it, with 'runs' set to their number, so that one run the host disturbed does
    not decide it; a key no file measured keeps its last (failed) entry."""
    groups: Dict[str, List[Mapping[str, Any]]] = {}
    for entries in files:
        for e in entries:
            groups.setdefault(str(e["key"]), []).append(e)
    out: List[Dict[str, Any]] = []
    for group in groups.values():
        ok = [e for e in group if _is_measured(e)]
        if len(ok) <= 1:
            out.append(dict(ok[0] if ok else group[-1]))
            continue
        values = sorted(float(e["median_ms"]) for e in ok)
        mid = len(values) // 2
        med = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        base = min(ok, key=lambda e: abs(float(e["median_ms"]) - med))
        out.append(dict(base, median_ms=med, runs=len(ok)))
    return out


def load_table(args: argparse.Namespace, client: Optional["Client"]
               ) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """(info dict, entry dicts) from --table FILE(s) or the daemon; several files
    are merged by merge_entries."""
    from ..messages import to_dict

    if args.table:
        info: Dict[str, Any] = {}
        files: List[List[Dict[str, Any]]] = []
        for path in args.table:
            finfo, entries = _read_table_file(path)
            info = info or finfo
            files.append(entries)
        info.setdefault("hardware", args.hardware)
        return info, merge_entries(files)
    if client is None:
        raise InsightsError("no --table file and no daemon to read the table from")
    tinfo, tentries = client.export_table(args.hardware, args.version)
    return to_dict(tinfo), [to_dict(e) for e in tentries]
