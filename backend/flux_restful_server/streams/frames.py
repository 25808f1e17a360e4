"""The JSON frames of ``/v1/jobs/{id}/stream`` and ``/v1/events`` (docs/streams.md).

Frames are plain dicts, encoded once per entry with :func:`encode` (output lines with the faster
:func:`encode_output`); websocket and SSE carry the same text. A :data:`Wire` holds one frame
ready for both transports, and :data:`CACHE` keeps the wires of recent log entries so that a live
entry fanned out to many followers is encoded once, not once per follower. A run of output lines
(:class:`~flux_restful_server.domain.events.OutputRun`) is encoded in bulk (:func:`encode_run`,
:func:`run_wire`): the same bytes as its lines one by one, without an object per line.

Output bytes that are not valid UTF-8 are delivered as ``data`` with U+FFFD replacement
characters plus the exact bytes in ``data_b64`` (base64), so text clients keep working and
byte-exact clients lose nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any, Generic, TypeVar

import orjson

from ..domain.events import JobEvent, LogEntry, OutputLine, OutputRun, StreamEntry
from ..domain.ids import InvalidJobId, parse_job_id
from ..domain.record import JobRecord
from ..domain.states import STATE_AFTER, JobResult, JobState
from ..errors import BadRequest
from ..jobs.info import event_reason, returncode
from ..limits import MAX_INT, LimitError, bounded_int, show

V = TypeVar("V")

JOB_FRAME_TYPES = frozenset({"output", "state", "event", "exception", "end"})
"""Values accepted by ``types=`` on the job stream (``end`` is always sent)."""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_fast_dumps = orjson.dumps


def encode(frame: dict[str, Any]) -> str:
    """One frame as compact JSON text."""
    return _dumps(frame)


def encode_output(line: OutputLine) -> bytes:
    """An output frame as JSON (UTF-8): the JSON of ``encode(output_frame(line))``, faster.

    orjson writes the same text as the standard library here (same escapes, same shortest
    float repr for times) in about half the time; output that is not UTF-8 takes the slow path.
    """
    try:
        text = line.data.decode()
    except UnicodeDecodeError:
        return encode(output_frame(line)).encode()
    return _fast_dumps(
        {
            "seq": line.seq,
            "type": "output",
            "stream": line.stream,
            "rank": line.rank,
            "data": text,
            "t": line.timestamp,
        }
    )


def encode_run(run: OutputRun) -> bytes:
    r"""The output frames of a run's lines as JSON, joined by commas (a batch's ``entries``).

    Byte for byte ``b",".join(encode_output(line) for line in run.lines())``, without an object
    per line on the way: the lines are decoded and escaped by one ``orjson.dumps`` of all their
    text and cut apart at the escaped newlines, and each frame is one ``%`` of a template in
    which everything but the seq and the data is already filled in (the lines of a run share
    their time, stream and rank). Text with backslashes is escaped as a list of lines (a ``\n``
    would be ambiguous in it); output that is not UTF-8 takes the slow path (``data_b64``).
    """
    return b",".join(_run_texts(run))


def _run_texts(run: OutputRun) -> list[bytes]:
    """The output frame of each of the run's lines (as :func:`encode_output` writes them)."""
    try:
        text = run.data.decode()
    except UnicodeDecodeError:
        return [encode_output(line) for line in run.lines()]
    if "\\" in text:
        parts = _fast_dumps(text[:-1].split("\n"))[2:-2].split(b'","')
    else:
        parts = _fast_dumps(text)[1:-3].split(b"\\n")
    template = b'{"seq":%%d,"type":"output","stream":%s,"rank":%d,"data":"%%b\\n","t":%s}' % (
        _fast_dumps(run.stream),
        run.rank,
        _fast_dumps(run.timestamp),
    )
    return list(map(template.__mod__, zip(range(run.seq, run.seq + run.count), parts, strict=True)))


Wire = tuple[bytes, bytes, bytes]
"""One encoded frame, ready for each transport (a plain tuple: one is built per entry):

* ``[TEXT]``: the JSON text (UTF-8);
* ``[WS]``: a complete websocket text frame as a server sends it (unmasked, no extensions);
* ``[SSE]``: an SSE event, ``id: <seq>`` (when the frame has one) and ``data: <json>``.
"""
TEXT, WS, SSE = 0, 1, 2


_WS_HEADS = [bytes((0x81, n)) for n in range(126)]


def wire(text: str | bytes, seq: int | None = None) -> Wire:
    """Encode a frame's JSON ``text`` for every transport (``seq`` labels the SSE event)."""
    return _wire_bytes(text if isinstance(text, bytes) else text.encode(), seq)


