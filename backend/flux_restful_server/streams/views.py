"""Stream routes: live job streams and the event feed (websocket or SSE), and more.

Also the upstream-compatible chunked output stream and the job eventlog. Frames are described in
docs/streams.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sanic.exceptions import SanicException
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from ..auth import Principal, authenticate, recheck, stream_slot
from ..domain.errors import JobNotFound, SubscriberLagged
from ..domain.events import JobEvent, OutputLine, OutputRun, StreamEntry, entry_count, last_seq
from ..domain.record import JobRecord
from ..domain.states import JobState
from ..http import AppRequest, job_id_arg, query_bool, visible_job
from ..schemas import EVENTLOG, answers
from . import sanic_ws
from .frames import (
    FeedFilter,
    encode,
    end_frame,
    event_frame,
    feed_frame,
    frame_type,
    parse_since,
    parse_types,
)
from .transport import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_NOT_FOUND,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    Outcome,
    Sink,
    SSESink,
    StreamRefused,
    StreamsBlueprint,
    WebSocketSink,
    close_code,
    credentials,
    first_frame_auth,
    ping_interval,
    pump,
    wants_websocket,
    watch,
)
from .wire import (
    BATCHES,
    CACHE,
    JOIN_AT,
    Rendering,
    Segment,
    Wire,
    batch_frames,
    batch_segments,
    encode_output,
    join,
    run_segment,
    run_wire,
    wire,
)

Frames = list[Wire]

streams_bp = StreamsBlueprint("streams", url_prefix="/v1")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CLOSE_CODES = {
    "end": CLOSE_NORMAL,
    "lagged": CLOSE_TRY_AGAIN,
    "shutdown": CLOSE_GOING_AWAY,
    "revoked": CLOSE_UNAUTHORIZED,
}


def resume_point(request: AppRequest) -> int:
    """``since=`` or, for SSE reconnections, ``Last-Event-ID`` (the last seq received).

    Raises:
        BadRequest: Not a non-negative integer.
    """
    if request.args.get("since") is not None:
        return parse_since(request.args.get("since"))
    return parse_since(request.headers.get("last-event-id"), "Last-Event-ID")


async def handshake(
    request: AppRequest, principal: Principal | None, outcome: str, code: int | None = None
) -> None:
    """Tell the operations side (metrics, audit log) that a websocket was accepted or refused.

    Response middleware never sees an upgraded connection, so the stream says it by signal.
    """
    context = {"request": request, "principal": principal, "outcome": outcome, "code": code}
    await request.app.dispatch(
        "streams.websocket.opened", context=context, inline=True, fail_not_found=False
    )


async def serve_stream(
    request: AppRequest,
    principal: Principal | None,
    check: Callable[[Principal], Awaitable[Any]],
    run: Callable[[Principal, Sink], Awaitable[Outcome]],
) -> HTTPResponse | None:
    """Serve one stream over a websocket (upgrade) or SSE, with the final frame and close.

    ``principal`` is ``None`` for a websocket that authenticates with its first frame; ``check``
    raises (404) when the principal may not see what was asked for. The stream holds one of the
    caller's stream slots while it runs (over the cap: 429 before the upgrade, or close 1013).
    """
    slots = contextlib.ExitStack()
    if principal is not None:
        slots.enter_context(stream_slot(request, principal))  # over the cap: 429, no upgrade
    if wants_websocket(request):
        try:
            ws = await sanic_ws.accept(request)
        except BaseException:
            slots.close()
            raise
        ws_sink = WebSocketSink(ws)
        try:
            if principal is None:
                principal = await first_frame_auth(request, ws)
                try:
                    await check(principal)
                    slots.enter_context(stream_slot(request, principal))
                except SanicException as exc:
                    raise StreamRefused(close_code(exc), str(exc)) from None
            await handshake(request, principal, "accepted")
            outcome = await run(principal, ws_sink)
            if outcome.reason != "gone":
                code = CLOSE_CODES.get(outcome.reason, CLOSE_NORMAL)
                await ws_sink.close(code, outcome.detail or outcome.reason)
        except StreamRefused as exc:
            await handshake(request, principal, "refused", exc.code)
            await ws_sink.close(exc.code, exc.reason)
        except Exception:  # noqa: BLE001 - the client went away mid-send
            await ws_sink.close(CLOSE_GOING_AWAY, "")
        finally:
            slots.close()
        return None
    assert principal is not None
    with slots:
        response = await request.respond(content_type="text/event-stream", headers=SSE_HEADERS)
        ended: Outcome | None = None
        with sanic_ws.no_response_timeout(request), contextlib.suppress(StreamRefused):
            ended = await run(principal, SSESink(response))
        with contextlib.suppress(Exception):
            await response.eof()
    if ended is not None and ended.reason == "shutdown":
        # Sanic drains open connections before it stops: do not stay in keep-alive.
        request.transport.close()
    return None


async def follow(
    request: AppRequest,
    who: Principal,
    source: AsyncIterator[Any],
    render: Callable[[Any], Any],
    sink: Sink,
    *,
    since: int,
    ping: float,
) -> Outcome:
    """:func:`pump` until the server stops or ``who`` may no longer read."""
    return await pump(
        source,
        render,
        sink,
        since=since,
        ping=ping,
        shutdown=sanic_ws.shutdown_started(request.app),
        recheck=lambda: recheck(request.app, who),
    )


@streams_bp.get("/jobs/<job_id:str>/stream")
@openapi.summary("A job's live stream (websocket or SSE)")
@openapi.description(
    "History then live: labelled output, state changes and eventlog events, keepalive pings, "
    "and a final `end` frame with state, result and returncode. Upgrade to a websocket, or "
    "send `Accept: text/event-stream`. `since=<seq>` resumes after the last seq seen (SSE: "
    "`Last-Event-ID`); `types=output,state,event,exception` filters; `ping=<s>` sets the "
    "keepalive; `batch=true` groups frames into `batch` frames. Browsers may pass `?token=` "
    'or send `{"type": "auth", "token": ...}` first. See docs/streams.md.'
)
@openapi.parameter("since", int, "query")
@openapi.parameter("batch", bool, "query")
@openapi.parameter("types", str, "query")
@openapi.parameter("ping", float, "query")
@openapi.parameter("token", str, "query")
@openapi.secured("token")
@sanic_ws.upgradable
async def job_stream(request: AppRequest, job_id: str) -> HTTPResponse | None:
    principal = await credentials(request)
    jid = job_id_arg(job_id)
    since = resume_point(request)
    types = parse_types(request.args.get("types"))
    ping = ping_interval(request)
    batched = query_bool(request, "batch")
    if principal is not None:
        await visible_job(request, principal, jid)
    executor = request.app.ctx.jobs
    want_output = types is None or "output" in types

    how: Rendering = (types, batched)

    async def render(batch: list[StreamEntry]) -> tuple[Frames, int, bool]:
        # A live batch is one list shared by every follower that keeps up: its frames are
        # encoded and joined once (BATCHES); its entries are encoded once either way (CACHE,
        # RUN_SEGMENTS).
        hit = BATCHES.get(batch, how)
        if hit is not None:
            return [hit], last_seq(batch[-1]), False
        if batched:
            segments, clean = render_segments(batch)
            frames = batch_segments(segments)
        else:
            frames, clean = render_entries(batch)
        if clean is not None:
            # The end frame is a frame of its own (after the last batch, when batched).
            frames.append(wire(encode(end_frame(clean, await _record(jid))), clean.seq))
            return frames, clean.seq, True
        shared = batched or sum(map(entry_count, batch)) >= JOIN_AT
        if len(frames) > 1 and shared:
            frames = [join(frames)]
        if frames and shared:
            BATCHES.put(batch, how, frames[0])
        return frames, last_seq(batch[-1]), False

    def render_entries(batch: list[StreamEntry]) -> tuple[Frames, JobEvent | None]:
        """One frame per entry, up to the ``clean`` event (returned, not rendered)."""
        frames: Frames = []
        append = frames.append
        cached = CACHE.get
        for entry in batch:
            if isinstance(entry, (OutputLine, OutputRun)):
                if want_output:
                    hit = cached(entry)
                    if hit is not None:
                        append(hit)
                    elif isinstance(entry, OutputRun):
                        append(CACHE.put(entry, run_wire(entry)))
                    else:
                        append(CACHE.put(entry, wire(encode_output(entry), entry.seq)))
                continue
            kind = frame_type(entry)
            if kind == "end":
                return frames, entry
            if types is None or kind in types:
                append(wire(encode(event_frame(entry, kind)), entry.seq))
        return frames, None

    def render_segments(batch: list[StreamEntry]) -> tuple[list[Segment], JobEvent | None]:
        """The JSON of the entries' frames, up to the ``clean`` event (returned).

        Batched followers need no per-entry websocket or SSE bytes, and no per-entry cache:
        followers that keep up share the whole rendered batch (BATCHES), and a run of output
        lines is encoded once for all of them (RUN_SEGMENTS).
        """
        segments: list[Segment] = []
        append = segments.append
        for entry in batch:
            if isinstance(entry, OutputRun):
                if want_output:
                    append(run_segment(entry))
                continue
            if isinstance(entry, OutputLine):
                if want_output:
                    append((encode_output(entry), 1, entry.seq))
                continue
            kind = frame_type(entry)
            if kind == "end":
                return segments, entry
            if types is None or kind in types:
                append((encode(event_frame(entry, kind)).encode(), 1, entry.seq))
        return segments, None

    async def _record(jid: int) -> JobRecord | None:
        try:
            return await executor.info(jid)
        except JobNotFound:
            return None

    async def run(who: Principal, sink: Sink) -> Outcome:
        try:
            source = executor.log(jid, since)
            outcome = await follow(request, who, source, render, sink, since=since, ping=ping)
        except JobNotFound:
            raise StreamRefused(CLOSE_NOT_FOUND, f"Job {jid} not found") from None
        if outcome.reason == "eof":
            record = await _record(jid)
            if record is not None and record.get("state") == JobState.INACTIVE:
                # Resumed after the last entry: repeat the end frame so the client can stop.
                clean = [e for e in await executor.eventlog(jid) if e.name == "clean"]
                if clean:
                    await sink.send([wire(encode(end_frame(clean[-1], record)), clean[-1].seq)])
                    return Outcome("end", outcome.position)
            frame = {"type": "shutdown", "since": outcome.position}
            await sink.send([wire(encode(frame))])
            return Outcome("shutdown", outcome.position)
        return outcome

    async def check(who: Principal) -> None:
        await visible_job(request, who, jid)

    return await serve_stream(request, principal, check, run)


@streams_bp.get("/events")
@openapi.summary("The job event feed (websocket or SSE)")
@openapi.description(
    "Every job event the caller may see (their own jobs unless superuser), history then live: "
    '`{"seq", "id", "event", "state", "t", "user", "job_seq", "context"}`. `since=<seq>` resumes '
    "after the last feed seq seen (SSE: `Last-Event-ID`); filters: `user=`, `state=`, `ids=` "
    "(comma-separated); `batch=true` groups events into `batch` frames. See docs/streams.md."
)
@openapi.parameter("since", int, "query")
@openapi.parameter("batch", bool, "query")
@openapi.parameter("user", str, "query")
@openapi.parameter("state", str, "query")
@openapi.parameter("ids", str, "query")
@openapi.parameter("ping", float, "query")
@openapi.parameter("token", str, "query")
@openapi.secured("token")
@sanic_ws.upgradable
async def event_feed(request: AppRequest) -> HTTPResponse | None:
    principal = await credentials(request)
    since = resume_point(request)
    ping = ping_interval(request)
    batched = query_bool(request, "batch")
    args = request.args
    FeedFilter.parse(None, args.get("user"), args.get("state"), args.get("ids"))  # 400 early
    executor = request.app.ctx.jobs

    async def run(who: Principal, sink: Sink) -> Outcome:
        wanted = FeedFilter.parse(
            None if who.sees_all else who.name, args.get("user"), args.get("state"), args.get("ids")
        )

        async def render(batch: list[JobEvent]) -> tuple[Frames, int, bool]:
            events = wanted.select(batch)
            if batched:
                texts = [encode(feed_frame(e)).encode() for e in events]
                frames = batch_frames(texts, [e.feed_seq for e in events])
            else:
                frames = [wire(encode(feed_frame(e)), e.feed_seq) for e in events]
            return frames, batch[-1].feed_seq, False

        source: AsyncIterator[list[JobEvent]] = executor.feed(since)
        outcome = await follow(request, who, source, render, sink, since=since, ping=ping)
        if outcome.reason == "eof":
            await sink.send([wire(encode({"type": "shutdown", "since": outcome.position}))])
            return Outcome("shutdown", outcome.position)
        return outcome

    async def check(who: Principal) -> None:
        return None

    return await serve_stream(request, principal, check, run)


@streams_bp.get("/jobs/<job_id:str>/output/stream")
@openapi.summary("Job output as it is written (chunked text)")
@openapi.description(
    "The raw output, stdout and stderr in order, from the start and live until the job is "
    "inactive. Works when opened before the job starts."
)
@openapi.secured("token")
async def output_stream(request: AppRequest, job_id: str) -> HTTPResponse | None:
    principal = await authenticate(request)
    jid = job_id_arg(job_id)
    await visible_job(request, principal, jid)
    with stream_slot(request, principal):
        await _copy_output(request, principal, jid)
    return None


async def _copy_output(request: AppRequest, principal: Principal, jid: int) -> None:
    executor = request.app.ctx.jobs
    response = await request.respond(content_type="text/plain; charset=utf-8")

    async def copy() -> None:
        since = 0
        while True:
            try:
                async for batch in executor.log(jid, since):
                    data = b"".join(
                        [e.data for e in batch if isinstance(e, (OutputLine, OutputRun))]
                    )
                    since = last_seq(batch[-1])
                    if data:
                        await response.send(data.decode("utf-8", errors="replace"))
                return
            except SubscriberLagged as lag:
                since = lag.resume_seq  # reading from the file again is always possible here

    with sanic_ws.no_response_timeout(request):
        copying = asyncio.ensure_future(copy())
        revoked = asyncio.ensure_future(watch(lambda: recheck(request.app, principal)))
        try:
            await asyncio.wait({copying, revoked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            copying.cancel()
            revoked.cancel()
            await asyncio.gather(copying, revoked, return_exceptions=True)
    if copying.cancelled():
        # The user was removed. Plain text has no frame to say so: close the connection before
        # the final chunk, so the client sees an incomplete body, never what looks like the end.
        request.transport.close()
        return None
    copying.result()
    await response.eof()
    return None


@streams_bp.get("/jobs/<job_id:str>/events")
@openapi.summary("The job's eventlog")
@openapi.description('`{"id", "events": [{seq, name, timestamp, context}]}` in order.')
@answers(EVENTLOG)
@openapi.secured("token")
async def job_events(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await authenticate(request)
    jid = job_id_arg(job_id)
    await visible_job(request, principal, jid)
    events: list[JobEvent] = await request.app.ctx.jobs.eventlog(jid)
    return json(
        {
            "id": jid,
            "events": [
                {"seq": e.seq, "name": e.name, "timestamp": e.timestamp, "context": dict(e.context)}
                for e in events
            ],
        }
    )
