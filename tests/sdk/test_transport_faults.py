"""Transport faults (the only thing mocked): retries, timeouts, resets, stream resumption."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from flux_restful_client import ServerError, StreamClosedError, TransportError
from tests.conftest import free_port


def _json(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body)


async def test_get_is_retried_after_503_until_it_succeeds(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            return _json(503, {"detail": "busy"})
        return _json(200, {"nodes": ["n0"]})

    client = runner.mock(handler)
    assert await runner.call(client, "list_nodes") == {"nodes": ["n0"]}
    assert calls == ["/v1/nodes"] * 3
    await runner.close(client)


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_retries_stop_after_attempts_with_a_server_error(runner, status):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return _json(status, {"detail": "gateway trouble"})

    client = runner.mock(handler, attempts=3)
    with pytest.raises(ServerError) as info:
        await runner.call(client, "get_job", 1)
    assert info.value.status_code == status
    assert "gateway trouble" in str(info.value)
    assert len(calls) == 3
    await runner.close(client)


async def test_submit_answered_503_is_never_sent_twice(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return _json(503, {"detail": "busy"})

    client = runner.mock(handler)
    with pytest.raises(ServerError):
        await runner.call(client, "submit_job", "true")
    assert calls == ["POST"]
    await runner.close(client)


async def test_submit_that_timed_out_reading_is_not_resent(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("timed out", request=request)

    client = runner.mock(handler)
    with pytest.raises(TransportError, match="ReadTimeout"):
        await runner.call(client, "submit", "sleep 1")
    assert calls == ["POST"]
    await runner.close(client)


async def test_submit_whose_connection_failed_is_retried(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((dict(request.url.params), request.content))
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return _json(200, {"Message": "Job submit.", "id": 42})

    client = runner.mock(handler)
    assert await runner.call(client, "submit_job", ["echo", "hi there"]) == 42
    assert calls == [({"command": "echo 'hi there'"}, b"")] * 2
    await runner.close(client)


async def test_get_is_retried_after_a_reset(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return _json(200, {"jobs": []})

    client = runner.mock(handler)
    assert await runner.call(client, "jobs") == {"jobs": []}
    assert len(calls) == 2
    await runner.close(client)


async def test_unreachable_server_is_a_clear_transport_error(runner):
    port = free_port()
    client = runner.client(host=f"http://127.0.0.1:{port}", attempts=2, backoff=0)
    with pytest.raises(TransportError) as info:
        await runner.call(client, "jobs")
    message = str(info.value)
    assert f"http://127.0.0.1:{port}" in message
    assert "ConnectError" in message
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    await runner.close(client)


async def test_timeout_applies_to_each_request(runner):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return _json(200, {"jobs": []})

    client = runner.mock(handler, timeout=1.5)
    await runner.call(client, "jobs")
    assert seen[0]["read"] == 1.5
    await runner.close(client)


# -- streams -----------------------------------------------------------------------------------


def _sse(frames: list[dict]) -> list[bytes]:
    return [f"data: {json.dumps(frame)}\n\n".encode() for frame in frames]


class _DroppingStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Sends some SSE events, then (optionally) fails like a dropped connection."""

    def __init__(self, chunks: list[bytes], drop: bool) -> None:
        self.chunks = chunks
        self.drop = drop

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.drop:
            raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.drop:
            raise httpx.ReadError("connection reset by peer")


def _frame(seq: int, data: str) -> dict:
    return {"seq": seq, "type": "output", "stream": "stdout", "rank": 0, "data": data, "t": 1.0}