def _wire_bytes(data: bytes, seq: int | None) -> Wire:
    size = len(data)
    if size < 126:
        head = _WS_HEADS[size]
    elif size < 65536:
        head = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + size.to_bytes(8, "big")
    sse = b"data: " + data + b"\n\n" if seq is None else b"id: %d\ndata: %s\n\n" % (seq, data)
    return (data, head + data, sse)


class _WsHeads(dict[int, bytes]):
    """Websocket text frame headers by payload length, made on first use (short ones kept)."""

    def __missing__(self, size: int) -> bytes:
        if size < 126:
            head = bytes((0x81, size))
        elif size < 65536:
            head = b"\x81\x7e" + size.to_bytes(2, "big")
        else:
            return b"\x81\x7f" + size.to_bytes(8, "big")
        self[size] = head
        return head


_HEADS = _WsHeads()


def run_wire(run: OutputRun) -> Wire:
    """A run's lines as one frame per line, joined for one write (see :func:`join`)."""
    texts = _run_texts(run)
    seqs = range(run.seq, run.seq + run.count)
    heads = map(_HEADS.__getitem__, map(len, texts))
    ws = b"".join(chain.from_iterable(zip(heads, texts, strict=True)))
    sse = b"".join(map(b"id: %d\ndata: %b\n\n".__mod__, zip(seqs, texts, strict=True)))
    return (b"", ws, sse)


class FrameCache(Generic[V]):
    """The encodings of recent log entries, by entry identity (never across different entries).

    Live entries are the same objects for every follower of a job, so the first follower to
    render an entry encodes it and the others reuse the bytes. The cache holds at most ``size``
    entries (it is emptied when full) and keeps each cached entry alive, so an ``id`` is never
    confused with a later object's.
    """

    def __init__(self, size: int = 1 << 15) -> None:
        self.size = size
        self.items: dict[int, tuple[StreamEntry, V]] = {}

    def get(self, entry: StreamEntry) -> V | None:
        """The encoding of ``entry``, if cached."""
        hit = self.items.get(id(entry))
        return hit[1] if hit is not None and hit[0] is entry else None

    def put(self, entry: StreamEntry, value: V) -> V:
        """Remember ``value`` as the encoding of ``entry`` and return it."""
        if len(self.items) >= self.size:
            self.items.clear()
        self.items[id(entry)] = (entry, value)
        return value


CACHE: FrameCache[Wire] = FrameCache()
"""The process's cache of encoded log entries (streams run on one event loop)."""

Segment = tuple[bytes, int, int]
"""Entries of a batch: their frames' JSON joined by commas, how many, and the last one's seq."""

RUN_SEGMENTS: FrameCache[Segment] = FrameCache(1 << 10)
"""The batch entries of recent output runs (:func:`encode_run`), by run identity."""


def run_segment(run: OutputRun) -> Segment:
    """The batch entries of a run's lines, encoded once for every follower."""
    hit = RUN_SEGMENTS.get(run)
    if hit is not None:
        return hit
    return RUN_SEGMENTS.put(run, (encode_run(run), run.count, run.last))


JOIN_AT = 8
"""Batches of at least this many entries are rendered as one joined :data:`Wire`."""


def join(frames: list[Wire]) -> Wire:
    """Several frames as one write: ``[TEXT]`` is empty (one message per frame must stay one)."""
    return (b"", b"".join([f[WS] for f in frames]), b"".join([f[SSE] for f in frames]))


def messages(frame: Wire) -> list[bytes]:
    """The JSON text of each message in ``frame`` (one, or several for a :func:`join`)."""
    if frame[TEXT]:
        return [frame[TEXT]]
    data, pos, out = frame[WS], 0, []
    while pos < len(data):
        size, head = data[pos + 1] & 0x7F, 2
        if size == 126:
            size, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
        elif size == 127:
            size, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
        out.append(data[pos + head : pos + head + size])
        pos += head + size
    return out


MAX_BATCH_BYTES = 1 << 18
"""JSON bytes of one ``batch`` frame (256 KiB), so a batch stays under the 1 MiB message limit
that websocket libraries default to; a single entry larger than this is a batch of its own."""

_BATCH_OPEN = b'{"type":"batch","entries":['
_ENVELOPE = len(_BATCH_OPEN) + 2


