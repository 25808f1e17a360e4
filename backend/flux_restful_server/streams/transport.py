"""How a stream reaches its client: websocket or SSE on one GET route, pings, lag and shutdown.

Sanic cannot register a websocket route and an HTTP route on the same path, so each stream route
is one GET handler that upgrades when the request asks for a websocket (:func:`wants_websocket`)
and otherwise answers ``text/event-stream``. :func:`pump` moves batches from an executor iterator
to a :class:`Sink`, interleaving keepalive pings and ending with a ``lagged`` or ``shutdown``
frame when the hub cuts the consumer off or the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sanic import Blueprint, Sanic
from sanic.exceptions import SanicException
from sanic.server.websockets.impl import WebsocketImplProtocol

from ..auth import Principal, authenticate, authenticate_token
from ..auth.errors import NotAuthenticated
from ..domain.errors import SubscriberLagged
from ..errors import BadRequest
from .frames import SSE, WS, Wire, encode, messages, wire

T = TypeVar("T")

PING_INTERVAL = 15.0
"""Default seconds of silence before a ``{"type": "ping"}`` keepalive."""
AUTH_FRAME_TIMEOUT = 10.0
"""Seconds a websocket without credentials has to send its ``{"type": "auth"}`` frame."""
SHUTDOWN_GRACE = 2.0
"""Seconds graceful shutdown waits for streams to send their final frame."""
RECHECK_INTERVAL = 5.0
"""Seconds between checks that a stream's user still exists, is active and kept their tokens."""

PING = wire(encode({"type": "ping"}))

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_INVALID_DATA = 1007
CLOSE_TRY_AGAIN = 1013
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
"""Websocket close codes: 44xx mirror the HTTP status an HTTP client would have received."""


class StreamsBlueprint(Blueprint):
    """The streams blueprint; registering it turns on Sanic's websocket protocol."""

    def register(self, app: Sanic[Any, Any], options: dict[str, Any]) -> None:
        """Register the routes and enable websockets (routes upgrade by hand, see module doc)."""
        app.enable_websocket()
        super().register(app, options)  # type: ignore[no-untyped-call]


@dataclass
class Registry:
    """The live streams of one app, so graceful shutdown can close each with a final frame."""

    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server starts stopping."""
    active: set[asyncio.Task[Any]] = field(default_factory=set)
    """Handler tasks currently streaming."""


_registries: dict[str, Registry] = {}


def registry(app: Sanic[Any, Any]) -> Registry:
    """The stream registry of ``app`` (created on first use)."""
    reg = _registries.get(app.name)
    if reg is None:
        reg = _registries[app.name] = Registry()
    return reg


async def close_streams(app: Sanic[Any, Any]) -> None:
    """Tell every stream to send its ``shutdown`` frame, and wait (briefly) until they have."""
    reg = registry(app)
    reg.shutdown.set()
    pending = [task for task in reg.active if not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=SHUTDOWN_GRACE)
    _registries.pop(app.name, None)


class Sink(Protocol):
    """Where frames go: a websocket or an SSE response."""

    async def send(self, frames: list[Wire]) -> None:
        """Send encoded frames in order, as one write."""

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """End the stream."""

    def gone(self) -> asyncio.Future[Any] | None:
        """A future done once the client went away (``None``: the handler gets cancelled)."""


class SSESink:
    """A ``text/event-stream`` response: ``id: <seq>`` and ``data: <json>`` per frame."""

    def __init__(self, response: Any) -> None:
        self.response = response

    async def send(self, frames: list[Wire]) -> None:
        await self.response.send(b"".join([frame[SSE] for frame in frames]))

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        await self.response.eof()

    def gone(self) -> asyncio.Future[Any] | None:
        return None  # Sanic cancels the handler when the connection is lost


class WebSocketSink:
    """A Sanic websocket: one text message per frame, a batch written to the socket at once."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._lost: asyncio.Future[Any] | None = None

    async def send(self, frames: list[Wire]) -> None:
        ws = self.ws
        proto = getattr(ws, "ws_proto", None)
        io = getattr(ws, "io_proto", None)
        if proto is None or io is None or proto.extensions:
            for frame in frames:
                for text in messages(frame):
                    await ws.send(text.decode())
            return
        # Without extensions a server's text message is the frame header plus the payload, the
        # same bytes ws.send() produces: write the batch's pre-encoded frames in one go.
        async with ws.conn_mutex:
            if proto.state.name != "OPEN":
                raise ConnectionResetError("the websocket is closed")
            await io.send(b"".join([frame[WS] for frame in frames]))

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason[:120])

    def gone(self) -> asyncio.Future[Any] | None:
        if self._lost is None:
            self._lost = asyncio.ensure_future(self.ws.wait_for_connection_lost())
        return self._lost


