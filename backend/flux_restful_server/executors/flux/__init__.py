"""The flux executor: runs jobs in a real Flux instance (see ``executor``)."""

from __future__ import annotations

from ._connect import FluxUnavailable, flux_available
from .executor import FluxExecutor

__all__ = ["FluxExecutor", "FluxUnavailable", "flux_available"]
