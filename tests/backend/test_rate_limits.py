"""Rate limits on a real server: submits and expensive reads per caller, concurrent streams."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from flux_restful_client import Client, RateLimitedError
from tests.backend.test_auth_server import AUTH_ENV, add
from tests.conftest import ServerFactory, wait_for


def test_submits_and_reads_over_the_limit_get_429_with_retry_after(server_factory: ServerFactory):
    server = server_factory(
        args=["--submit-rate", "2/minute", "--read-rate", "3/minute", "--max-streams", "0"]
    )
    url = server.url
    for _ in range(2):
        assert httpx.post(f"{url}/v1/jobs/submit", params={"command": "true"}).status_code == 200
    refused = httpx.post(f"{url}/v1/jobs/submit", params={"command": "true"})
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "rate_limited" and body["reason"] == "submit"
    assert "at most 2 per 1 minute" in body["detail"]
    assert refused.headers["retry-after"] == str(body["retry_after"])
    assert 1 <= body["retry_after"] <= 60
    # reads: three listings, then refused; cheap routes (job info, nodes) are not counted
    for _ in range(3):
        assert httpx.get(f"{url}/v1/jobs").status_code == 200
    assert httpx.get(f"{url}/v1/jobs/search").status_code == 429
    assert httpx.get(f"{url}/v1/nodes").status_code == 200
    assert httpx.get(f"{url}/healthz").status_code == 200
    # the SDK raises at once when the wait is longer than it is willing to wait
    with Client(host=url, max_wait=0.5) as client:
        with pytest.raises(RateLimitedError) as info:
            client.list_jobs()
    assert info.value.retry_after is not None and info.value.retry_after >= 1


def test_limits_are_per_user(server_factory: ServerFactory):
    server = server_factory(env=AUTH_ENV, args=["--submit-rate", "1/minute"], start=False)
    add(server.state_dir, "alice", "alice-pw")
    add(server.state_dir, "bob", "bob-pw")
    server.start()
    url = server.url

    def submit(user: str, password: str) -> int:
        r = httpx.post(f"{url}/v1/jobs/submit", params={"command": "true"}, auth=(user, password))
        return r.status_code

    assert submit("alice", "alice-pw") == 200
    assert submit("alice", "alice-pw") == 429
    assert submit("bob", "bob-pw") == 200  # alice's budget is hers alone


def test_concurrent_streams_are_capped_per_caller(server_factory: ServerFactory):
    server = server_factory(args=["--max-streams", "1"])
    url = server.url

    async def scenario() -> tuple[int, int, int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            async with client.stream(
                "GET", "/v1/events?ping=1", headers={"Accept": "text/event-stream"}
            ) as first:
                assert first.status_code == 200
                second = await client.get("/v1/events", headers={"Accept": "text/event-stream"})
                ws_url = url.replace("http", "ws", 1) + "/v1/events"
                try:
                    async with websockets.connect(ws_url, open_timeout=30) as ws:
                        await ws.recv()
                    ws_status = 0
                except websockets.InvalidStatus as exc:
                    ws_status = exc.response.status_code
                body = json.loads(second.content)
                assert body["reason"] == "streams" and "at most 1" in body["detail"]
                return first.status_code, second.status_code, ws_status

    first, second, ws_status = asyncio.run(scenario())
    assert (first, second, ws_status) == (200, 429, 429)

    # the slot is released when the server sees the stream end (at its next ping, 1 s here)
    def reopened() -> bool:
        with httpx.stream(
            "GET", f"{url}/v1/events", headers={"Accept": "text/event-stream"}, timeout=30
        ) as r:
            return r.status_code == 200

    wait_for(reopened, timeout=30)


def test_bad_rate_settings_stop_the_server_with_the_reason(server_factory: ServerFactory):
    server = server_factory(args=["--submit-rate", "lots"], start=False)
    with pytest.raises(RuntimeError, match="--submit-rate .* must be rates like"):
        server.start(timeout=30)
