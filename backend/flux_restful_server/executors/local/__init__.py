"""The embedded local executor: runs jobs on this machine with Flux's job model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .executor import LocalExecutor

__all__ = ["LocalExecutor"]


def __getattr__(name: str) -> Any:
    # Lazy, so the supervisor process (``supervisor.py``) starts without the server's imports.
    if name == "LocalExecutor":
        from .executor import LocalExecutor

        return LocalExecutor
    raise AttributeError(name)
