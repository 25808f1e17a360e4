"""Flux RESTful API server: Sanic app, executors, auth and streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .settings import Settings

__all__ = ["Settings", "__version__", "create_app"]

from ._version import __version__


def __getattr__(name: str) -> Any:
    # Lazy, so light processes (the job supervisor) do not import Sanic.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)
