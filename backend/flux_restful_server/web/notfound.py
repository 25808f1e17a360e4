"""A browser asking for a page that does not exist gets a page that says so.

Every other caller (the API's clients, curl, scripts: none asks for ``text/html``) keeps the
JSON 404 that upstream's server gives, and so does any path under ``/v1/``.
"""

from __future__ import annotations

from typing import Any

from sanic import Request
from sanic.exceptions import NotFound as NoRoute
from sanic.response import HTTPResponse

from ..http import App
from .render import join, page, tag

__all__ = ["install"]


def install(app: App) -> None:
    """Answer unknown paths with an HTML page when a browser asks for one."""

    @app.exception(NoRoute)
    def _not_found(request: Request[Any, Any], exc: NoRoute) -> HTTPResponse:
        if _a_browser_page(request):
            body = join(
                [
                    tag("h1", "Page not found"),
                    tag("p", f"There is no page at {request.path}."),
                    tag("p", join([tag("a", "Go to the jobs", href="/jobs")])),
                ]
            )
            return page("Page not found", body, status=404)
        answer: HTTPResponse = request.app.error_handler.default(request, exc)  # the JSON 404
        return answer


def _a_browser_page(request: Request[Any, Any]) -> bool:
    return (
        request.route is None
        and request.method in ("GET", "HEAD")
        and not request.path.startswith("/v1/")
        and "text/html" in request.headers.get("accept", "")
    )
