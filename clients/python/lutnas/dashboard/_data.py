"""What the dashboard shows, computed from lutnas.Client results: plain
functions and one cache, no Flask (unit-testable, typed).

The Pareto view of a large job must open fast although listing 50,000
candidates takes the daemon several seconds: PointCache keeps each job's
candidates as compact points (id, costs, latency per device, flags), filled
by a background thread that reads pages spread over the whole job first
(so a half-filled cache is already a sample of every generation), and
sample_points thins them to a few thousand for the browser: every Pareto
point, and per cell of a grid over the plot at most as many points as keep
the total under the limit (sparse regions and outliers stay whole).
"""

from __future__ import annotations

import datetime
import math
import random
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Sequence, Tuple

from .. import render
from ..errors import InvalidArgument
from ..results import TERMINAL_STATES, JobState

#: Page size of the background fetch (the daemon's maximum).
FETCH_PAGE = 1000
#: Axes the Pareto explorer plots against latency.
Y_AXES = ("score", "params", "macs", "mac_bytes")
Y_LABELS = {"score": "score (objective, higher is better)", "params": "parameters",
            "macs": "MACs (multiply-accumulates)", "mac_bytes": "memory access (bytes)"}
SOURCE_LABELS = {"SOURCE_MEASURED": "measured", "SOURCE_INTERPOLATED": "interpolated",
                 "SOURCE_ROOFLINE": "roofline (spec)", "SOURCE_COST_MODEL": "cost model",
                 "LATENCY_SOURCE_UNSPECIFIED": "?"}


def offset_token(offset: int) -> str:
    """The page token of the row at `offset`: lutnasd's tokens are "o<offset>"
    (db/store_candidates.cc). Built here to read pages out of order; every
    caller falls back to walking the pages when the daemon refuses one."""
    return f"o{offset}" if offset > 0 else ""


def page_at(client: Any, offset: int, page_size: int, **filters: Any) -> Any:
    """One CandidatePage starting at row `offset` of the filtered order."""
    try:
        return client.list_candidates(page_size=page_size, page_token=offset_token(offset),
                                      **filters)
    except InvalidArgument:
        if offset == 0:
            raise
    # The token format changed: walk from the start (slow but right).
    token, seen = "", 0
    while True:
        page = client.list_candidates(page_size=page_size, page_token=token, **filters)
        if seen + len(page.candidates) > offset or not page.next_page_token:
            skip = max(0, offset - seen)
            return page._replace(candidates=page.candidates[skip:])
        seen += len(page.candidates)
        token = page.next_page_token


