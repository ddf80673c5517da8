"""The dashboard's Flask app: pages and a small JSON API, everything read
through one lutnas.Client (gRPC), never the daemon's database.

Pages: /jobs, /jobs/<id> (progress, spec, budgets, cancel, Pareto explorer),
/jobs/<id>/candidates (filter, sort, page on the daemon), /candidates/<id>
(blocks per device; ?compare=<id> side by side; downloads), /hardware
(devices, table versions, corrections, insight figures).
Errors: an unknown job or candidate is a 404 page; an unreachable daemon a
503 page (or JSON) with a banner that retries.
"""

from __future__ import annotations

import importlib.util
import io
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from flask import (Flask, Response, abort, jsonify, redirect, render_template, request, send_file,
                   url_for)

from .. import render
from ..errors import (DeadlineExceeded, FailedPrecondition, InvalidArgument, NotFound,
                      Unavailable)
from . import _data

HERE = Path(__file__).resolve().parent
#: Points the Pareto explorer sends at most besides the Pareto set.
DEFAULT_POINT_LIMIT = 3000
PAGE_SIZES = (25, 50, 100, 250)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def plotly_js_path() -> Optional[Path]:
    """plotly.min.js inside the installed plotly package (no CDN), or None."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        p = Path(base) / "package_data" / "plotly.min.js"
        if p.is_file():
            return p
    return None


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


class DaemonDown(Exception):
    """lutnasd did not answer (Unavailable or a deadline)."""


def create_app(client: Any, point_limit: int = DEFAULT_POINT_LIMIT,
               check_host: bool = True) -> Flask:
    """The app over `client` (a lutnas.Client, shared by Flask's threads).
    check_host: answer only requests addressed to a loopback name (stops
    DNS-rebinding pages from reaching the daemon through the dashboard)."""
    app = Flask("lutnas.dashboard", template_folder=str(HERE / "templates"),
                static_folder=str(HERE / "static"))
    app.config["lutnas_client"] = client
    cache = _data.PointCache(lambda: client)
    plotly_js = plotly_js_path()
    insights_lock = threading.Lock()
    samples_lock = threading.Lock()
    samples: Dict[Tuple[Any, ...], List[_data.Point]] = {}
    insights_png: Dict[Tuple[str, int], bytes] = {}

    app.jinja_env.filters["count"] = _data.fmt_count
    app.jinja_env.filters["ms"] = _data.fmt_ms
    app.jinja_env.filters["pct"] = lambda f: render.percent(float(f))

    @app.context_processor
    def _globals() -> Dict[str, Any]:
        return {"daemon": client.target, "torch_available": torch_available()}

    def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (Unavailable, DeadlineExceeded) as e:
            raise DaemonDown(str(e)) from None

    def wants_json() -> bool:
        return request.path.startswith("/api/")

    @app.before_request
    def _check_host() -> Optional[Response]:
        if not check_host:
            return None
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith("[") \
            else (request.host or "").split("]")[0] + "]"
        if host not in LOOPBACK_HOSTS:
            return Response("lutnas dashboard: requests must address 127.0.0.1 or localhost\n",
                            status=421, mimetype="text/plain")
        return None

    @app.errorhandler(DaemonDown)
    def _down(e: DaemonDown) -> Tuple[Any, int]:
        if wants_json():
            return jsonify(error=f"lutnasd at {client.target} is not reachable: {e}",
                           daemon_down=True), 503
        return render_template("error.html", title="lutnasd is not reachable", down=True,
                               message=str(e)), 503

    @app.errorhandler(400)
    @app.errorhandler(404)
    def _not_found(e: Any) -> Tuple[Any, int]:
        code = int(getattr(e, "code", 404) or 404)
        msg = getattr(e, "description", "") or "no such page"
        if wants_json():
            return jsonify(error=msg), code
        title = "Not found" if code == 404 else "The daemon refused the request"
        return render_template("error.html", title=title, down=False, message=msg), code

    def get_job(job_id: int) -> Dict[str, Any]:
        try:
            return _data.job_summary(call(client.get_job, job_id))
        except NotFound:
            abort(404, f"Job {job_id} does not exist on lutnasd at {client.target}.")

    def get_candidate(cand_id: int) -> Any:
        try:
            return call(client.get_candidate, cand_id)
        except NotFound:
            abort(404, f"Candidate {cand_id} does not exist on lutnasd at {client.target}.")

    # ------------------------------------------------------------ pages
    @app.get("/")
    def index() -> Any:
        return redirect(url_for("jobs"))

    @app.get("/jobs")
    def jobs() -> Any:
        rows = [_data.job_summary(j) for j in call(client.list_jobs)]
        return render_template("jobs.html", jobs=rows, title="Jobs")

    @app.get("/jobs/<int:job_id>")
    def job(job_id: int) -> Any:
        j = get_job(job_id)
        devices = _data.job_devices(j)
        if not devices:  # e.g. an unconstrained job: latency on whatever the candidates have
            first = call(client.list_candidates, job_id=job_id, page_size=1).candidates
            devices = [p.hardware for p in first[0].latency] if first else []
        return render_template("job.html", job=j, devices=devices, y_axes=_data.Y_AXES,
                               y_labels=_data.Y_LABELS, title=f"Job {job_id}",
                               point_limit=point_limit)

    @app.get("/jobs/<int:job_id>/candidates")
    def candidates(job_id: int) -> Any:
        j = get_job(job_id)
        devices = _data.job_devices(j)
        a = request.args
        sort = a.get("sort", "id")
        if sort not in ("id", "score", "params", "macs", "latency"):
            sort = "id"
        hw = a.get("hardware", devices[0] if devices else "")
        if hw and hw not in devices:
            devices = devices + [hw]
        if sort == "latency" and not hw:
            sort = "id"
        desc = a.get("desc", "0") == "1"
        pareto = a.get("pareto", "0") == "1"
        max_latency = _float(a.get("max_latency"))
        max_params = _int(a.get("max_params"))
        size = _int(a.get("size")) or 50
        size = size if size in PAGE_SIZES else 50
        page_no = max(1, _int(a.get("page")) or 1)
        filters: Dict[str, Any] = dict(job_id=job_id, pareto_only=pareto, hardware=hw,
                                       max_latency_ms=max_latency if hw else 0.0,
                                       max_params=max_params, order_by=sort, descending=desc)
        try:
            page = call(_data.page_at, client, (page_no - 1) * size, size, **filters)
        except InvalidArgument as e:
            abort(400, str(e))
        pages = max(1, -(-page.total // size))
        rows = []
        for c in page.candidates:
            lat = {p.hardware: p for p in c.latency}
            rows.append({"id": int(c.id), "score": float(c.score), "params": int(c.params),
                         "macs": int(c.macs), "mac_bytes": int(c.mac_bytes),
                         "feasible": bool(c.feasible), "pareto": bool(c.pareto),
                         "generation": int(c.generation), "genotype": c.genotype,
                         "latency": {h: (float(p.latency_ms),
                                         0.0 if p.estimated_from_spec
                                         else float(p.measured_fraction))
                                     for h, p in lat.items()}})
        args = {k: v for k, v in a.items() if k != "page"}
        return render_template("candidates.html", job=j, devices=devices, rows=rows,
                               total=page.total, page=page_no, pages=pages, size=size,
                               sizes=PAGE_SIZES, sort=sort, desc=desc, pareto=pareto, hw=hw,
                               max_latency=max_latency, max_params=max_params, args=args,
                               title=f"Job {job_id}: candidates")

    @app.get("/candidates/<int:cand_id>")
    def candidate(cand_id: int) -> Any:
        views = [_data.candidate_view(get_candidate(cand_id))]
        other = _int(request.args.get("compare"))
        if other:
            views.append(_data.candidate_view(get_candidate(other)))
        title = (f"Candidate {cand_id}" if len(views) == 1
                 else f"Candidates {cand_id} and {other}")
        return render_template("candidate.html", views=views, title=title)

    @app.get("/candidates/<int:cand_id>/download/<fmt>")
    def download(cand_id: int, fmt: str) -> Any:
        if fmt in ("json", "pytorch"):
            try:
                resp = call(client.export_candidate, cand_id, fmt)
            except NotFound:
                abort(404, f"Candidate {cand_id} does not exist on lutnasd at {client.target}.")
            mimetype = "application/json" if fmt == "json" else "text/x-python"
            return send_file(io.BytesIO(resp.content.encode()), mimetype=mimetype,
                             as_attachment=True, download_name=resp.filename)
        if fmt == "onnx":
            if not torch_available():
                abort(404, "ONNX export needs torch, which the dashboard's Python lacks.")
            get_candidate(cand_id)  # 404 before exporting
            with tempfile.TemporaryDirectory(prefix="lutnas-dashboard-") as tmp:
                path = call(client.export_onnx, cand_id, os.path.join(tmp, "m.onnx"))
                data = Path(path).read_bytes()
            return send_file(io.BytesIO(data), mimetype="application/octet-stream",
                             as_attachment=True, download_name=f"candidate_{cand_id}.onnx")
        abort(404, f"unknown format {fmt!r} (json, pytorch, onnx)")

    @app.get("/hardware")
    def hardware() -> Any:
        devices = call(client.list_hardware)
        tables = _data.table_rows(call(client.list_tables))
        by_hw: Dict[str, List[Dict[str, Any]]] = {}
        for t in tables:
            by_hw.setdefault(t["hardware"], []).append(t)
        rows = []
        for h in devices:
            rows.append({"name": h.name, "description": h.description, "backend": h.backend,
                         "precision": h.precision, "threads": int(h.threads),
                         "peak_gops": float(h.peak_gops), "bandwidth_gbs": float(h.bandwidth_gbs),
                         "alignment": int(h.channel_alignment), "source": h.source,
                         "published": len(h.published), "tables": by_hw.get(h.name, [])})
        rows.sort(key=lambda r: (not r["tables"], r["name"]))
        return render_template("hardware.html", devices=rows, title="Hardware and tables")

    @app.get("/hardware/<name>/insights.png")
    def insights_figure(name: str) -> Any:
        version = _int(request.args.get("version"))
        key = (name, version)
        with insights_lock:
            png = insights_png.get(key)
        if png is None:
            png = _insights_png(client, name, version, call)
            with insights_lock:
                insights_png[key] = png
        return Response(png, mimetype="image/png",
                        headers={"Cache-Control": "max-age=3600"})

    # -------------------------------------------------------------- API
    @app.get("/api/jobs")
    def api_jobs() -> Any:
        return jsonify(jobs=[_data.job_summary(j) for j in call(client.list_jobs)])

    @app.get("/api/jobs/<int:job_id>")
    def api_job(job_id: int) -> Any:
        return jsonify(get_job(job_id))

    @app.post("/api/jobs/<int:job_id>/cancel")
    def api_cancel(job_id: int) -> Any:
        # A custom header: a cross-site form cannot send it (no CSRF from other pages).
        if request.headers.get("X-Lutnas-Dashboard") != "1":
            return jsonify(error="missing X-Lutnas-Dashboard header"), 403
        try:
            j = call(client.cancel, job_id)
        except NotFound:
            abort(404, f"Job {job_id} does not exist on lutnasd at {client.target}.")
        except FailedPrecondition as e:  # it ended meanwhile
            return jsonify(error=str(e), job=get_job(job_id)), 409
        return jsonify(_data.job_summary(j))

    @app.get("/api/jobs/<int:job_id>/points")
    def api_points(job_id: int) -> Any:
        j = get_job(job_id)
        devices = _data.job_devices(j)
        hw = request.args.get("hardware") or (devices[0] if devices else "")
        y = request.args.get("y", "score")
        if y not in _data.Y_AXES:
            abort(400, f"y: one of {', '.join(_data.Y_AXES)}")
        limit = min(_int(request.args.get("limit")) or point_limit, 20000)
        points, total, complete, error, stamp = cache.get(j, wait_s=1.5, enough=limit)
        if error and not points:
            raise DaemonDown(error)
        # Sampling 50,000 points takes ~0.2 s: done once per view of a complete cache.
        key = (job_id, hw, y, limit, stamp)
        with samples_lock:
            shown = samples.get(key)
        if shown is None:
            shown = _data.sample_points(points, hw, y, limit, seed=job_id)
            if complete:
                with samples_lock:
                    if len(samples) > 64:
                        samples.clear()
                    samples[key] = shown
        budget = next((b["max_ms"] for b in j["budgets"] if b["hardware"] == hw), None)
        return jsonify(job=j, hardware=hw, y=y, y_label=_data.Y_LABELS[y], budget_ms=budget,
                       total=total, loaded=len(points), shown=len(shown), complete=complete,
                       error=error, points=_data.points_json(shown, hw, y))

    @app.get("/favicon.ico")
    def favicon() -> Any:
        return Response(status=204)

    @app.get("/static/vendor/plotly.min.js")
    def plotly() -> Any:
        if plotly_js is None:
            abort(404, "plotly is not installed (pip install plotly)")
        return send_file(plotly_js, mimetype="application/javascript", max_age=86400)

    return app


def _insights_png(client: Any, name: str, version: int, call: Any) -> bytes:
    """The 2x2 figure `lutnas insights NAME -o FILE` draws, as PNG bytes."""
    from ..insights import analysis as insights
    from ..messages import to_dict
    from ..tools import ToolError

    try:
        info, entries = call(client.export_table, name, version)
    except NotFound:
        abort(404, f"{name} has no table version {version or 'yet'}.")
    try:
        rep, rows = insights.analyze(to_dict(info), [to_dict(e) for e in entries])
        with tempfile.TemporaryDirectory(prefix="lutnas-dashboard-") as tmp:
            path = os.path.join(tmp, "insights.png")
            insights.plot(rep, rows, path)
            return Path(path).read_bytes()
    except (insights.InsightsError, ToolError, ImportError) as e:
        abort(404, f"no insights figure for {name}: {e}")
    raise AssertionError("unreachable")


def _int(text: Optional[str]) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _float(text: Optional[str]) -> float:
    try:
        v = float(text or 0)
    except ValueError:
        return 0.0
    return v if v > 0 else 0.0


def serve(client: Any, host: str = "127.0.0.1", port: int = 8050,
          point_limit: int = DEFAULT_POINT_LIMIT, announce: Any = print) -> None:
    """Serves the dashboard until interrupted (Werkzeug's threaded server:
    fine for one engineer on loopback). announce: called with the URL."""
    from werkzeug.serving import make_server

    app = create_app(client, point_limit=point_limit)
    server = make_server(host, port, app, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    announce(f"lutnas dashboard: http://{shown}:{server.server_port}/ "
             f"(lutnasd at {client.target}; Ctrl-C stops it)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
