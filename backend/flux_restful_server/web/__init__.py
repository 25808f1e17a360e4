"""The small web UI: server-rendered pages, a little vanilla JS, no CDN (API.md "Web UI")."""

from __future__ import annotations

from .views import web_bp

__all__ = ["web_bp"]