# ------------------------------------------------------------------ jobs
def _when(unix_ms: int) -> str:
    if not unix_ms:
        return ""
    t = datetime.datetime.fromtimestamp(unix_ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def progress_text(job: Any) -> Tuple[float, str]:
    """(fraction done, one line) of a Job: the initial population and each
    generation are one step each; inside a step, its evaluations so far."""
    spec, p = job.spec, job.progress
    st = JobState(int(job.state))
    gens = int(p.generations or spec.generations or 20)
    steps = gens + 1  # the initial population, then the generations
    done = int(p.generation) + 1 if int(p.evaluated) > 0 else 0
    inside, size = int(p.generation_evaluated), int(p.generation_size)
    frac = 1.0 if st is JobState.JOB_SUCCEEDED else min(
        1.0, (done + (min(1.0, inside / size) if size and st is JobState.JOB_RUNNING else 0.0))
        / steps)
    best = f"{float(p.best_score):.4g}" if int(p.evaluated) else "-"
    head = f"generation {done - 1} of {gens} · " if done else ""
    text = (f"{head}{int(p.evaluated)} evaluated · {int(p.feasible)} feasible · best {best} · "
            f"Pareto {int(p.pareto_size)} · {float(p.elapsed_s):.1f} s")
    if st is JobState.JOB_RUNNING:
        if size:
            step = f"generation {done}" if done else "initial population"
            text += f" · {step}: {inside}/{size} evaluated"
        if int(spec.objective) == 5:  # EXTERNAL: it moves when scores are told
            text += " · waiting for scores (ask/tell)"
        elif float(p.eta_s) > 0:
            text += f" · about {float(p.eta_s):.0f} s left"
    return frac, text


def job_summary(job: Any) -> Dict[str, Any]:
    """A Job (result wrapper) as the plain values the pages and the JSON API use."""
    frac, text = progress_text(job)
    spec, p = job.spec, job.progress
    st = JobState(int(job.state))
    state = st.label
    return {
        "id": int(job.id), "name": spec.name, "state": state,
        "terminal": st in TERMINAL_STATES,
        # What the daemon's Cancel accepts (FailedPrecondition otherwise).
        "cancellable": st in (JobState.JOB_QUEUED, JobState.JOB_RUNNING),
        "error": job.error,
        "fraction": frac, "progress_text": text,
        "generation": int(p.generation), "generations": int(p.generations or spec.generations),
        "evaluated": int(p.evaluated), "feasible": int(p.feasible),
        "best_score": float(p.best_score), "pareto_size": int(p.pareto_size),
        "elapsed_s": float(p.elapsed_s), "eta_s": float(p.eta_s),
        "space": spec.space or ("inline: " + (spec.space_inline.name or "unnamed")),
        "algorithm": spec.algorithm.name, "objective": spec.objective.name,
        "population": int(spec.population), "seed": int(spec.seed),
        "max_params": int(spec.max_params), "max_macs": int(spec.max_macs),
        "budgets": [{"hardware": b.hardware, "max_ms": float(b.max_ms),
                     "table_version": int(b.table_version)} for b in spec.budgets],
        "report_hardware": list(spec.report_hardware),
        "soft_constraint": bool(spec.soft_constraint),
        "created": _when(int(job.created_unix_ms)), "updated": _when(int(job.updated_unix_ms)),
    }


def job_devices(summary: Mapping[str, Any]) -> List[str]:
    """Budgeted devices first, then those only reported."""
    names = [b["hardware"] for b in summary["budgets"]]
    return names + [h for h in summary["report_hardware"] if h not in names]


# ------------------------------------------------------------------ points
class Point(NamedTuple):
    """One candidate as the Pareto explorer needs it."""

    id: int
    score: float
    params: int
    macs: int
    mac_bytes: int
    feasible: bool
    pareto: bool
    latency: Dict[str, float]  #: ms per device
    measured: Dict[str, float]  #: measured share of the block sum per device


def to_point(c: Any) -> Point:
    return Point(int(c.id), float(c.score), int(c.params), int(c.macs), int(c.mac_bytes),
                 bool(c.feasible), bool(c.pareto),
                 {p.hardware: float(p.latency_ms) for p in c.latency},
                 {p.hardware: (0.0 if p.estimated_from_spec else float(p.measured_fraction))
                  for p in c.latency})


def spread_order(pages: int) -> List[int]:
    """Page indexes so that every prefix is spread over the whole range:
    0, n/2, n/4, 3n/4, ... (each index once)."""
    order: List[int] = [0] if pages > 0 else []
    seen = set(order)
    step = 1
    while step < pages:
        for k in range(step):
            i = (2 * k + 1) * pages // (2 * step)
            if i < pages and i not in seen:
                seen.add(i)
                order.append(i)
        step *= 2
    order += [i for i in range(pages) if i not in seen]
    return order


class _JobPoints:
    def __init__(self) -> None:
        self.points: Dict[int, Point] = {}
        self.total = 0
        self.complete = False
        self.fetching = False
        self.error = ""
        self.fetched_at = 0.0
        self.evaluated = -1  # the job's progress.evaluated the cache was filled at
        self.terminal = False
        self.first_page = False  # the front and the first page are in
        self.done = threading.Event()
        # Set by the request after the one that started the fetch: the rest of
        # the pages wait for it (3 s at most), so the daemon and this process
        # leave the CPU to the browser until it has drawn the first answer.
        self.go_on = threading.Event()


class PointCache:
    """Compact points of each job's candidates, filled in the background.

    Thread-safe: Flask's threads call get(); one fetch thread per job at a
    time. A finished job is read once; a running job is read again (only
    the pages past what is cached) when its evaluated count moved and the
    last fetch is `refresh_s` old.
    """

    def __init__(self, client_factory: Callable[[], Any], refresh_s: float = 2.0) -> None:
        self._client = client_factory
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._jobs: Dict[int, _JobPoints] = {}

    def get(self, job: Mapping[str, Any], wait_s: float = 1.5, enough: int = 3000
            ) -> Tuple[List[Point], int, bool, str, Tuple[float, int]]:
        """(points cached so far, total, complete, error, stamp) of a job
        summary; the stamp changes whenever the points may have.

        Starts or refreshes the fetch, then waits up to wait_s for it to end,
        to hold `enough` points, or (when something was cached already or the
        front and one page are in) not at all: the page asks again for the rest."""
        jid = int(job["id"])
        with self._lock:
            e = self._jobs.setdefault(jid, _JobPoints())
            stale = (not e.complete or
                     (not e.terminal and e.evaluated != job["evaluated"] and
                      time.monotonic() - e.fetched_at >= self._refresh_s) or
                     (job["terminal"] and not e.terminal))
            had = len(e.points)
            if had:
                e.go_on.set()
            if stale and not e.fetching:
                e.fetching = True
                e.first_page = False
                e.done.clear()
                threading.Thread(target=self._fetch, args=(jid, e, dict(job)),
                                 name=f"dashboard-points-{jid}", daemon=True).start()
        deadline = time.monotonic() + wait_s
        while not e.done.wait(0.02) and time.monotonic() < deadline:
            with self._lock:
                if had or e.first_page or len(e.points) >= enough:
                    break
        with self._lock:
            complete = e.complete and not e.fetching
            stamp = (e.fetched_at if complete else -time.monotonic(), len(e.points))
            return list(e.points.values()), e.total, complete, e.error, stamp

    def _fetch(self, jid: int, e: _JobPoints, job: Mapping[str, Any]) -> None:
        try:
            client = self._client()
            # The Pareto front first (one short call): every draw shows all of it.
            front = {int(c.id): to_point(c) for c in client.iter_candidates(
                job_id=jid, pareto_only=True, page_size=FETCH_PAGE)}
            with self._lock:
                known = len(e.points)
                for pid, pt in list(e.points.items()):
                    if pt.pareto and pid not in front:
                        e.points[pid] = pt._replace(pareto=False)
                e.points.update(front)
            first = client.list_candidates(job_id=jid, page_size=FETCH_PAGE)
            total = int(first.total)
            with self._lock:
                for c in first.candidates:
                    e.points[int(c.id)] = to_point(c)
                e.total = total
                e.complete = False
                e.first_page = True
            if not known:
                e.go_on.wait(3.0)
            pages = math.ceil(total / FETCH_PAGE)
            # Candidates only get appended (ids grow): a refresh of a running job
            # reads the pages past what is cached, from the one `known` ends in.
            start = 1 if known < FETCH_PAGE else known // FETCH_PAGE
            for i in spread_order(pages - start):
                page = page_at(client, (start + i) * FETCH_PAGE, FETCH_PAGE, job_id=jid)
                with self._lock:
                    for c in page.candidates:
                        cid = int(c.id)
                        e.points[cid] = to_point(c)._replace(pareto=cid in front)
            with self._lock:
                e.complete, e.error = True, ""
                e.evaluated, e.terminal = int(job["evaluated"]), bool(job["terminal"])
        except Exception as ex:  # shown on the page; the next request retries
            with self._lock:
                e.error = str(ex)
        finally:
            with self._lock:
                e.fetching = False
                e.first_page = True
                e.fetched_at = time.monotonic()
            e.done.set()


def _axis_value(p: Point, axis: str) -> float:
    return float(getattr(p, axis))


def sample_points(points: Sequence[Point], hardware: str, y: str, limit: int,
                  seed: int = 0, grid: Tuple[int, int] = (60, 40)) -> List[Point]:
    """At most `limit` points with a latency on `hardware` (plus every Pareto
    point): the others thinned per cell of a grid over (latency, y), each
    cell keeping at most k points, k the largest that keeps the total under
    the limit. Deterministic for a seed."""
    have = [p for p in points if hardware in p.latency]
    front = [p for p in have if p.pareto]
    rest = [p for p in have if not p.pareto]
    room = max(0, limit - len(front))
    if len(rest) <= room:
        return front + rest
    xs = [math.log10(max(p.latency[hardware], 1e-9)) for p in rest]
    ys = [_axis_value(p, y) for p in rest]
    if y != "score":
        ys = [math.log10(max(v, 1.0)) for v in ys]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    gx, gy = grid
    cells: Dict[Tuple[int, int], List[Point]] = {}
    for p, x, v in zip(rest, xs, ys):
        i = min(gx - 1, int((x - x0) / (x1 - x0) * gx)) if x1 > x0 else 0
        j = min(gy - 1, int((v - y0) / (y1 - y0) * gy)) if y1 > y0 else 0
        cells.setdefault((i, j), []).append(p)
    sizes = sorted(len(c) for c in cells.values())
    lo, hi = 0, sizes[-1]  # largest k with sum(min(size, k)) <= room
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(s, mid) for s in sizes) <= room:
            lo = mid
        else:
            hi = mid - 1
    rng = random.Random(seed)
    kept: List[Point] = []
    for key in sorted(cells):
        members = sorted(cells[key], key=lambda p: p.id)
        if len(members) > lo:
            members = rng.sample(members, lo)
        kept.extend(members)
    return front + kept