class StrictWebsocket(WebsocketImplProtocol):
    """Sanic's websocket, failed with 1007 when a text frame is not UTF-8.

    Sanic decodes incoming text frames in a task that nothing awaits: invalid UTF-8 raised there,
    was logged as "Task exception was never retrieved" with a traceback (one per frame, by
    anyone who can connect), and left the socket open.
    """

    async def process_events(self, events: Any) -> None:
        """Hand frames to Sanic; a text frame that is not UTF-8 fails the connection (1007)."""
        try:
            await super().process_events(events)
        except UnicodeDecodeError:
            self.fail_connection(CLOSE_INVALID_DATA, "text frame is not valid UTF-8")


async def accept_websocket(request: Any) -> StrictWebsocket:
    """Complete the websocket handshake of ``request`` and return the socket."""
    ws = await request.transport.get_protocol().websocket_handshake(request)
    # The handshake builds a plain WebsocketImplProtocol; ours only adds process_events.
    ws.__class__ = StrictWebsocket
    return ws  # type: ignore[no-any-return]


def wants_websocket(request: Any) -> bool:
    """Whether the request asks to upgrade to a websocket."""
    return bool(request.headers.get("upgrade", "").lower() == "websocket")


def wants_sse(request: Any) -> bool:
    """Whether the request accepts ``text/event-stream`` (also ``*/*`` or no Accept at all)."""
    accept = request.headers.get("accept", "")
    return not accept or "text/event-stream" in accept or "*/*" in accept


def ping_interval(request: Any) -> float:
    """``ping=<seconds>`` (1 to 300), default :data:`PING_INTERVAL`.

    Raises:
        BadRequest: Not a number in range.
    """
    text = request.args.get("ping")
    if text is None or not text.strip():
        return PING_INTERVAL
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"ping must be seconds between 1 and 300, not {text!r}") from None
    if not 1.0 <= value <= 300.0:
        raise BadRequest(f"ping must be seconds between 1 and 300, not {text!r}")
    return value


async def credentials(request: Any) -> Principal | None:
    """Authenticate from the header or ``?token=``; ``None`` when a websocket sent neither.

    Raises:
        NotAuthenticated: An HTTP (SSE) request without credentials.
        InvalidCredentials: Wrong credentials (401, before any upgrade).
    """
    try:
        return await authenticate(request, allow_query_token=True)
    except NotAuthenticated:
        if wants_websocket(request):
            return None  # it may authenticate with its first frame
        raise


async def first_frame_auth(request: Any, ws: Any) -> Principal:
    """Read ``{"type": "auth", "token": ...}`` as the websocket's first message.

    Raises:
        StreamRefused: No such frame in time, or the token is refused.
    """
    try:
        message = await asyncio.wait_for(ws.recv(), AUTH_FRAME_TIMEOUT)
    except TimeoutError:
        raise StreamRefused(CLOSE_UNAUTHORIZED, "Not authenticated: no auth frame") from None
    try:
        obj = json.loads(message) if message is not None else None
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or obj.get("type") != "auth" or not obj.get("token"):
        raise StreamRefused(
            CLOSE_UNAUTHORIZED, 'Not authenticated: send {"type": "auth", "token": ...} first'
        )
    try:
        return authenticate_token(request.app, str(obj["token"]))
    except SanicException as exc:
        raise StreamRefused(close_code(exc), str(exc) or "Could not validate credentials") from None


