"""The UI's CSS and JavaScript, and Swagger UI's, served from installed packages (no CDN)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from sanic.response import HTTPResponse
from swagger_ui_bundle import swagger_ui_path

TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
FILES = frozenset({"app.css", "jobs.js", "job.js", "apidocs.js"})
"""The only names served from ``static/``: nothing else in the package is reachable."""
SWAGGER_FILES = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}
)
"""The files of the ``swagger-ui-bundle`` package that ``/docs`` loads."""


def _root(kind: str) -> Traversable:
    if kind == "swagger":
        return swagger_ui_path  # type: ignore[no-any-return]
    return resources.files(__package__).joinpath("static")


@cache
def _load(kind: str, name: str) -> tuple[bytes, str]:
    data = _root(kind).joinpath(name).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:16] + '"'


def _response(kind: str, name: str, if_none_match: str | None) -> HTTPResponse:
    data, etag = _load(kind, name)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if if_none_match == etag:
        return HTTPResponse(status=304, headers=headers)
    content_type = TYPES[name[name.rindex(".") :]]
    return HTTPResponse(data, headers=headers, content_type=content_type)


def static_response(name: str, if_none_match: str | None = None) -> HTTPResponse | None:
    """The response for static file ``name``, or ``None`` when there is no such file."""
    if name not in FILES:
        return None
    return _response("static", name, if_none_match)


def swagger_response(name: str, if_none_match: str | None = None) -> HTTPResponse | None:
    """The response for Swagger UI file ``name``, or ``None`` when there is no such file."""
    if name not in SWAGGER_FILES:
        return None
    return _response("swagger", name, if_none_match)