async def test_frames_resume_after_a_drop_without_gaps_or_repeats(runner):
    sinces: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == "text/event-stream"
        since = request.url.params.get("since")
        sinces.append(since)
        if since is None:
            # two frames, a ping, then the connection drops
            chunks = [*_sse([_frame(1, "a\n"), _frame(2, "b\n")]), b": keepalive\n\n"]
            chunks += _sse([{"type": "ping"}])
            return httpx.Response(200, stream=_DroppingStream(chunks, drop=True))
        # a server that replays one frame too many must not produce a repeat
        frames = [_frame(2, "b\n"), _frame(3, "c\n")]
        frames.append(
            {"seq": 4, "type": "end", "state": "INACTIVE", "result": "COMPLETED", "returncode": 0}
        )
        return httpx.Response(200, stream=_DroppingStream(_sse(frames), drop=False))

    client = runner.mock(handler)
    frames = await runner.collect(client, "iter_frames", 7)
    assert [f.seq for f in frames] == [1, 2, 3, 4]
    assert [f.data for f in frames if f.type == "output"] == ["a\n", "b\n", "c\n"]
    assert frames[-1].type == "end" and frames[-1].returncode == 0
    assert sinces == [None, "2"]
    await runner.close(client)


async def test_lines_resume_after_the_server_closes_early(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params.get("since"))
        if len(calls) == 1:
            return httpx.Response(
                200, stream=_DroppingStream(_sse([_frame(1, "one\n")]), drop=False)
            )
        end = {"seq": 3, "type": "end", "state": "INACTIVE", "result": "FAILED", "returncode": 3}
        return httpx.Response(
            200, stream=_DroppingStream(_sse([_frame(2, "two\n"), end]), drop=False)
        )

    client = runner.mock(handler)
    lines = await runner.collect(client, "iter_lines", 7)
    assert [line.data for line in lines] == ["one\n", "two\n"]
    assert calls == [None, "1"]
    await runner.close(client)


async def test_stream_that_keeps_dropping_gives_up_clearly(runner):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_DroppingStream([], drop=True))

    client = runner.mock(handler, attempts=2)
    with pytest.raises(StreamClosedError, match="could not be resumed after 2 attempts"):
        await runner.collect(client, "iter_frames", 7)
    await runner.close(client)


async def test_event_feed_resumes_from_the_next_seq(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params.get("since"))
        seq = 6 if len(calls) == 1 else 7
        event = {"seq": seq, "id": 1, "event": "start", "state": "RUN", "t": 1.0}
        return httpx.Response(200, stream=_DroppingStream(_sse([event]), drop=True))

    client = runner.mock(handler)
    events = await runner.collect(client, "iter_events", since=5, limit=2)
    assert [e.seq for e in events] == [6, 7]
    assert calls == ["5", "6"]
    await runner.close(client)


async def test_lagged_and_shutdown_frames_resume_from_the_given_seq(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params.get("since"))
        if len(calls) == 1:
            frames = [_frame(1, "a\n"), {"type": "lagged", "since": 1}]
        elif len(calls) == 2:
            frames = [_frame(2, "b\n"), {"type": "shutdown", "since": 2}]
        else:
            frames = [{"seq": 3, "type": "end", "state": "INACTIVE", "result": "COMPLETED"}]
        return httpx.Response(200, stream=_DroppingStream(_sse(frames), drop=False))

    client = runner.mock(handler)
    frames = await runner.collect(client, "iter_frames", 7)
    assert [(f.seq, f.type) for f in frames] == [(1, "output"), (2, "output"), (3, "end")]
    assert calls == [None, "1", "2"]


# Statuses the live server does not produce on demand; the others are tested against it.
@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (403, {"detail": "alice does not own job 1"}, "ForbiddenError", "alice does not own job 1"),
        (500, {"detail": "boom", "code": "internal"}, "ServerError", "boom (HTTP 500)"),
        (
            422,
            {"detail": [{"loc": ["query", "num_tasks"], "msg": "Input should be a valid integer"}]},
            "InvalidRequestError",
            "num_tasks: Input should be a valid integer",
        ),
    ],
)
async def test_error_statuses_map_to_the_tree(runner, status, body, error, message):
    import flux_restful_client

    client = runner.mock(lambda request: _json(status, body), attempts=1)
    with pytest.raises(getattr(flux_restful_client, error)) as info:
        await runner.call(client, "get_job", 1)
    assert message in str(info.value)
    assert info.value.status_code == status
    assert info.value.detail == body
