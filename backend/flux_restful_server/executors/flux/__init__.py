"""The flux executor: runs jobs in a real Flux instance (see ``executor``)."""

from __future__ import annotations

from .executor import FluxExecutor, FluxUnavailable, flux_available

__all__ = ["FluxExecutor", "FluxUnavailable", "flux_available"]
