"""Every use of Sanic's websocket internals, in one module, checked when the app is built.

The stream routes need five things Sanic's public API does not give:

* **the upgrade by hand.** Sanic cannot route a websocket and an HTTP ``GET`` on one path, so a
  stream route is a ``GET`` handler that upgrades when asked (:func:`accept`), with the call
  Sanic's own websocket handler makes (``request.transport.get_protocol().websocket_handshake``);
* **the** ``is_websocket`` **marker** (:func:`upgradable`): Sanic then does not fail a handler
  that answered by upgrading rather than by returning a response;
* **strict text frames** (:class:`StrictWebsocket`): Sanic decodes incoming text in a task that
  nothing awaits, so invalid UTF-8 was a logged traceback per frame and an open socket; ours
  fails the connection with 1007;
* **the fast path** (:func:`write_frames`): a batch of pre-encoded text frames, encoded once for
  every follower, goes out in one write of the connection (``io_proto.send``, which keeps
  Sanic's backpressure and ``http.lifecycle.send`` signal) under the socket's ``conn_mutex``,
  instead of one :meth:`ws.send` per message, which builds each frame again per follower.
  ``python -m bench.bench_streams`` prints its ratio to ``ws.send``: 1.9 to 4.9 times as many
  one-line frames per second (two runs on a loaded 2-core machine), so the fast path stays;
* **no response timeout while a stream runs** (:func:`no_response_timeout`): Sanic cuts any
  response that has written nothing for ``RESPONSE_TIMEOUT`` seconds and exempts only
  websockets; it has no per-route or per-request setting (25.12), so an SSE stream with a long
  ``ping`` or a quiet job's ``/output/stream`` sets its connection's ``response_timeout``
  (``HttpProtocol``'s slot, read by ``check_timeouts`` at each turn) to infinity while it runs.

:func:`check` runs when the streams blueprint is registered and raises
:class:`SanicInternalsChanged` naming what moved, so a Sanic release that renames one of these
stops the server at start-up instead of silently taking a slow or broken path. Graceful shutdown
uses Sanic's own ``server.shutdown.before`` signal (:func:`shutdown_started`) and Sanic's drain
of open connections (``GRACEFUL_SHUTDOWN_TIMEOUT``), so no registry of streams is kept here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

import sanic
from sanic import Request, Sanic
from sanic.server.protocols.http_protocol import HttpProtocol
from sanic.server.protocols.websocket_protocol import WebSocketProtocol
from sanic.server.websockets.impl import WebsocketImplProtocol
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from .wire import WS, wire

F = TypeVar("F", bound=Callable[..., Any])

CLOSE_INVALID_DATA = 1007
SHUTDOWN_SIGNAL = "server.shutdown.before"
"""Sanic's signal dispatched when graceful shutdown starts (before the listeners' stop)."""


class SanicInternalsChanged(RuntimeError):
    """The installed Sanic no longer has an internal the streams rely on."""


class StrictWebsocket(WebsocketImplProtocol):
    """Sanic's websocket, failed with 1007 when a text frame is not UTF-8."""

    async def process_events(self, events: Any) -> None:
        """Hand frames to Sanic; a text frame that is not UTF-8 fails the connection (1007)."""
        try:
            await super().process_events(events)
        except UnicodeDecodeError:
            self.fail_connection(CLOSE_INVALID_DATA, "text frame is not valid UTF-8")


def upgradable(handler: F) -> F:
    """Mark a ``GET`` handler that may answer by upgrading to a websocket (returning nothing)."""
    handler.is_websocket = True  # type: ignore[attr-defined]
    return handler


async def accept(request: Any) -> StrictWebsocket:
    """Complete the websocket handshake of ``request`` and return the socket."""
    ws = await request.transport.get_protocol().websocket_handshake(request)
    # The handshake builds a plain WebsocketImplProtocol; ours only overrides process_events.
    ws.__class__ = StrictWebsocket
    return ws  # type: ignore[no-any-return]


def can_write_frames(ws: WebsocketImplProtocol) -> bool:
    """Whether pre-encoded frames may be written as they are (no extension such as deflate)."""
    return not ws.ws_proto.extensions


