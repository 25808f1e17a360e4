"""The embedded local executor: runs jobs on this machine with Flux's job model."""

from __future__ import annotations

from .executor import LocalExecutor

__all__ = ["LocalExecutor"]
