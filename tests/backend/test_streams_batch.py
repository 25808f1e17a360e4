"""Batched stream frames (``batch=true``): exactly today's frames, grouped, on both transports."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from flux_restful_server.streams.wire import MAX_BATCH_BYTES

from .test_streams_support import (
    PY,
    check_complete,
    flatten,
    sse_frames,
    submit,
    wait_state,
    ws_frames,
    ws_url,
)

# Two ranks, lines long enough that the output (about 1.2 MB) needs several batch frames.
SCRIPT = (
    "import os, sys\n"
    "rank = os.environ.get('FLUX_TASK_RANK', '0')\n"
    "for i in range(int(sys.argv[1])):\n"
    "    print(f'rank {rank} line {i} ' + 'x' * 80)\n"
    "    print(f'rank {rank} err {i}', file=sys.stderr)\n"
)


def check_batches(frames: list[dict], seq_key: str = "seq") -> None:
    """Batch frames hold whole frames, at most MAX_BATCH_BYTES each (as the server encodes)."""
    for frame in frames:
        if frame["type"] == "batch":
            text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
            assert len(text.encode()) <= MAX_BATCH_BYTES
            assert all(e.get("type") not in ("batch", "end", "ping") for e in frame["entries"])
            seqs = [entry[seq_key] for entry in frame["entries"]]
            assert seqs == sorted(seqs)


async def test_batched_frames_are_todays_frames_in_order_on_ws_and_sse(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, [PY, "-c", SCRIPT, "3000"], num_tasks=2)
        path = f"/v1/jobs/{job}/stream"
        # Followed live from before the start, batched and not, at the same time.
        live_batched, live_plain = await asyncio.gather(
            ws_frames(ws_url(server.url, f"{path}?batch=true")),
            ws_frames(ws_url(server.url, path)),
        )
        assert live_batched[1] == live_plain[1] == 1000
        plain = live_plain[0]
        check_complete(plain)
        assert len(plain) > 12_000
        assert flatten(live_batched[0]) == plain
        # Replayed from the log: the same entries, in fewer frames, over both transports.
        replay_ws, code = await ws_frames(ws_url(server.url, f"{path}?batch=true"))
        replay_sse = await sse_frames(client, path, params={"batch": "true"})
        assert code == 1000
        assert replay_ws == replay_sse
        assert flatten(replay_ws) == plain
        batches = [f for f in replay_ws if f["type"] == "batch"]
        assert 5 <= len(batches) < 100  # split by size, far fewer than the frames they carry
        check_batches(replay_ws)
        check_batches(live_batched[0])
        # The end frame is a frame of its own, last.
        assert replay_ws[-1] == plain[-1] and replay_ws[-1]["type"] == "end"
        assert all(f["type"] in ("batch", "end") for f in replay_ws)
        # Filters apply to the entries as they do to frames.
        only_state, _ = await ws_frames(ws_url(server.url, f"{path}?batch=1&types=state"))
        assert flatten(only_state) == [f for f in plain if f["type"] in ("state", "end")]


async def test_resume_in_the_middle_of_a_batch_is_exact(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, [PY, "-c", SCRIPT, "500"])
        await wait_state(client, job, "INACTIVE")
        path = f"/v1/jobs/{job}/stream"
        plain, _ = await ws_frames(ws_url(server.url, path))
        first, _ = await ws_frames(ws_url(server.url, f"{path}?batch=true"), limit=1)
        assert first[0]["type"] == "batch" and len(first[0]["entries"]) > 10
        middle = first[0]["entries"][len(first[0]["entries"]) // 2]["seq"]
        rest, code = await ws_frames(ws_url(server.url, f"{path}?batch=true&since={middle}"))
        assert code == 1000
        assert flatten(rest) == [f for f in plain if f["seq"] > middle]
        # SSE resumes from Last-Event-ID, the last entry of the last batch received.
        sse_first = await sse_frames(client, path, params={"batch": "true"}, limit=1)
        last = sse_first[0]["entries"][-1]["seq"]
        sse_rest = await sse_frames(
            client, path, params={"batch": "true"}, headers={"Last-Event-ID": str(last)}
        )
        assert flatten(sse_rest) == [f for f in plain if f["seq"] > last]


async def test_batched_event_feed_matches_the_plain_feed(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        jobs = [await submit(client, ["true"]) for _ in range(5)]
        for job in jobs:
            await wait_state(client, job, "INACTIVE")
        plain = await sse_frames(client, "/v1/events", limit=5 * 10)  # 10 events a job
        batched = await sse_frames(client, "/v1/events", params={"batch": "true"}, limit=1)
        entries = flatten(batched)
        assert entries == plain[: len(entries)]
        check_batches(batched)
        async with websockets.connect(ws_url(server.url, "/v1/events?batch=true")) as ws:
            frame = json.loads(await ws.recv())
        assert frame == batched[0]
        # Resume after an entry in the middle of that batch.
        middle = entries[len(entries) // 2]["seq"]
        resumed = await sse_frames(
            client, "/v1/events", params={"batch": "true", "since": str(middle)}, limit=1
        )
        assert flatten(resumed)[0] == next(f for f in plain if f["seq"] > middle)


async def test_a_bad_batch_value_is_refused_with_the_reason(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        job = await submit(client, ["true"])
        for path in (f"/v1/jobs/{job}/stream", "/v1/events"):
            response = await client.get(
                path, params={"batch": "maybe"}, headers={"Accept": "text/event-stream"}
            )
            assert response.status_code == 400
            assert "batch" in response.json()["detail"]