def batch_frames(texts: list[bytes], seqs: list[int]) -> list[Wire]:
    """Frames (their JSON ``texts``, the ``seq`` of each in ``seqs``) as ``batch`` frames.

    ``{"type": "batch", "entries": [<frame>, ...]}``: the entries are the frames' exact JSON,
    in order, at most :data:`MAX_BATCH_BYTES` per batch; a batch's SSE ``id:`` is the ``seq``
    of its last entry. Nothing waits for more entries: a batch holds what is ready now.
    """
    return batch_segments(list(zip(texts, [1] * len(texts), seqs, strict=True)))


_NEXT = b'},{"seq":'
"""Between two entries of a segment. Never inside one: a JSON string escapes every quote."""


def batch_segments(segments: list[Segment]) -> list[Wire]:
    """Segments of entries (:data:`Segment`) as ``batch`` frames, as :func:`batch_frames`.

    A segment of several entries that does not fit in what is left of a batch is cut between
    two of its entries (found by searching its JSON for :data:`_NEXT`, not entry by entry).
    """
    out: list[Wire] = []
    texts: list[bytes] = []
    size, last = _ENVELOPE, 0
    for text, count, seq in segments:
        length = len(text) + 1
        while count > 1 and size + length > MAX_BATCH_BYTES:
            # The most entries that fit: a cut at ``}`` leaves len(head) + 1 <= room.
            room = MAX_BATCH_BYTES - size
            cut = text.rfind(_NEXT, 0, room + len(_NEXT) - 2) + 1 if room > 1 else 0
            if cut <= 0:
                if texts:  # not even its first entry fits in what is left: a new batch
                    out.append(_batch(texts, last))
                    texts, size = [], _ENVELOPE
                    continue
                cut = text.find(_NEXT) + 1  # its first entry alone fills a batch
            head, text = text[:cut], text[cut + 1 :]
            start = head.rfind(b'{"seq":') + 7
            texts.append(head)
            out.append(_batch(texts, int(head[start : head.index(b",", start)])))
            texts, size = [], _ENVELOPE
            count -= head.count(_NEXT) + 1
            length = len(text) + 1
        if size + length > MAX_BATCH_BYTES and texts:
            out.append(_batch(texts, last))
            texts, size = [], _ENVELOPE
        texts.append(text)
        size += length
        last = seq
    if texts:
        out.append(_batch(texts, last))
    return out


def _batch(texts: list[bytes], last_seq: int) -> Wire:
    return _wire_bytes(b"%s%s]}" % (_BATCH_OPEN, b",".join(texts)), last_seq)


Rendering = tuple[frozenset[str] | None, bool]
"""How a follower renders a batch: its ``types=`` filter and whether it asked for batches."""


class BatchCache:
    """The joined frames of recent live batches, by batch identity and how they are rendered.

    Followers that keep up receive each live slice as the same list object (see the hub), so
    the first one renders and joins its frames and the others send the same bytes.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.items: dict[tuple[int, Rendering], tuple[list[StreamEntry], Wire]] = {}

    def get(self, batch: list[StreamEntry], how: Rendering) -> Wire | None:
        """The joined frames of ``batch`` rendered ``how``, if cached."""
        hit = self.items.get((id(batch), how))
        return hit[1] if hit is not None and hit[0] is batch else None

    def put(self, batch: list[StreamEntry], how: Rendering, value: Wire) -> None:
        """Remember the joined frames of ``batch`` rendered ``how``."""
        if len(self.items) >= self.size:
            self.items.clear()
        self.items[(id(batch), how)] = (batch, value)


BATCHES = BatchCache()
"""The process's cache of joined live batches."""


def frame_type(entry: LogEntry) -> str:
    """The ``type`` a log entry is delivered as."""
    if isinstance(entry, OutputLine):
        return "output"
    if entry.name == "clean":
        return "end"
    if entry.name == "exception":
        return "exception"
    if entry.name in STATE_AFTER:
        return "state"
    return "event"


def output_frame(line: OutputLine) -> dict[str, Any]:
    """``{"seq", "type": "output", "stream", "rank", "data", "t"}`` (+ ``data_b64``)."""
    frame: dict[str, Any] = {
        "seq": line.seq,
        "type": "output",
        "stream": line.stream,
        "rank": line.rank,
        "data": "",
        "t": line.timestamp,
    }
    try:
        frame["data"] = line.data.decode()
    except UnicodeDecodeError:
        frame["data"] = line.data.decode(errors="replace")
        frame["data_b64"] = base64.b64encode(line.data).decode("ascii")
    return frame


def event_frame(event: JobEvent, kind: str) -> dict[str, Any]:
    """A state change, an exception, or another eventlog event of one job."""
    frame: dict[str, Any] = {"seq": event.seq, "type": kind}
    if kind == "state":
        frame["state"] = STATE_AFTER[event.name].name
    frame["name"] = event.name
    frame["context"] = dict(event.context)
    frame["t"] = event.timestamp
    return frame


