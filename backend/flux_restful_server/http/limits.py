"""A limit only HTTP can enforce: a malformed body refused early.

The limits on request values are ``limits.py`` (below every layer); this one touches Sanic's
request. Streams' exemption from the response timeout reaches into Sanic's protocol, so it is in
``streams/sanic_ws.py`` with the other Sanic internals, checked at start-up.
"""

from __future__ import annotations

from typing import Any

from sanic import Request
from sanic.exceptions import BadRequest
from sanic.headers import parse_content_header


async def refuse_malformed_body(request: Request[Any, Any]) -> None:
    """Request middleware: a multipart body without its boundary is a 400.

    Sanic cannot split such a body; it logs a traceback and goes on with an empty form, so
    every such request (no login needed) would write a traceback to the log.

    Raises:
        BadRequest: The multipart content type has no ``boundary`` parameter.
    """
    content_type, params = parse_content_header(request.headers.get("content-type", ""))
    if content_type.lower() == "multipart/form-data" and not params.get("boundary"):
        raise BadRequest(
            "A multipart/form-data body needs a boundary parameter in its Content-Type"
        )
