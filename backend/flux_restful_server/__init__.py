"""Flux RESTful API server: Sanic app, executors, auth and streams."""

from __future__ import annotations

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
