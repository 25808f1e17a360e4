"""Terminal dashboard of the Flux RESTful API (Textual): ``make_app`` and ``run_dashboard``.

The CLI (``flux-restful-cli dashboard``, ``flux-restful-tui``) builds the client and passes it in;
nothing here imports the CLI.
"""

from __future__ import annotations

from .app import DashboardApp
from .launch import make_app, run_dashboard

__all__ = ["DashboardApp", "make_app", "run_dashboard"]
