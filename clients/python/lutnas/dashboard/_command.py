"""`lutnas dashboard`: the CLI part. Flask and plotly live in the checkout's
.venv (scripts/bootstrap); when this Python lacks them the command runs
again under $LUTNAS_DASHBOARD_PYTHON or .venv/bin/python."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

from ..tools import ToolError

HERE = Path(__file__).resolve().parent
NEEDS = ("flask", "plotly")


class DashboardError(ToolError):
    """The dashboard cannot start (missing packages, a non-loopback bind)."""


def dashboard_python() -> Optional[str]:
    """A Python that can import Flask and plotly: None for this one, else its path."""
    if all(importlib.util.find_spec(m) is not None for m in NEEDS):
        return None
    candidates: List[Path] = []
    if os.environ.get("LUTNAS_DASHBOARD_PYTHON"):
        candidates.append(Path(os.environ["LUTNAS_DASHBOARD_PYTHON"]))
    candidates.append(HERE.parents[3] / ".venv" / "bin" / "python")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK) and Path(sys.executable) != c:
            return str(c)
    raise DashboardError("lutnas dashboard needs flask and plotly, which this Python cannot "
                         "import, and no $LUTNAS_DASHBOARD_PYTHON or .venv/bin/python was "
                         "found: run scripts/bootstrap (it pins them in "
                         "scripts/requirements-venv.txt)")


def check_loopback(host: str) -> None:
    """The dashboard has no login and can cancel jobs: loopback only (reach
    it from elsewhere through an SSH tunnel)."""
    if host == "localhost":
        return
    try:
        ok = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise DashboardError(f"--host {host}: the dashboard binds loopback addresses only "
                             "(it has no login); from another machine use "
                             "ssh -L PORT:127.0.0.1:PORT")


def run(client: Any, host: str = "127.0.0.1", port: int = 8050, point_limit: int = 3000,
        announce: Callable[[str], None] = print) -> int:
    """Serves the dashboard over `client` until Ctrl-C."""
    from ._app import serve

    check_loopback(host)
    try:
        serve(client, host=host, port=port, point_limit=point_limit,
              announce=lambda line: (announce(line), sys.stdout.flush()))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_dashboard(args: argparse.Namespace, client: Any) -> int:
    check_loopback(args.host)
    python = dashboard_python()
    if python is not None:  # run again where flask and plotly are
        sys.stdout.flush()
        sys.stderr.flush()
        argv = [python, "-m", "lutnas", "--server", args.server,
                "--timeout", str(args.timeout or 0)]
        if args.tls_ca:
            argv += ["--tls-ca", args.tls_ca]
        elif args.tls:
            argv.append("--tls")
        # The token travels in the environment, not on the command line.
        env = dict(os.environ)
        if args.token:
            env["LUTNAS_TOKEN"] = args.token
        pkg_root = str(HERE.parents[1])
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"]
                                        if env.get("PYTHONPATH") else "")
        argv += ["dashboard", "--host", args.host, "--port", str(args.port),
                 "--points", str(args.points)]
        os.execve(python, argv, env)
    return run(client, args.host, args.port, args.points)


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]"
               ) -> argparse.ArgumentParser:
    c = sub.add_parser(
        "dashboard", help="web page: jobs with live progress, the Pareto explorer, "
        "candidates' blocks per device, hardware and tables (loopback)",
        description="A local web app over lutnasd's gRPC API: jobs and their live progress "
        "(cancel), an interactive Pareto explorer (latency on each budgeted device against "
        "score, params or MACs; click a point), each candidate's blocks per device "
        "(measured or estimated, share of the total; downloads as JSON, PyTorch, ONNX), "
        "devices and table versions with their corrections and insight figures. "
        "Open the printed URL in a browser (docs/dashboard.md).")
    # Also accepted after the command (`lutnas dashboard --server ADDR`).
    c.add_argument("--server", default=argparse.SUPPRESS, metavar="ADDR",
                   help="lutnasd address (default: the global --server)")
    c.add_argument("--host", default="127.0.0.1",
                   help="address to bind, loopback only (default 127.0.0.1)")
    c.add_argument("--port", type=int, default=8050, help="port (default 8050; 0: any free)")
    c.add_argument("--points", type=int, default=3000, metavar="N",
                   help="Pareto explorer: points sent besides the Pareto set (default 3000)")
    c.set_defaults(func=cmd_dashboard)
    return c
