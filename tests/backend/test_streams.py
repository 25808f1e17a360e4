"""Live job streams over websocket and SSE: order, completeness, resume, filters, encoding."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random

import httpx
import pytest
import websockets

from .test_streams_support import (
    PY,
    check_complete,
    sse_frames,
    submit,
    wait_state,
    ws_frames,
    ws_url,
)

RANKS_SCRIPT = (
    "import os, sys, time\n"
    "rank = os.environ['FLUX_TASK_RANK']\n"
    "for i in range(int(sys.argv[1])):\n"
    "    print(f'out {rank} {i}', flush=True)\n"
    "    print(f'err {rank} {i}', file=sys.stderr, flush=True)\n"
    "    if i % 20 == 0: time.sleep(0.02)\n"
)


def output_by_source(frames: list[dict]) -> dict[tuple[str, int], list[str]]:
    lines: dict[tuple[str, int], list[str]] = {}
    for frame in frames:
        if frame["type"] == "output":
            lines.setdefault((frame["stream"], frame["rank"]), []).append(frame["data"])
    return lines


def expected_lines(ranks: int, count: int) -> dict[tuple[str, int], list[str]]:
    return {
        (stream, rank): [f"{stream[3:]} {rank} {i}\n" for i in range(count)]
        for stream in ("stdout", "stderr")
        for rank in range(ranks)
    }


async def test_every_line_in_order_from_every_rank_ws_and_sse(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, [PY, "-c", RANKS_SCRIPT, "300"], num_tasks=2)
        live, code = await ws_frames(ws_url(server.url, f"/v1/jobs/{job}/stream"))
        assert code == 1000
        check_complete(live)
        assert output_by_source(live) == expected_lines(2, 300)
        states = [f["state"] for f in live if f["type"] == "state"]
        assert states == ["NEW", "DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP"]
        end = live[-1]
        assert (end["state"], end["result"], end["returncode"]) == ("INACTIVE", "COMPLETED", 0)
        assert all(isinstance(f["t"], float) for f in live)
        # Replays are identical over both transports.
        replay_sse = await sse_frames(client, f"/v1/jobs/{job}/stream")
        replay_ws, _ = await ws_frames(ws_url(server.url, f"/v1/jobs/{job}/stream"))
        assert replay_sse == live
        assert replay_ws == live


async def test_end_frame_reports_failure_and_exit_code(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, [PY, "-c", "import sys; print('bye'); sys.exit(3)"])
        frames = await sse_frames(client, f"/v1/jobs/{job}/stream")
        check_complete(frames)
        assert frames[-1]["result"] == "FAILED"
        assert frames[-1]["returncode"] == 3


async def test_attach_before_start(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        blocker = await submit(client, ["sleep", "0.8"], cores_per_task=2)
        job = await submit(client, [PY, "-c", "print('hello'); print('world')"])
        info = (await client.get(f"/v1/jobs/{job}")).json()
        assert info["state"] == "SCHED"
        frames, code = await ws_frames(ws_url(server.url, f"/v1/jobs/{job}/stream"))
        check_complete(frames)
        assert [f["data"] for f in frames if f["type"] == "output"] == ["hello\n", "world\n"]
        assert "RUN" in [f.get("state") for f in frames]
        assert (await client.get(f"/v1/jobs/{blocker}")).json()["state"] == "INACTIVE"


async def test_resume_after_random_disconnects_has_no_gap_and_no_repeat(server):
    rng = random.Random(4)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, [PY, "-c", RANKS_SCRIPT, "400"], num_tasks=2)
        got: list[dict] = []
        since = 0
        attempt = 0
        while not got or got[-1]["type"] != "end":
            take = rng.randint(1, 250)
            path = f"/v1/jobs/{job}/stream"
            if attempt % 2:
                # SSE reconnection the way browsers do it: Last-Event-ID carries the last seq.
                headers = {"Last-Event-ID": str(since)} if since else None
                frames = await sse_frames(client, path, limit=take, headers=headers)
            else:
                frames, _ = await ws_frames(ws_url(server.url, f"{path}?since={since}"), limit=take)
            attempt += 1
            got += frames
            since = got[-1]["seq"]
        assert attempt > 3
        check_complete(got)
        assert output_by_source(got) == expected_lines(2, 400)


async def test_types_filter(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, [PY, "-c", "print('a'); print('b')"])
        frames, _ = await ws_frames(ws_url(server.url, f"/v1/jobs/{job}/stream?types=output"))
        assert [f["type"] for f in frames] == ["output", "output", "end"]
        frames = await sse_frames(client, f"/v1/jobs/{job}/stream", params={"types": "state"})
        assert {f["type"] for f in frames} == {"state", "end"}
        everything = await sse_frames(client, f"/v1/jobs/{job}/stream")
        assert {"event", "state", "output", "end"} <= {f["type"] for f in everything}
        # Resuming with a filter skips what the filter drops, without repeats.
        since = frames[2]["seq"]
        rest = await sse_frames(
            client, f"/v1/jobs/{job}/stream", params={"types": "state", "since": str(since)}
        )
        assert rest == frames[3:]


async def test_bad_parameters_are_refused_with_the_reason(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, ["true"])
        for params, word in (
            ({"types": "output,bogus"}, "bogus"),
            ({"since": "-1"}, "since"),
            ({"since": "abc"}, "since"),
            ({"ping": "0"}, "ping"),
        ):
            response = await client.get(
                f"/v1/jobs/{job}/stream", params=params, headers={"Accept": "text/event-stream"}
            )
            assert response.status_code == 400
            assert word in response.json()["detail"]
        response = await client.get("/v1/jobs/nope/stream")
        assert response.status_code == 400
        response = await client.get("/v1/jobs/12345/stream")
        assert response.status_code == 404
        response = await client.get("/v1/events", params={"state": "BOGUS"})
        assert response.status_code == 400 and "BOGUS" in response.json()["detail"]
        with pytest.raises(websockets.InvalidStatus) as info:
            await ws_frames(ws_url(server.url, f"/v1/jobs/{job}/stream?types=nope"))
        assert info.value.response.status_code == 400
        with pytest.raises(websockets.InvalidStatus) as info:
            await ws_frames(ws_url(server.url, "/v1/jobs/12345/stream"))
        assert info.value.response.status_code == 404


async def test_invalid_utf8_is_delivered_with_replacement_and_exact_bytes(server):
    script = (
        "import sys\n"
        "sys.stdout.buffer.write(b'ok \\xc3\\xa9\\n')\n"
        "sys.stdout.buffer.write(b'bad \\xff\\xfe\\x00 end\\n')\n"
        "sys.stderr.buffer.write(b'no newline \\xe2\\x82')\n"
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, [PY, "-c", script])
        frames, _ = await ws_frames(ws_url(server.url, f"/v1/jobs/{job}/stream?types=output"))
        out = [f for f in frames if f["type"] == "output"]
        assert out[0]["data"] == "ok é\n" and "data_b64" not in out[0]
        assert out[1]["data"] == "bad \ufffd\ufffd\x00 end\n"
        assert base64.b64decode(out[1]["data_b64"]) == b"bad \xff\xfe\x00 end\n"
        assert out[2]["stream"] == "stderr"
        assert base64.b64decode(out[2]["data_b64"]) == b"no newline \xe2\x82"
        sse = await sse_frames(client, f"/v1/jobs/{job}/stream", params={"types": "output"})
        assert sse == frames


async def test_keepalive_pings(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, ["sleep", "2.5"])
        async with websockets.connect(ws_url(server.url, f"/v1/jobs/{job}/stream?ping=1")) as ws:
            kinds = []
            async for message in ws:
                kinds.append(json.loads(message)["type"])
        assert kinds.count("ping") >= 1
        assert kinds[-1] == "end"


async def test_200_followers_all_receive_every_line(server):
    script = "import time\ntime.sleep(1.5)\nfor i in range(200): print(f'line {i}', flush=True)\n"
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        job = await submit(client, [PY, "-c", script])
        url = ws_url(server.url, f"/v1/jobs/{job}/stream?types=output")
        results = await asyncio.gather(*(ws_frames(url, open_timeout=30) for _ in range(200)))
        want = [f"line {i}\n" for i in range(200)]
        for frames, code in results:
            assert code == 1000
            assert [f["data"] for f in frames if f["type"] == "output"] == want
            assert frames[-1]["type"] == "end"
        assert (await client.get("/v1/jobs")).status_code == 200


async def test_slow_consumer_is_cut_off_with_resume_point_and_server_stays_healthy(
    server_factory, tmp_path
):
    server = server_factory(env={"FLUX_STREAM_BUFFER": "100"}, args=["--cores-per-node", "2"])
    # The job writes only once the follower is attached (it has received its first frame), so
    # its output arrives live. Were it written before (a slow connect on a loaded machine), it
    # would all be history, read from the file at the follower's pace: never cut off, and the
    # stream would end normally (1000) instead of with the lagged frame (1013).
    gate = tmp_path / "attached"
    script = (
        "import os, sys, time\n"
        f"while not os.path.exists({str(gate)!r}): time.sleep(0.01)\n"
        "for i in range(200000): sys.stdout.write(f'line {i} ' + 'x' * 100 + '\\n')\n"
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, [PY, "-c", script])
        await wait_state(client, job, "RUN")
        url = ws_url(server.url, f"/v1/jobs/{job}/stream")
        async with websockets.connect(url, max_queue=1, max_size=None) as ws:
            frames = [json.loads(await ws.recv())]  # subscribed: history comes after that
            gate.touch()
            # Read nothing more until the job is over: 23 MB of output overflow the socket's
            # buffers and our 100 entries in the hub, and pacing waits for us 0.5 s at most.
            await wait_state(client, job, "INACTIVE", timeout=60)
            with contextlib.suppress(websockets.ConnectionClosed):
                async for message in ws:
                    frames.append(json.loads(message))
            assert ws.close_code == 1013
        lagged = frames[-1]
        assert lagged["type"] == "lagged"
        body = [f for f in frames[:-1] if f["type"] != "ping"]
        check_seqs = [f["seq"] for f in body]
        assert check_seqs == list(range(1, len(body) + 1))
        assert lagged["since"] == len(body)
        # The server stayed healthy while cutting it off.
        assert (await client.get(f"/v1/jobs/{job}")).status_code == 200
        # Resuming from the given point delivers the rest, complete.
        rest, code = await ws_frames(f"{url}?since={lagged['since']}")
        assert code == 1000
        check_complete(body + rest)
        outputs = [f["data"] for f in body + rest if f["type"] == "output"]
        assert len(outputs) == 200000
        assert outputs[-1].startswith("line 199999 ")
