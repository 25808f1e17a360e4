"""What the dashboard's screens are given: the client, the job store and the session's facts."""

from __future__ import annotations

from dataclasses import dataclass

from flux_restful_client import AsyncClient

from .store import JobStore

__all__ = ["DashContext"]


@dataclass(frozen=True)
class DashContext:
    """Passed to every screen that reads or acts; screens ask the app for the rest by message."""

    client: AsyncClient
    """Where everything is read and done."""
    store: JobStore
    """Every known job."""
    read_only: bool = False
    """Whether actions (submit, cancel) are hidden."""
    user: str = ""
    """Who the client acts as (``""``: anonymous)."""
