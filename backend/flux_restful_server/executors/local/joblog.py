r"""A job's log file: its eventlog and its output, one record per line, in one sequence.

Each record is one line ``<time> <kind> <rank> <payload>\n``:

* kind ``o``/``e``: a line of stdout/stderr; the payload is the line without its newline.
* kind ``O``/``E``: a final stdout/stderr fragment that had no newline.
* kind ``@``: an eventlog event; rank is ``-`` and the payload is ``{"name": ..., "context": ...}``.

A record's position in the file is its ``seq``. Payload bytes are stored raw (output may be any
bytes but ``\n``), so the file is binary and never re-encoded. Exactly one process appends to a
job's log at a time (the server before and after the job runs, the supervisor while it runs), so
records never interleave.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ...domain.events import JobEvent, LogEntry, OutputLine, OutputRun, StreamEntry

_STREAMS = {
    b"o": ("stdout", True),
    b"e": ("stderr", True),
    b"O": ("stdout", False),
    b"E": ("stderr", False),
}
CHUNK = 1 << 20


def event_record(name: str, context: Mapping[str, Any], t: float) -> bytes:
    """Encode an eventlog event as one record."""
    payload = orjson.dumps({"name": name, "context": context})
    return b"%.6f @ - %s\n" % (t, payload)


def ending_events(allocated: bool) -> list[tuple[str, dict[str, Any]]]:
    """The events that end a job after ``finish``, or after a fatal exception before it ran.

    As Flux's job manager writes them: the resources back (if it held any), then ``clean``.
    """
    events: list[tuple[str, dict[str, Any]]] = []
    if allocated:
        events += [("release", {"ranks": "all", "final": True}), ("free", {})]
    events.append(("clean", {}))
    return events


def output_record(kind: bytes, rank: int, line: bytes, t: float) -> bytes:
    """Encode one output line (``line`` without its newline) as one record."""
    return b"%.6f %s %d %s\n" % (t, kind, rank, line)


def output_records(kind: bytes, rank: int, lines: bytes, t: float) -> bytes:
    """Encode several lines read at once (``lines``: each ends with a newline) as records.

    The same bytes as one :func:`output_record` per line, in one operation: every record of the
    read has the same ``<time> <kind> <rank>`` label, so labelling is one replace of the
    newlines (the supervisor's per-line cost was this formatting: 0.2 of 0.5 µs a line).
    """
    label = b"%.6f %s %d " % (t, kind, rank)
    return label + lines[:-1].replace(b"\n", b"\n" + label) + b"\n"


def _fast_constructor(cls: type[OutputLine]) -> Callable[..., OutputLine]:
    """Build ``cls`` instances by setting their slots directly.

    ``OutputLine`` is a frozen dataclass: its ``__init__`` sets each field through
    ``object.__setattr__``, which was half the cost of parsing an output record (1.3 of 2.7 µs
    a line, profiled). A slot's own descriptor sets it in a fraction of that; the result is an
    ordinary, equal, immutable instance.
    """
    new = cls.__new__
    names = ("job_id", "seq", "timestamp", "stream", "rank", "data")
    slots: dict[str, Any] = {f.name: cls.__dict__.get(f.name) for f in dataclasses.fields(cls)}
    if set(slots) != set(names) or not all(hasattr(s, "__set__") for s in slots.values()):
        return cls  # not the class this was written for: the ordinary constructor
    set_job, set_seq, set_t, set_stream, set_rank, set_data = (slots[n].__set__ for n in names)

    def build(job_id: int, seq: int, t: float, stream: str, rank: int, data: bytes) -> OutputLine:
        line = new(cls)
        set_job(line, job_id)
        set_seq(line, seq)
        set_t(line, t)
        set_stream(line, stream)
        set_rank(line, rank)
        set_data(line, data)
        return line

    return build


_output_line = _fast_constructor(OutputLine)


def parse_record(job_id: int, seq: int, raw: bytes) -> LogEntry:
    """Decode one record (without its trailing newline) into a log entry.

    A record cut short by a writer that was killed mid-write is returned as its raw bytes on
    stderr of rank -1, so readers never fail on it and no byte is hidden.
    """
    try:
        stamp, kind, rank, payload = raw.split(b" ", 3)
        if kind == b"@":
            obj = orjson.loads(payload)
            return JobEvent(job_id, seq, obj["name"], float(stamp), obj.get("context") or {})
        stream, eol = _STREAMS[kind]
        return _output_line(
            job_id, seq, float(stamp), stream, int(rank), payload + b"\n" if eol else payload
        )
    except (ValueError, KeyError, TypeError):
        return OutputLine(job_id, seq, 0.0, "stderr", -1, raw)


def is_event(raw: bytes) -> bool:
    """Whether a raw record is an eventlog event (cheap; no decoding)."""
    space = raw.find(b" ")
    return raw[space + 1 : space + 2] == b"@"


@dataclass(slots=True)
class Cursor:
    """How far a reader has consumed a job's log."""

    offset: int = 0
    """Bytes consumed (always at a record boundary)."""
    seq: int = 0
    """Records consumed: the seq of the next record."""


def read_new(
    path: str, cursor: Cursor, limit: int | None = None, records_limit: int | None = None
) -> list[bytes]:
    """Read complete records after ``cursor``, advancing it (each without its newline).

    At most ``limit`` bytes and ``records_limit`` records are taken.
    A trailing partial record (being written right now) is left for the next call.
    """
    body = read_slice(path, cursor, limit, records_limit)
    return body[:-1].split(b"\n") if body else []


def read_slice(
    path: str, cursor: Cursor, limit: int | None = None, records_limit: int | None = None
) -> bytes:
    """Read complete records after ``cursor`` as one bytes (each ending with its newline).

    Like :func:`read_new`, without an object per record.
    """
    return read_some(path, cursor, limit, records_limit)[0]


def read_some(
    path: str, cursor: Cursor, limit: int | None = None, records_limit: int | None = None
) -> tuple[bytes, bool]:
    """:func:`read_slice`, also saying whether complete records may be left after the limits.

    ``False`` means every complete record the file held when it was read was taken (what
    follows is at most a record being written), so a reader need not look again until told.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return b"", False
    try:
        size = os.fstat(fd).st_size
        if size <= cursor.offset:
            return b"", False
        want = size - cursor.offset if limit is None else min(limit, size - cursor.offset)
        data = os.pread(fd, want, cursor.offset)
        end = data.rfind(b"\n")
        while end < 0 and cursor.offset + len(data) < size:
            # One record longer than the limit (a log written before lines were split): take
            # it whole rather than never moving on.
            more = os.pread(fd, max(len(data), CHUNK), cursor.offset + len(data))
            if not more:
                break
            newline = more.find(b"\n")
            data += more
            if newline >= 0:
                end = len(data) - len(more) + newline
    finally:
        os.close(fd)
    if end < 0:
        return b"", False
    left = cursor.offset + len(data) < size  # the byte limit stopped the read before the end
    end += 1
    count = data.count(b"\n", 0, end)
    if records_limit is not None and count > records_limit:
        end = _cut(data, end, count, records_limit)
        count = data.count(b"\n", 0, end)
        left = True
    body = data[:end] if end < len(data) else data
    cursor.offset += end
    cursor.seq += count
    return body, left


def _cut(data: bytes, end: int, count: int, most: int) -> int:
    """Where to cut ``data[:end]`` (``count`` records) to keep at most ``most`` records.

    Guessed from the records' mean size and corrected, a few searches instead of one per record.
    """
    while count > most:
        guess = end * most // count
        cut = data.rfind(b"\n", 0, max(1, guess)) + 1
        if cut == 0:
            return data.find(b"\n") + 1  # one record, however long
        count = data.count(b"\n", 0, cut)
        end = cut
    return end


_RUN = re.compile(rb"(\d+\.\d+ ([oe]) (\d+) )[^\n]*\n(?:\1[^\n]*\n)*")
"""Consecutive complete-line records with one label: one read of one task's stdout or stderr."""


def parse_entries(job_id: int, first_seq: int, body: bytes) -> list[StreamEntry]:
    """The entries of ``body`` (complete records, each ending with its newline), from ``first_seq``.

    Lines that one read of a task's pipe produced (records with the same label) become one
    :class:`OutputRun`, found by one regular-expression match and stripped of their labels by
    one replace; events and lone records are parsed one by one (:func:`parse_record`).
    """
    out: list[StreamEntry] = []
    append = out.append
    match = _RUN.match
    seq, pos, size = first_seq, 0, len(body)
    while pos < size:
        found = match(body, pos)
        if found is not None:
            end = found.end()
            count = body.count(b"\n", pos, end)
            if count > 1:
                label, kind, rank = found.groups()
                data = body[pos + len(label) : end].replace(b"\n" + label, b"\n")
                stamp = float(label[: label.index(b" ")])
                stream = "stdout" if kind == b"o" else "stderr"
                append(OutputRun(job_id, seq, count, stamp, stream, int(rank), data))
                seq += count
                pos = end
                continue
        end = body.find(b"\n", pos)
        append(parse_record(job_id, seq, body[pos:end]))
        seq += 1
        pos = end + 1
    return out


def parse_events(job_id: int, first_seq: int, body: bytes) -> list[LogEntry]:
    """The eventlog events of ``body`` (as :func:`parse_entries`), without a step per record.

    Event records are found by searching for their kind (`` @``, checked to be the record's
    second field). One that cannot be parsed (cut short by a killed writer) is returned as
    :func:`parse_record` returns it.
    """
    out: list[LogEntry] = []
    seq, counted, pos = first_seq, 0, 0
    find, rfind, count = body.find, body.rfind, body.count
    while (hit := find(b" @", pos)) >= 0:
        start = rfind(b"\n", 0, hit) + 1
        end = find(b"\n", hit)
        if find(b" ", start, hit) < 0:  # the record's first space: its kind is "@"
            seq += count(b"\n", counted, start)
            counted = start
            out.append(parse_record(job_id, seq, body[start:end]))
        pos = end + 1
    return out


def iter_records(path: str, start_seq: int = 0, stop_offset: int | None = None) -> Iterator[bytes]:
    """Yield raw records after the first ``start_seq`` and ending before ``stop_offset``."""
    for _, body in iter_slices(path, start_seq, stop_offset):
        yield from body[:-1].split(b"\n")


def iter_slices(
    path: str, start_seq: int = 0, stop_offset: int | None = None, size: int = CHUNK
) -> Iterator[tuple[int, bytes]]:
    """Yield the records after the first ``start_seq`` and ending before ``stop_offset``.

    In slices of complete records read about ``size`` bytes at a time: ``(seq, records)``, the
    seq of the slice's first record (from 1) and the records, each ending with its newline.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in finally; a generator
    except FileNotFoundError:
        return
    try:
        seq = 0  # records before the slice
        pos = 0
        rest = b""
        while stop_offset is None or pos < stop_offset:
            want = size if stop_offset is None else min(size, stop_offset - pos)
            chunk = f.read(want)
            if not chunk:
                break
            pos += len(chunk)
            data = rest + chunk if rest else chunk
            end = data.rfind(b"\n") + 1
            if not end:
                rest = data
                continue
            rest = data[end:]
            body = data[:end] if rest else data
            count = body.count(b"\n")
            if seq + count <= start_seq:
                seq += count
                continue
            if seq < start_seq:
                body = body.split(b"\n", start_seq - seq)[-1]
                count -= start_seq - seq
                seq = start_seq
            yield seq + 1, body
            seq += count
    finally:
        f.close()