def points_json(points: Sequence[Point], hardware: str, y: str) -> Dict[str, List[Any]]:
    """Column arrays for plotly (one entry per point)."""
    return {
        "id": [p.id for p in points],
        "x": [p.latency[hardware] for p in points],
        "y": [_axis_value(p, y) for p in points],
        "score": [p.score for p in points],
        "params": [p.params for p in points],
        "macs": [p.macs for p in points],
        "feasible": [p.feasible for p in points],
        "pareto": [p.pareto for p in points],
        "measured": [p.measured.get(hardware, 0.0) for p in points],
    }


# ------------------------------------------------------------- candidates
def _block_label(block: Mapping[str, Any]) -> Tuple[str, str]:
    """(type, parameters) of an arch block dict like {"mbconv": {...}}."""
    for kind, params in block.items():
        if isinstance(params, dict):
            text = ", ".join(f"{k}={v}" for k, v in params.items()
                             if v not in (False, 0, "", None, []))
            return kind, text
    return "?", ""


def arch_rows(arch: Mapping[str, Any]) -> List[Dict[str, str]]:
    """One row per stem block, stage block and the head, named as the
    daemon's breakdown names them ("stem[0]", "stages[1].blocks[0]", "head")."""
    rows = []
    for i, b in enumerate(arch.get("stem", [])):
        kind, text = _block_label(b)
        rows.append({"where": f"stem[{i}]", "type": kind, "params": text})
    for s, stage in enumerate(arch.get("stages", [])):
        for i, b in enumerate(stage.get("blocks", [])):
            kind, text = _block_label(b)
            rows.append({"where": f"stages[{s}].blocks[{i}]", "type": kind, "params": text})
    head = arch.get("head", {})
    rows.append({"where": "head", "type": "head",
                 "params": ", ".join(f"{k}={v}" for k, v in head.items()
                                     if v not in (False, 0, "", None, []))})
    return rows