def end_frame(event: JobEvent, record: JobRecord | None) -> dict[str, Any]:
    """The final frame, built from the ``clean`` event and the job's record at that moment."""
    result: str | None = None
    code: int | None = None
    if record is not None and record.get("state") == JobState.INACTIVE:
        result_code = record.get("result")
        if result_code:
            result = JobResult(result_code).name
        rc = returncode(record)
        code = rc if isinstance(rc, int) else None
    return {
        "seq": event.seq,
        "type": "end",
        "state": JobState.INACTIVE.name,
        "result": result,
        "returncode": code,
        "t": event.timestamp,
    }


def parse_types(text: str | None) -> frozenset[str] | None:
    """Parse ``types=output,state`` (``None`` when absent: every type).

    Raises:
        BadRequest: An unknown type, with the accepted ones.
    """
    if text is None or not text.strip():
        return None
    wanted = frozenset(t.strip().lower() for t in text.split(",") if t.strip())
    unknown = sorted(wanted - JOB_FRAME_TYPES)
    if unknown:
        raise BadRequest(
            f"types: unknown frame type(s) {', '.join(unknown)}; "
            f"use any of {', '.join(sorted(JOB_FRAME_TYPES))}"
        )
    return wanted | {"end"}


def parse_since(text: str | None, name: str = "since") -> int:
    """Parse a resume point: the last ``seq`` already seen (0, or absent, for everything).

    Raises:
        BadRequest: Not a non-negative integer.
    """
    if text is None or not text.strip():
        return 0
    try:
        return bounded_int(text, name)
    except LimitError:
        raise BadRequest(
            f"{name} must be a non-negative integer (a seq) up to {MAX_INT}, not {show(text)}"
        ) from None


def feed_frame(event: JobEvent) -> dict[str, Any]:
    """``{"seq": feed_seq, "id", "event", "state", "t", "user", "seq_job", "context"}``.

    ``state`` is the state the event moved the job to, or ``None`` for events that do not
    change it (``start``, ``exception``, ``release``, ...): the same whether replayed or live.
    Events that say why a job waits (``dependency-add``, a hold, a dependency that can never be
    met) add ``reason``, the job's pending reason in plain words.
    """
    state = STATE_AFTER.get(event.name)
    frame = {
        "seq": event.feed_seq,
        "id": event.job_id,
        "event": event.name,
        "state": state.name if state is not None else None,
        "t": event.timestamp,
        "user": event.user,
        "job_seq": event.seq,
        "context": dict(event.context),
    }
    reason = event_reason(event.name, event.context)
    if reason is not None:
        frame["reason"] = reason
    return frame


def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Which feed events a subscriber receives."""

    owner: str | None = None
    """Only this API user's jobs (non-superusers); ``None`` for everyone's."""
    users: frozenset[str] | None = None
    """``user=``: only jobs of these users."""
    states: frozenset[str] | None = None
    """``state=``: only events that move a job to one of these states."""
    ids: frozenset[int] | None = None
    """``ids=``: only these jobs."""

    @classmethod
    def parse(
        cls, owner: str | None, user: str | None, state: str | None, ids: str | None
    ) -> FeedFilter:
        """Build a filter from the query string.

        Raises:
            BadRequest: An unknown state or a malformed job id, with the reason.
        """
        users = frozenset(_split(user)) or None
        states: frozenset[str] | None = None
        if _split(state):
            names = {s.upper() for s in _split(state)}
            unknown = sorted(names - set(JobState.__members__))
            if unknown:
                raise BadRequest(
                    f"state: unknown state(s) {', '.join(unknown)}; "
                    f"use any of {', '.join(JobState.__members__)}"
                )
            states = frozenset(names)
        job_ids: frozenset[int] | None = None
        if _split(ids):
            try:
                job_ids = frozenset(parse_job_id(item) for item in _split(ids))
            except InvalidJobId as exc:
                raise BadRequest(f"ids: {exc}") from None
        return cls(owner, users, states, job_ids)

    def select(self, events: Iterable[JobEvent]) -> list[JobEvent]:
        """The events of ``events`` this subscriber may and wants to see."""
        out = []
        for event in events:
            if self.owner is not None and event.user != self.owner:
                continue
            if self.users is not None and event.user not in self.users:
                continue
            if self.ids is not None and event.job_id not in self.ids:
                continue
            if self.states is not None:
                state = STATE_AFTER.get(event.name)
                if state is None or state.name not in self.states:
                    continue
            out.append(event)
        return out
