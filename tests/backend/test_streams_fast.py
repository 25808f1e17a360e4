"""Fast paths of the live streams: shared live slices, pre-encoded frames, paced ingestion."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flux_restful_server.domain.errors import SubscriberLagged
from flux_restful_server.domain.events import JobEvent, OutputLine, OutputRun, entries_after
from flux_restful_server.executors.hub import Hub
from flux_restful_server.streams.frames import encode, output_frame
from flux_restful_server.streams.transport import Outcome, pump
from flux_restful_server.streams.wire import (
    MAX_BATCH_BYTES,
    SSE,
    TEXT,
    WS,
    batch_frames,
    batch_segments,
    encode_output,
    encode_run,
    join,
    messages,
    run_wire,
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


def _run(seq: int, lines: list[bytes], **fields) -> OutputRun:
    data = b"".join(line + b"\n" for line in lines)
    return OutputRun(7, seq, len(lines), fields.get("t", 1.5), "stdout", 0, data)


async def test_a_run_of_lines_counts_as_its_lines_toward_the_limit():
    hub = Hub(limit=10)
    with hub.job(7) as sub:
        hub.publish_many([_run(1, [b"a"] * 6), _line(7)])
        assert hub.room(7) == 3
        hub.publish_many([_run(8, [b"b"] * 4)])  # 11 entries queued: cut off
        with pytest.raises(SubscriberLagged) as lag:
            await sub.get_batch()
        assert lag.value.resume_seq == 0


def test_a_run_cut_after_a_seq_keeps_exactly_the_later_lines():
    run = _run(5, [b"five", b"six", b"seven", b"eight"])
    assert run.last == 8
    assert run.after(4) is run
    assert entries_after([run], 8) == []
    for seq in range(5, 8):
        rest = run.after(seq)
        assert rest is not None
        lines = rest.lines() if isinstance(rest, OutputRun) else [rest]
        assert lines == [line for line in run.lines() if line.seq > seq]
    assert entries_after([_line(3), run, _line(9)], 6) == [run.after(6), _line(9)]


_payloads = st.lists(
    (st.binary(max_size=30) | st.text(max_size=20).map(str.encode)).map(
        lambda b: b.replace(b"\n", b"")  # a line's bytes: anything but a newline
    ),
    min_size=2,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_payloads, st.sampled_from(["stdout", "stderr"]), st.integers(0, 300), st.floats(0, 2e9))
@example([b"a\\nb", b"c\\"], "stdout", 0, 1.5).via("backslashes before an n")
@example([b"tab\t", b"\x01\x1f\x7f", b'"quoted"'], "stderr", 3, 1795952282.56)
@example([b"bad \xff", b"ok"], "stdout", 1, 2.0).via("not UTF-8: data_b64 on that line")
def test_a_run_encodes_to_the_same_bytes_as_its_lines_one_by_one(lines, stream, rank, t):
    run = OutputRun(7, 40, len(lines), t, stream, rank, b"".join(x + b"\n" for x in lines))
    singles = [wire(encode_output(line), line.seq) for line in run.lines()]
    assert encode_run(run) == b",".join(frame[TEXT] for frame in singles)
    assert run_wire(run) == join(singles)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 400), st.integers(0, 30_000)), max_size=8))
@example([(True, 300, 800)] * 3).via("runs larger than a batch, cut between their entries")
@example([(False, 1, 300_000), (True, 2, 200_000)]).via("entries larger than a batch")
def test_batches_of_runs_are_the_batches_of_their_lines(shape):
    # Segments (a run's entries joined, or one entry) give the very batches that their
    # entries one by one give: the same cuts, the same SSE ids.
    segments, texts, seqs, seq = [], [], [], 1
    for is_run, count, width in shape:
        if is_run and count > 1:
            run = _run(seq, [b"x" * (width // count)] * count)
            segments.append((encode_run(run), run.count, run.last))
            texts += [encode_output(line) for line in run.lines()]
        else:
            text = encode({"seq": seq, "type": "event", "name": "n" * width})
            segments.append((text.encode(), 1, seq))
            texts.append(text.encode())
            count = 1
        seqs += range(seq, seq + count)
        seq += count
    frames = batch_segments(segments)
    assert frames == batch_frames(texts, seqs)
    for frame in frames:
        entries = json.loads(frame[TEXT])["entries"]
        assert len(frame[TEXT]) <= MAX_BATCH_BYTES or len(entries) == 1


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


class _GatedSink:
    """A sink whose sends wait for the test to let them through, writing in their last step."""

    def __init__(self, open_sends: int) -> None:
        self.sent: list[bytes] = []
        self.allowed = asyncio.Semaphore(open_sends)
        self.started = 0

    async def send(self, frames):
        self.started += 1
        await self.allowed.acquire()
        self.sent += [text for frame in frames for text in messages(frame)]

    async def close(self, code=1000, reason=""):
        pass

    def gone(self):
        return None


async def _batches():
    for seq in (1, 2, 3):
        yield [seq]
    await asyncio.Event().wait()  # then nothing more, ever


async def _render(batch):
    return [wire(encode({"seq": batch[0]}), batch[0])], batch[0], False


async def test_a_stream_stopped_during_a_send_resumes_after_what_was_sent():
    # The third batch's send is held when the server stops: the shutdown frame says since=2,
    # and the third frame is never written.
    sink = _GatedSink(open_sends=2)
    shutdown = asyncio.get_running_loop().create_future()
    pumping = asyncio.ensure_future(
        pump(_batches(), _render, sink, since=0, ping=60, shutdown=shutdown)
    )
    while sink.started < 3:  # the third send is waiting
        await asyncio.sleep(0.01)
    shutdown.set_result(None)
    await asyncio.sleep(0.05)  # the pump stops the held send
    sink.allowed.release()  # and the shutdown frame goes through
    assert await pumping == Outcome("shutdown", 2)
    assert [json.loads(text) for text in sink.sent] == [
        {"seq": 1},
        {"seq": 2},
        {"type": "shutdown", "since": 2},
    ]


async def test_pings_fill_silences_and_stop_with_the_last_frame():
    sink = _GatedSink(open_sends=100)

    async def slow():
        yield [1]
        await asyncio.sleep(0.35)
        yield [2]

    async def render(batch):
        return [wire(encode({"seq": batch[0]}), batch[0])], batch[0], batch[0] == 2

    shutdown = asyncio.get_running_loop().create_future()
    outcome = await pump(slow(), render, sink, since=0, ping=0.1, shutdown=shutdown)
    assert outcome == Outcome("end", 2)
    await asyncio.sleep(0.3)  # no ping after the last frame
    frames = [json.loads(text) for text in sink.sent]
    assert frames[0] == {"seq": 1} and frames[-1] == {"seq": 2}
    assert 2 <= frames.count({"type": "ping"}) == len(frames) - 2 <= 4
