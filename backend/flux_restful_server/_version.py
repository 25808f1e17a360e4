"""The server's version (also what ``GET /v1/auth`` reports in ``server.version``)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
