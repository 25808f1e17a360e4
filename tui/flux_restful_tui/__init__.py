"""Terminal dashboard of the Flux RESTful API (Textual): ``DashboardApp`` and ``run_dashboard``."""

from __future__ import annotations

from .app import DashboardApp
from .cli import run_dashboard

__all__ = ["DashboardApp", "run_dashboard"]
