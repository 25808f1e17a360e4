"""The feed loop resumes where it was: after the SDK gives up on a stream, the dashboard's next
connection asks for what follows the last event it saw, not one later (which would skip one)."""

from __future__ import annotations

import json

import anyio
import httpx

from flux_restful_client import AsyncClient
from flux_restful_tui.feed import FeedSettings, follow_jobs
from flux_restful_tui.messages import JobEventReceived
from tests.sdk.conftest import as_our_server


async def test_reconnect_after_a_failed_stream_resumes_from_the_last_seen_event():
    asked: list[str | None] = []
    done = anyio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/jobs":
            return httpx.Response(200, json=[])
        asked.append(request.url.params.get("since"))
        if len(asked) == 1:
            body = "".join(
                f"data: {json.dumps({'seq': n, 'id': 7, 'event': 'submit'})}\n\n" for n in (1, 2, 3)
            )
            return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
        if len(asked) == 2:  # the SDK's own resume fails: it gives up, the dashboard reconnects
            return httpx.Response(503, json={"detail": "restarting"})
        done.set()
        return httpx.Response(503, json={"detail": "restarting"})

    transport = httpx.MockTransport(as_our_server(handler))
    seen: list[int] = []

    def post(message: object) -> None:
        if isinstance(message, JobEventReceived):
            seen.append(message.event.seq)

    settings = FeedSettings(poll_min=0.01, poll_max=0.01, reconnect_max=0.01)
    async with AsyncClient(
        host="http://flux.test", transport=transport, attempts=1, backoff=0
    ) as client:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(follow_jobs, client, post, settings)
            with anyio.fail_after(10):
                await done.wait()
            tasks.cancel_scope.cancel()
    assert seen == [1, 2, 3]
    assert asked[:3] == [None, "3", "3"]
