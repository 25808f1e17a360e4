"""The UI's CSS and JavaScript, served from the package (no CDN: works offline)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from sanic.response import HTTPResponse

TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
FILES = frozenset({"app.css", "jobs.js", "job.js"})
"""The only names served: nothing else in the package is reachable."""


@cache
def _load(name: str) -> tuple[bytes, str]:
    data = resources.files(__package__).joinpath("static", name).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:16] + '"'


def static_response(name: str, if_none_match: str | None = None) -> HTTPResponse | None:
    """The response for static file ``name``, or ``None`` when there is no such file."""
    if name not in FILES:
        return None
    data, etag = _load(name)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if if_none_match == etag:
        return HTTPResponse(status=304, headers=headers)
    content_type = TYPES[name[name.rindex(".") :]]
    return HTTPResponse(data, headers=headers, content_type=content_type)
