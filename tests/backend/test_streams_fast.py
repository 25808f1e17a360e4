"""Fast paths of the live streams: shared live slices, pre-encoded frames, paced ingestion."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from flux_restful_server.domain.errors import SubscriberLagged
from flux_restful_server.domain.events import JobEvent, OutputLine
from flux_restful_server.executors.hub import Hub
from flux_restful_server.streams.frames import (
    SSE,
    TEXT,
    WS,
    encode,
    encode_output,
    join,
    messages,
    output_frame,
    wire,
)

from .test_streams_support import PY, check_complete, sse_frames, submit, ws_frames, ws_url


def _line(seq: int, data: bytes = b"x\n") -> OutputLine:
    return OutputLine(7, seq, 1.5, "stdout", 0, data)


async def test_followers_share_each_published_slice_and_overflow_is_cut_off_at_its_start():
    hub = Hub(limit=10)
    with hub.job(7) as a, hub.job(7) as b:
        first = [_line(1), _line(2), _line(3)]
        hub.publish_many(first)
        assert hub.room(7) == 7
        got_a, got_b = await a.get_batch(), await b.get_batch()
        assert got_a is first and got_b is first  # one list, shared, handed out as is
        assert hub.room(7) == 10
        hub.publish_many([_line(4), _line(5)])
        hub.publish_many([_line(6)])
        assert [e.seq for e in await a.get_batch()] == [4, 5, 6]  # several slices: merged
        # b took nothing: a slice that would take it past its limit cuts it off, resuming
        # after the last entry it was given.
        hub.publish_many([_line(seq) for seq in range(7, 16)])
        assert len(await a.get_batch()) == 9
        with pytest.raises(SubscriberLagged) as lag:
            await b.get_batch()
        assert lag.value.resume_seq == 3
        assert hub.room(7) == 10  # a lagged follower holds nobody back


async def test_publish_many_sends_events_to_the_feed():
    hub = Hub()
    event = JobEvent(7, 2, "start", 1.0, {}, feed_seq=5, user="alice")
    with hub.feed() as feed:
        hub.publish_many([_line(1), event])
        assert await feed.get_batch() == [event]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_wire_frames_are_what_a_websocket_server_sends(size):
    from websockets.frames import Frame, Opcode

    text = json.dumps({"seq": 3, "data": "y" * size})
    frame = wire(text, 3)
    assert frame[TEXT] == text.encode()
    assert frame[WS] == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
    assert frame[SSE] == f"id: 3\ndata: {text}\n\n".encode()
    assert wire(text)[SSE] == f"data: {text}\n\n".encode()
    assert messages(frame) == [text.encode()]


def test_joined_frames_split_back_into_one_message_per_frame():
    texts = [encode({"seq": i, "data": "z" * (i * 40)}) for i in range(1, 6)]
    frames = [wire(t, i) for i, t in enumerate(texts, start=1)]
    joined = join(frames)
    assert joined[SSE] == b"".join(f[SSE] for f in frames)
    assert messages(joined) == [t.encode() for t in texts]


@pytest.mark.parametrize("data", [b"plain\n", b'quote " back \\ tab \t\n', "é ✓\n".encode()])
def test_fast_output_encoding_matches_the_frame_dict(data):
    line = _line(4, data)
    assert json.loads(encode_output(line)) == output_frame(line)


async def test_followers_that_keep_up_are_never_cut_off_by_a_burst(server_factory):
    # A small hub buffer (slices of 100 entries) and a burst of 20,000 lines: ingestion waits
    # for the followers instead of cutting them off. The job then sleeps so that the whole
    # burst is paced while it still runs.
    server = server_factory(env={"FLUX_STREAM_BUFFER": "200"}, args=["--cores-per-node", "2"])
    script = (
        "import sys, time\n"
        "sys.stdout.writelines(f'line {i}\\n' for i in range(20000))\n"
        "sys.stdout.flush()\n"
        "time.sleep(3)\n"
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        job = await submit(client, [PY, "-c", script])
        url = ws_url(server.url, f"/v1/jobs/{job}/stream")
        results = await asyncio.gather(
            *(ws_frames(url, open_timeout=30) for _ in range(5)),
            sse_frames(client, f"/v1/jobs/{job}/stream"),
            ws_frames(url + "?types=output", open_timeout=30),
        )
    want = [f"line {i}\n" for i in range(20000)]
    for frames, code in results[:5]:
        assert code == 1000, frames[-1]
        check_complete(frames)
        assert [f["data"] for f in frames if f["type"] == "output"] == want
    sse = results[5]
    assert isinstance(sse, list)
    assert sse == results[0][0]  # identical frames on both transports
    filtered, code = results[6]
    assert code == 1000
    assert [f["type"] for f in filtered[:-1]] == ["output"] * 20000
    assert filtered[-1]["type"] == "end"
