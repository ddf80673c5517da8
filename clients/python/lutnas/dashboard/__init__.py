"""`lutnas dashboard`: a local web page over lutnasd's gRPC API (docs/dashboard.md).

Importing this package needs neither Flask nor plotly (the CLI registers the
command under /usr/bin/python3); create_app and serve import them.
"""

from __future__ import annotations

from typing import Any

from ._command import DashboardError, add_parser, run

__all__ = ["DashboardError", "add_parser", "create_app", "run", "serve"]


def create_app(client: Any, **kwargs: Any) -> Any:
    """The Flask app over a lutnas.Client (see lutnas.dashboard._app.create_app)."""
    from ._app import create_app as _create_app

    return _create_app(client, **kwargs)


def serve(client: Any, **kwargs: Any) -> None:
    """Serves the app until interrupted (see lutnas.dashboard._app.serve)."""
    from ._app import serve as _serve

    _serve(client, **kwargs)
