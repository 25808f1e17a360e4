"""The event feed, stream authentication, and streams across a graceful shutdown and restart."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
import websockets
from click.testing import CliRunner

from flux_restful_server.auth.commands import add_user
from tests.conftest import wait_for_async

from .test_streams_support import (
    PY,
    check_complete,
    sse_frames,
    stream_metrics,
    submit,
    wait_state,
    ws_frames,
)
from .test_streams_support import ws_url as make_ws_url

AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": "fluxuser",
    "FLUX_TOKEN": "12345",
    "FLUX_SECRET_KEY": "notsecrethoo",
}


async def test_feed_replays_then_follows_resumes_and_filters(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        first = await submit(client, ["true"])
        await wait_state(client, first, "INACTIVE")
        url = make_ws_url(server.url, "/v1/events")
        async with websockets.connect(url) as ws:
            second = await submit(client, [PY, "-c", "print(1)"])
            events = []
            while not any(e["id"] == second and e["event"] == "clean" for e in events):
                events.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(seqs) + 1))
        names = [e["event"] for e in events if e["id"] == first]
        assert names[0] == "submit" and names[-1] == "clean" and "start" in names
        alloc = next(e for e in events if e["id"] == second and e["event"] == "alloc")
        assert alloc["state"] == "RUN" and alloc["user"] is None and isinstance(alloc["t"], float)
        # Resume over SSE from a point: exactly what followed it.
        middle = seqs[len(seqs) // 2]
        rest = await sse_frames(
            client, "/v1/events", params={"since": str(middle)}, limit=len(seqs) - middle
        )
        assert rest == events[middle:]
        # Filters: job ids and states.
        only = await sse_frames(
            client,
            "/v1/events",
            params={"ids": str(second), "state": "run,inactive"},
            limit=2,
        )
        assert [(e["id"], e["state"]) for e in only] == [(second, "RUN"), (second, "INACTIVE")]


async def _token(client: httpx.AsyncClient, user: str, password: str) -> str:
    response = await client.post(
        "/v1/login/access-token", data={"username": user, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def auth_server(server_factory):
    server = server_factory(env=AUTH_ENV, args=["--cores-per-node", "2"], start=False)
    server.state_dir.mkdir(parents=True)
    result = CliRunner().invoke(
        add_user, ["bob", "--password-stdin", "--state-dir", str(server.state_dir)], input="bobpw\n"
    )
    assert result.exit_code == 0, result.output
    return server.start()


async def test_streams_authenticate_before_sending_anything(auth_server):
    server = auth_server
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        root = await _token(client, "fluxuser", "12345")
        bob = await _token(client, "bob", "bobpw")
        headers = {"Authorization": f"Bearer {root}"}
        job = await submit_as(client, headers, [PY, "-c", "print('secret')"])
        path = f"/v1/jobs/{job}/stream"
        # No credentials: 401 before anything (SSE) ...
        response = await client.get(path, headers={"Accept": "text/event-stream"})
        assert response.status_code == 401
        response = await client.get("/v1/events", headers={"Accept": "text/event-stream"})
        assert response.status_code == 401
        # ... a bad token is refused at the handshake ...
        with pytest.raises(websockets.InvalidStatus) as info:
            await ws_frames(make_ws_url(server.url, f"{path}?token=forged"))
        assert info.value.response.status_code == 401
        # ... and a websocket without any gets nothing until it authenticates.
        async with websockets.connect(make_ws_url(server.url, path)) as ws:
            await ws.send(json.dumps({"type": "hello"}))
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4401
        async with websockets.connect(make_ws_url(server.url, path)) as ws:
            await ws.send(json.dumps({"type": "auth", "token": "forged"}))
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4401
        # Header, ?token= and first-frame authentication all stream.
        via_header, code = await ws_frames(make_ws_url(server.url, path), headers=headers)
        check_complete(via_header)
        via_query, _ = await ws_frames(make_ws_url(server.url, f"{path}?token={root}"))
        assert via_query == via_header
        via_sse = await sse_frames(client, path, params={"token": root})
        assert via_sse == via_header
        async with websockets.connect(make_ws_url(server.url, path)) as ws:
            await ws.send(json.dumps({"type": "auth", "token": root}))
            via_frame = [json.loads(m) async for m in ws]
        assert via_frame == via_header
        # Another user's job does not exist for bob: 404 at the handshake, 4404 after a frame.
        response = await client.get(
            path, headers={"Accept": "text/event-stream", "Authorization": f"Bearer {bob}"}
        )
        assert response.status_code == 404
        with pytest.raises(websockets.InvalidStatus) as info:
            await ws_frames(make_ws_url(server.url, f"{path}?token={bob}"))
        assert info.value.response.status_code == 404
        async with websockets.connect(make_ws_url(server.url, path)) as ws:
            await ws.send(json.dumps({"type": "auth", "token": bob}))
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4404
        # The feed shows bob only his own jobs; the superuser sees everyone's.
        bob_headers = {"Authorization": f"Bearer {bob}"}
        mine = await submit_as(client, bob_headers, ["true"])
        await wait_state_as(client, bob_headers, mine)
        bob_feed = await sse_frames(client, "/v1/events", params={"token": bob}, limit=1)
        assert bob_feed[0]["id"] == mine and bob_feed[0]["user"] == "bob"
        root_feed = await sse_frames(client, "/v1/events", headers=headers, limit=1)
        assert root_feed[0]["id"] == job and root_feed[0]["user"] == "fluxuser"


async def submit_as(client: httpx.AsyncClient, headers: dict[str, str], command: list[str]) -> int:
    response = await client.post("/v1/jobs/submit", json={"command": command}, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


async def wait_state_as(client: httpx.AsyncClient, headers: dict[str, str], job: int) -> None:
    async def info() -> dict:
        return dict((await client.get(f"/v1/jobs/{job}", headers=headers)).json())

    await wait_for_async(
        info, 15, until=lambda i: i.get("state") == "INACTIVE", what=f"job {job} finished"
    )


async def test_shutdown_closes_streams_with_a_final_frame_and_seqs_survive_restart(server):
    script = "import time\nfor i in range(30):\n    print(i, flush=True)\n    time.sleep(0.1)\n"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, [PY, "-c", script])
        await wait_state(client, job, "RUN")
        path = f"/v1/jobs/{job}/stream"
        ws = await websockets.connect(make_ws_url(server.url, path), max_queue=None)
        feed = await websockets.connect(make_ws_url(server.url, "/v1/events"), max_queue=None)
        sse = asyncio.create_task(sse_frames(client, path))
        await wait_for_async(
            lambda: stream_metrics(client),
            until=lambda m: m["followers_job"] == 2 and m["followers_feed"] == 1,
            what="both job streams and the feed attached",
        )
        await asyncio.get_running_loop().run_in_executor(None, server.stop)
        frames = []
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in ws:
                frames.append(json.loads(message))
        assert ws.close_code == 1001
        feed_frames = []
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in feed:
                feed_frames.append(json.loads(message))
        assert feed_frames[-1]["type"] == "shutdown"
        assert feed_frames[-1]["since"] == feed_frames[-2]["seq"]
        sse_got = await sse
        for got in (frames, sse_got):
            last = got[-1]
            assert last["type"] == "shutdown"
            body = [f for f in got[:-1] if f["type"] != "ping"]
            assert [f["seq"] for f in body] == list(range(1, len(body) + 1))
            assert last["since"] == body[-1]["seq"]
        # The job kept running; after a restart the stream resumes where it was cut.
        server.restart()
        since = frames[-1]["since"]
        rest, code = await ws_frames(make_ws_url(server.url, f"{path}?since={since}"))
        assert code == 1000
        check_complete(frames[:-1] + rest)
        lines = [f["data"] for f in frames[:-1] + rest if f["type"] == "output"]
        assert lines == [f"{i}\n" for i in range(30)]


MALFORMED_AUTH_FRAMES = [
    ("[" * 5000 + "]" * 5000, "the auth frame is not JSON"),  # nested beyond any parser's stack
    ('{"type": "auth", "token": ', "the auth frame is not JSON"),
    ("x" * 20_000, "the auth frame is larger than 16384 bytes"),
    (b'{"type": "auth", "token": "12345"}', "as a text message"),
    ('{"type": "auth", "token": 12345}', 'send {"type": "auth", "token": ...} first'),
    ('["auth"]', 'send {"type": "auth", "token": ...} first'),
]


async def test_a_malformed_auth_frame_is_refused_with_4401_and_the_reason(auth_server):
    async with httpx.AsyncClient(base_url=auth_server.url, timeout=30) as client:
        root = await _token(client, "fluxuser", "12345")
        job = await submit_as(client, {"Authorization": f"Bearer {root}"}, ["true"])
    for message, reason in MALFORMED_AUTH_FRAMES:
        for path in (f"/v1/jobs/{job}/stream", "/v1/events"):
            async with websockets.connect(make_ws_url(auth_server.url, path)) as ws:
                await ws.send(message)
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.recv()
                assert (ws.close_code, path) == (4401, path), ws.close_reason
                assert reason in ws.close_reason, (message[:40], ws.close_reason)
    assert "Traceback" not in auth_server.log()