def candidate_view(cand: Any) -> Dict[str, Any]:
    """A Candidate (with its breakdown, from get_candidate) as page values:
    per device the end-to-end latency, how much is measured, and per block
    its latency, source (and how it was estimated) and share of the sum."""
    from ..messages import to_dict

    d = to_dict(cand)
    arch = d.get("arch", {})
    types = {r["where"]: r["type"] for r in arch_rows(arch)}
    devices = []
    for p in cand.latency:
        pd = to_dict(p)
        how = {k["key"]: k for k in pd.get("estimated_keys", [])}
        total = float(p.sum_ms) or sum(float(b.latency_ms) for b in p.blocks) or 1.0
        blocks = []
        for b in pd.get("blocks", []):
            src = str(b.get("source", "LATENCY_SOURCE_UNSPECIFIED"))
            est = how.get(b.get("key", ""), {})
            blocks.append({
                "where": b.get("where", ""), "type": types.get(b.get("where", ""), ""),
                "key": b.get("key", ""), "latency_ms": float(b.get("latency_ms", 0.0)),
                "measured": src == "SOURCE_MEASURED",
                "source": SOURCE_LABELS.get(src, src),
                "method": est.get("method", ""), "basis_key": est.get("basis_key", ""),
                "share": float(b.get("latency_ms", 0.0)) / total,
            })
        devices.append({
            "hardware": p.hardware, "table_version": int(p.table_version),
            "latency_ms": float(p.latency_ms), "sum_ms": float(p.sum_ms),
            "measured_fraction": 0.0 if p.estimated_from_spec else float(p.measured_fraction),
            "estimated_from_spec": bool(p.estimated_from_spec),
            "low_confidence": bool(p.low_confidence),
            "missing_keys": list(p.missing_keys), "blocks": blocks,
        })
    return {
        "id": int(cand.id), "job_id": int(cand.job_id), "arch_hash": cand.arch_hash,
        "name": arch.get("name", ""), "genotype": cand.genotype,
        "resolution": int(arch.get("resolution", 0)),
        "score": float(cand.score), "params": int(cand.params), "macs": int(cand.macs),
        "mac_bytes": int(cand.mac_bytes), "feasible": bool(cand.feasible),
        "pareto": bool(cand.pareto), "generation": int(cand.generation),
        "arch": arch_rows(arch), "devices": devices,
    }


