"""Build and run the dashboard around a client the caller made (the CLI does)."""

from __future__ import annotations

import asyncio

from flux_restful_client import AsyncClient

from .app import DashboardApp

__all__ = ["make_app", "run_dashboard"]


def make_app(client: AsyncClient, *, read_only: bool = False) -> DashboardApp:
    """The dashboard around ``client``."""
    return DashboardApp(client, read_only=read_only)


def run_dashboard(client: AsyncClient, *, read_only: bool = False) -> None:
    """Run the dashboard in this terminal until the user quits, then close ``client``."""
    app = make_app(client, read_only=read_only)
    try:
        app.run()
    finally:
        asyncio.run(client.aclose())
