"""How a stream reaches its client: websocket or SSE on one GET route, pings, lag and shutdown.

Sanic cannot register a websocket route and an HTTP route on the same path, so each stream route
is one GET handler that upgrades when the request asks for a websocket (:func:`wants_websocket`)
and otherwise answers ``text/event-stream``. :func:`pump` moves batches from an executor iterator
to a :class:`Sink`, interleaving keepalive pings and ending with a ``lagged`` or ``shutdown``
frame when the hub cuts the consumer off or the server stops. What touches Sanic's websocket
internals (the upgrade, the one-write fast path, strict UTF-8) lives in :mod:`.sanic_ws`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
from sanic import Blueprint, Sanic
from sanic.exceptions import SanicException
from sanic.server.websockets.impl import WebsocketImplProtocol

from ..auth import Principal, authenticate, authenticate_token
from ..auth.errors import NotAuthenticated
from ..domain.errors import SubscriberLagged
from ..errors import BadRequest
from . import sanic_ws
from .frames import encode
from .wire import SSE, WS, Wire, messages, wire

T = TypeVar("T")

PING_INTERVAL = 15.0
"""Default seconds of silence before a ``{"type": "ping"}`` keepalive."""
AUTH_FRAME_TIMEOUT = 10.0
"""Seconds a websocket without credentials has to send its ``{"type": "auth"}`` frame."""
MAX_AUTH_FRAME = 16 * 1024
"""Largest ``{"type": "auth"}`` message read (a token is a few hundred bytes)."""
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
    """The streams blueprint; registering it checks Sanic's internals and enables websockets."""

    def register(self, app: Sanic[Any, Any], options: dict[str, Any]) -> None:
        """Register the routes and enable websockets (routes upgrade by hand, see module doc).

        Raises:
            SanicInternalsChanged: The installed Sanic moved an internal the streams use.
        """
        sanic_ws.enable(app)
        super().register(app, options)  # type: ignore[no-untyped-call]


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

    def __init__(self, ws: WebsocketImplProtocol) -> None:
        self.ws = ws
        self._fast = sanic_ws.can_write_frames(ws)
        self._lost: asyncio.Future[Any] | None = None

    async def send(self, frames: list[Wire]) -> None:
        if self._fast:
            # The batch's frames were encoded once for every follower: one write sends them.
            await sanic_ws.write_frames(self.ws, b"".join([frame[WS] for frame in frames]))
        else:
            texts = [text.decode() for frame in frames for text in messages(frame)]
            await sanic_ws.send_texts(self.ws, texts)

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason[:120])

    def gone(self) -> asyncio.Future[Any] | None:
        if self._lost is None:
            self._lost = asyncio.ensure_future(self.ws.wait_for_connection_lost())
        return self._lost


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
    obj = parse_auth_frame(message)
    try:
        return authenticate_token(request.app, obj["token"])
    except SanicException as exc:
        raise StreamRefused(close_code(exc), str(exc) or "Could not validate credentials") from None


def parse_auth_frame(message: str | bytes | None) -> dict[str, str]:
    """Check the first message of a websocket that authenticates with a frame.

    Bounded: at most :data:`MAX_AUTH_FRAME` bytes, parsed by orjson (whose nesting limit turns a
    deeply nested frame into an ordinary parse error, not a ``RecursionError``).

    Raises:
        StreamRefused: Not a text message holding ``{"type": "auth", "token": "<string>"}``
            (close code 4401, with what was wrong).
    """
    usage = 'send {"type": "auth", "token": ...} first'
    if message is None:
        raise StreamRefused(CLOSE_UNAUTHORIZED, f"Not authenticated: {usage}")
    if isinstance(message, bytes):
        raise StreamRefused(CLOSE_UNAUTHORIZED, f"Not authenticated: {usage}, as a text message")
    if len(message) > MAX_AUTH_FRAME:
        raise StreamRefused(
            CLOSE_UNAUTHORIZED,
            f"Not authenticated: the auth frame is larger than {MAX_AUTH_FRAME} bytes",
        )
    try:
        obj = orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        raise StreamRefused(
            CLOSE_UNAUTHORIZED, f"Not authenticated: the auth frame is not JSON ({exc})"[:120]
        ) from None
    if not isinstance(obj, dict) or obj.get("type") != "auth":
        raise StreamRefused(CLOSE_UNAUTHORIZED, f"Not authenticated: {usage}")
    token = obj.get("token")
    if not isinstance(token, str) or not token:
        raise StreamRefused(CLOSE_UNAUTHORIZED, f"Not authenticated: {usage}")
    return {"type": "auth", "token": token}


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
    codes = {
        400: CLOSE_BAD_REQUEST,
        401: CLOSE_UNAUTHORIZED,
        403: CLOSE_FORBIDDEN,
        429: CLOSE_TRY_AGAIN,
    }
    return codes.get(int(getattr(exc, "status_code", 400)), CLOSE_NOT_FOUND)


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


