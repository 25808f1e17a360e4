"""Frames on the wire: output encoded in bulk, frames ready for both transports, batches, caches.

Output lines are encoded with :func:`encode_output` (the JSON of
:func:`~.frames.encode` of an :func:`~.frames.output_frame`, faster). A :data:`Wire` holds one
frame ready for both transports, and :data:`CACHE` keeps the wires of recent log entries so that
a live entry fanned out to many followers is encoded once, not once per follower. A run of output
lines (:class:`~flux_restful_server.domain.events.OutputRun`) is encoded in bulk
(:func:`encode_run`, :func:`run_wire`): the same bytes as its lines one by one, without an object
per line. ``batch`` frames (:func:`batch_frames`, :func:`batch_segments`) group ready frames into
fewer, larger messages; :data:`BATCHES` shares a live batch's joined bytes between followers.
"""

from __future__ import annotations

from itertools import chain
from typing import Generic, TypeVar

import orjson

from ..domain.events import OutputLine, OutputRun, StreamEntry
from .frames import encode, output_frame

V = TypeVar("V")

_fast_dumps = orjson.dumps


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