# ------------------------------------------------------------- hardware
def table_rows(tables: Sequence[Any]) -> List[Dict[str, Any]]:
    """TableInfo results as page rows, with their correction's provenance."""
    rows = []
    for t in tables:
        c = t.correction
        has_corr = bool(c.fitted_on or c.scale or c.offset_ms or c.method)
        rows.append({
            "hardware": t.hardware, "version": int(t.version),
            "created": _when(int(t.created_unix_ms)),
            "backend": t.backend, "precision": t.precision, "threads": int(t.threads),
            "tool": t.tool, "space": t.space, "entries": int(t.entries), "failed": int(t.failed),
            "source": t.source, "reference_ms": float(t.reference_ms),
            "correction": None if not has_corr else {
                "scale": float(c.scale), "offset_ms": float(c.offset_ms),
                "fitted_on": int(c.fitted_on), "mape_before": float(c.mape_before),
                "mape_after": float(c.mape_after), "method": c.method,
                "fitted": _when(int(c.fitted_unix_ms)), "half_rel_diff": float(c.half_rel_diff),
                "reference_drift": float(c.reference_drift),
                "accepted_noisy": bool(c.accepted_noisy),
                "loo_within_10pct": float(c.loo_within_10pct), "loo_mape": float(c.loo_mape),
                "kendall_tau_lut": float(c.kendall_tau_lut),
                "kendall_tau_macs": float(c.kendall_tau_macs),
                "validation_flags": list(c.validation_flags)},
        })
    return rows


def fmt_count(n: float) -> str:
    return render.count(int(n))


def fmt_ms(x: float) -> str:
    return render.ms(x)
