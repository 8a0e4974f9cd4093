"""The ``dashboard`` process role: rq-dashboard at ``/admin/rq/`` in a process of its own.

It serves the base app only (health probes, token checks, the dashboard and its session
cookie), without the API's domains, the single-page app or the CLI.
"""

from __future__ import annotations

from apiflask import APIFlask

from flaskyard.admin import dashboard_host
from flaskyard.app import build_base, load_or_exit


def create_dashboard_app() -> APIFlask:
    """The WSGI app of the ``dashboard`` role (``flaskyard.dashboard:create_dashboard_app``)."""
    app = build_base(load_or_exit())
    dashboard_host(app)  # this process is for the dashboard: load it now, not on a request
    return app