async def watch(recheck: Callable[[], None]) -> str:
    """Run ``recheck`` every :data:`RECHECK_INTERVAL` seconds; return the refusal's message."""
    while True:
        await asyncio.sleep(RECHECK_INTERVAL)
        try:
            recheck()
        except SanicException as exc:
            return str(exc) or "Could not validate credentials"


class StreamRefused(Exception):
    """A websocket is refused after the upgrade: close it with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def close_code(exc: SanicException) -> int:
    """The websocket close code matching an HTTP error."""
    return {400: CLOSE_BAD_REQUEST, 401: CLOSE_UNAUTHORIZED, 403: CLOSE_FORBIDDEN}.get(
        int(getattr(exc, "status_code", 400)), CLOSE_NOT_FOUND
    )


@dataclass
class Outcome:
    """How a pump ended."""

    reason: str
    """``end`` (job finished), ``lagged``, ``shutdown``, ``gone`` (client left), ``revoked`` (the
    user was removed or deactivated), or ``eof`` (the source ended without a final entry: the
    caller decides what to send)."""
    position: int
    """The last seq processed: what ``since`` should be to resume."""
    detail: str = ""
    """Why, when the reason alone does not say (``revoked``: the refusal's message)."""


async def pump(
    source: AsyncIterator[list[T]],
    render: Callable[[list[T]], Any],
    sink: Sink,
    *,
    since: int,
    ping: float,
    shutdown: asyncio.Event,
    recheck: Callable[[], None] | None = None,
) -> Outcome:
    """Send ``source``'s batches through ``render`` to ``sink`` until it ends.

    ``render(batch)`` is awaited and returns ``(frames, position, finished)``: the encoded
    frames, the seq of the batch's last entry, and whether the stream is complete.
    ``recheck()`` runs every :data:`RECHECK_INTERVAL` seconds and raises when the caller may no
    longer read: the stream then ends with a ``revoked`` frame.
    """
    position = since
    iterator = source.__aiter__()
    next_task: asyncio.Future[list[T]] = asyncio.ensure_future(iterator.__anext__())
    stop_task = asyncio.ensure_future(shutdown.wait())
    revoked = asyncio.ensure_future(watch(recheck)) if recheck is not None else None
    gone = sink.gone()
    waits: set[asyncio.Future[Any]] = {next_task, stop_task}
    if revoked is not None:
        waits.add(revoked)
    if gone is not None:
        waits.add(gone)
    try:
        while True:
            done, _ = await asyncio.wait(waits, timeout=ping, return_when=asyncio.FIRST_COMPLETED)
            if next_task in done:
                waits.discard(next_task)
                try:
                    batch = next_task.result()
                except StopAsyncIteration:
                    return Outcome("eof", position)
                except SubscriberLagged as lag:
                    position = lag.resume_seq
                    await sink.send([wire(encode({"type": "lagged", "since": position}))])
                    return Outcome("lagged", position)
                frames, position, finished = await render(batch)
                if frames:
                    await sink.send(frames)
                if finished:
                    return Outcome("end", position)
                next_task = asyncio.ensure_future(iterator.__anext__())
                waits.add(next_task)
            elif stop_task in done:
                await sink.send([wire(encode({"type": "shutdown", "since": position}))])
                return Outcome("shutdown", position)
            elif gone is not None and gone in done:
                return Outcome("gone", position)
            elif revoked is not None and revoked in done:
                detail = revoked.result()
                frame = {"type": "revoked", "detail": detail, "since": position}
                await sink.send([wire(encode(frame))])
                return Outcome("revoked", position, detail)
            else:
                await sink.send([PING])
    finally:
        for task in (next_task, stop_task, gone, revoked):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(BaseException):
                await aclose()
