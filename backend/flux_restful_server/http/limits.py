"""Limits only HTTP can enforce: a malformed body refused early, streams exempt from the timeout.

The limits on request values are ``limits.py`` (below every layer); these two touch Sanic.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any, cast

from sanic import Request
from sanic.exceptions import BadRequest
from sanic.headers import parse_content_header
from sanic.server.protocols.http_protocol import HttpProtocol


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


@contextlib.contextmanager
def no_response_timeout(request: Request[Any, Any]) -> Iterator[None]:
    """Exempt a stream from the response timeout while it runs (Sanic exempts only websockets).

    Sanic cancels any response that has written nothing for ``RESPONSE_TIMEOUT`` seconds, so an
    SSE stream with a long ``ping`` or a quiet job's ``/output/stream`` was cut mid-way, without
    its final frame. The connection gets its timeout back when the stream ends.
    """
    protocol = cast(HttpProtocol, request.transport.get_protocol())
    saved = protocol.response_timeout
    protocol.response_timeout = math.inf
    try:
        yield
    finally:
        protocol.response_timeout = saved