async def write_frames(ws: WebsocketImplProtocol, data: bytes) -> None:
    """Write complete, unmasked server text frames (see :func:`can_write_frames`) in one go.

    Raises:
        ConnectionResetError: The websocket is closing or closed.
    """
    async with ws.conn_mutex:
        if ws.ws_proto.state is not OPEN or ws.io_proto is None:
            raise ConnectionResetError("the websocket is closed")
        await ws.io_proto.send(data)  # type: ignore[no-untyped-call]


async def send_texts(ws: WebsocketImplProtocol, texts: Iterable[str]) -> None:
    """Send each text as one message with Sanic's public :meth:`send` (the slow path)."""
    for text in texts:
        await ws.send(text)


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


def shutdown_started(app: Sanic[Any, Any]) -> asyncio.Future[Any]:
    """A future done once the server starts its graceful shutdown."""
    return asyncio.ensure_future(app.event(SHUTDOWN_SIGNAL))


def enable(app: Sanic[Any, Any]) -> None:
    """Turn on Sanic's websocket protocol for ``app`` after :func:`check`-ing its internals.

    Raises:
        SanicInternalsChanged: See :func:`check`.
    """
    check()
    app.enable_websocket()
    # A before_server_stop listener makes Sanic declare the signal that streams wait on.
    app.before_server_stop(_announce_shutdown)


async def _announce_shutdown(app: Sanic[Any, Any]) -> None:
    """Nothing to do: streams wait on the signal this listener is dispatched by."""


def check() -> None:
    """Check that the installed Sanic still has every internal this module uses.

    Structural (the names exist) and behavioural: a websocket built the way Sanic's handshake
    builds it is open, has no extensions, and the bytes its ``send_text`` produces are exactly
    the frames :func:`.wire.wire` pre-encodes, so :func:`write_frames` sends what ``ws.send``
    would have.

    Raises:
        SanicInternalsChanged: What is missing or different, with Sanic's version.
    """
    problems: list[str] = []
    if not callable(getattr(WebSocketProtocol, "websocket_handshake", None)):
        problems.append("WebSocketProtocol.websocket_handshake is gone")
    for name in ("process_events", "fail_connection", "wait_for_connection_lost", "send"):
        if not callable(getattr(WebsocketImplProtocol, name, None)):
            problems.append(f"WebsocketImplProtocol.{name} is gone")
    if "is_websocket" not in inspect.getsource(Sanic.handle_request):
        problems.append("Sanic.handle_request no longer honours a handler's is_websocket")
    if "response_timeout" not in getattr(HttpProtocol, "__slots__", ()) or (
        "self.response_timeout" not in inspect.getsource(HttpProtocol.check_timeouts)
    ):
        problems.append(
            "HttpProtocol.check_timeouts no longer reads a connection's response_timeout"
        )
    try:
        ws_proto = ServerProtocol(state=OPEN)
        ws = WebsocketImplProtocol(ws_proto)
        if ws.ws_proto is not ws_proto or not hasattr(ws, "io_proto"):
            problems.append("WebsocketImplProtocol no longer keeps ws_proto and io_proto")
        if not isinstance(ws.conn_mutex, asyncio.Lock):
            problems.append("WebsocketImplProtocol.conn_mutex is not a lock")
        if ws_proto.extensions:
            problems.append("the websocket protocol negotiates extensions by default")
        for size in (1, 200, 70000):
            text = "é" * size  # 2 bytes each: short, 16-bit and 64-bit lengths
            ws_proto.send_text(text.encode())
            if b"".join(ws_proto.data_to_send()) != wire(text)[WS]:
                problems.append(f"a {size}-character text frame is not encoded as ours are")
    except Exception as exc:  # noqa: BLE001 - any failure here means the internals moved
        problems.append(f"building a websocket as Sanic does failed: {exc!r}")
    if problems:
        raise SanicInternalsChanged(
            f"Sanic {sanic.__version__} changed what the streams rely on "
            f"(flux_restful_server/streams/sanic_ws.py): {'; '.join(problems)}"
        )