@dataclass
class _Sent:
    """What a pump has sent so far (shared by its delivering and its keepalive task)."""

    position: int
    """The seq of the last entry sent."""
    at: float
    """When the last frame was sent (the event loop's clock)."""
    over: bool = False
    """The stream's last frame was sent: no more pings."""


async def pump(
    source: AsyncIterator[list[T]],
    render: Callable[[list[T]], Any],
    sink: Sink,
    *,
    since: int,
    ping: float,
    shutdown: asyncio.Future[Any],
    recheck: Callable[[], None] | None = None,
) -> Outcome:
    """Send ``source``'s batches through ``render`` to ``sink`` until it ends.

    ``render(batch)`` is awaited and returns ``(frames, position, finished)``: the encoded
    frames, the seq of the batch's last entry, and whether the stream is complete.
    ``recheck()`` runs every :data:`RECHECK_INTERVAL` seconds and raises when the caller may no
    longer read: the stream then ends with a ``revoked`` frame. ``shutdown`` (cancelled when
    the pump ends) is done once the server stops: the stream then ends with a ``shutdown`` frame.

    One task takes batches from ``source`` and sends them, with nothing else in between (no
    task and no ``asyncio.wait`` per batch: with 1,000 followers of a job, that was a third of
    the server's time per line); a second one sends the keepalive pings, and whatever ends the
    stream early cancels the first. Its position moves only once a send has returned, and a
    send writes to the connection in its last step, so a cancelled send wrote nothing: the
    final frame's ``since`` is exactly what the client was sent.
    """
    loop = asyncio.get_running_loop()
    sent = _Sent(since, loop.time())
    lock = asyncio.Lock()  # one frame at a time: batches, pings and the final frame

    async def send(frames: list[Wire], *, last: bool = False) -> None:
        async with lock:
            if sent.over:
                return
            sent.over = last
            await sink.send(frames)
        sent.at = loop.time()

    async def deliver() -> Outcome:
        try:
            async for batch in source:
                frames, position, finished = await render(batch)
                if frames:
                    await send(frames, last=finished)
                sent.position = position
                if finished:
                    return Outcome("end", position)
        except SubscriberLagged as lag:
            await send([wire(encode({"type": "lagged", "since": lag.resume_seq}))], last=True)
            return Outcome("lagged", lag.resume_seq)
        return Outcome("eof", sent.position)

    async def keepalive() -> None:
        # A ping that fails means the client is gone: the delivering side (or Sanic, which
        # cancels an SSE handler then) ends the stream; nothing to report from here.
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(sent.at + ping - loop.time())
                if loop.time() - sent.at >= ping - 0.01:
                    await send([PING])

    delivering = asyncio.ensure_future(deliver())
    pinging = asyncio.ensure_future(keepalive())
    revoked = asyncio.ensure_future(watch(recheck)) if recheck is not None else None
    gone = sink.gone()
    waits = {f for f in (delivering, shutdown, revoked, gone) if f is not None}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if delivering.done():
            return delivering.result()
        delivering.cancel()
        with contextlib.suppress(BaseException):
            await delivering
        position = sent.position
        if shutdown.done():
            await send([wire(encode({"type": "shutdown", "since": position}))], last=True)
            return Outcome("shutdown", position)
        if gone is not None and gone.done():
            return Outcome("gone", position)
        assert revoked is not None
        detail = revoked.result()
        frame = {"type": "revoked", "detail": detail, "since": position}
        await send([wire(encode(frame))], last=True)
        return Outcome("revoked", position, detail)
    finally:
        for task in (delivering, pinging, shutdown, gone, revoked):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        aclose = getattr(source.__aiter__(), "aclose", None)
        if aclose is not None:
            with contextlib.suppress(BaseException):
                await aclose()
