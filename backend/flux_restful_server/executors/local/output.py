"""Labelling a task's output as log records: reads cut into lines, long lines into pieces.

Pure and standard library only (plus ``joblog``'s record writers): it runs inside the supervisor
process. A read's complete lines become one bulk record (:func:`~.joblog.output_records`) in the
common case; a line longer than :data:`LINE_MAX` is recorded as pieces, so a job writing without
newlines costs bounded memory and stays live for followers.
"""

from __future__ import annotations

from .joblog import output_record, output_records

READ_SIZE = 1 << 16
LINE_MAX = 1 << 16
"""Longest output record payload (64 KiB). A longer line is recorded as pieces of at most this
size, all but the last without a newline (like Flux's shell, whose line buffer also flushes when
full), so a job writing without newlines costs bounded memory and stays live for followers."""


def split_line(line: bytes) -> list[bytes]:
    """Cut ``line`` into pieces of at most :data:`LINE_MAX` bytes, never inside a UTF-8 character.

    Only the last piece may be shorter than ``LINE_MAX`` minus 3.
    """
    pieces = []
    start = 0
    view = memoryview(line)
    while len(line) - start > LINE_MAX:
        cut = start + LINE_MAX
        # Do not begin the next piece with a UTF-8 continuation byte (at most 3 back).
        for back in range(4):
            if line[cut - back] & 0xC0 != 0x80:
                cut -= back
                break
        pieces.append(bytes(view[start:cut]))
        start = cut
    pieces.append(bytes(view[start:]))
    return pieces


def has_long_line(data: bytes, end: int) -> bool:
    """Whether a line of ``data[:end]`` (complete lines) is longer than :data:`LINE_MAX`.

    A few searches per read, not one step per line: each looks for the last newline within
    ``LINE_MAX`` bytes of where the previous line began.
    """
    start = 0
    while end - start > LINE_MAX + 1:
        newline = data.rfind(b"\n", start, start + LINE_MAX + 1)
        if newline < 0:
            return True
        start = newline + 1
    return False


def label(
    data: bytes, full: bytes, part: bytes, rank: int, t: float, pending: list[bytes]
) -> bytes:
    """Append the records of ``data``'s complete lines to ``pending``; return the partial rest.

    ``full`` labels a complete line, ``part`` a piece of a longer one (a stream's two kinds in
    ``joblog``). The rest is shorter than :data:`LINE_MAX`: a longer one is recorded as pieces
    now, all but its last.
    """
    end = data.rfind(b"\n") + 1
    rest = data[end:]
    if end and not has_long_line(data, end):
        pending.append(output_records(full, rank, data[:end], t))  # the common case
    elif end:
        for line in data[: end - 1].split(b"\n"):
            if len(line) > LINE_MAX:
                *pieces, line = split_line(line)
                pending.extend(output_record(part, rank, piece, t) for piece in pieces)
            pending.append(output_record(full, rank, line, t))
    if len(rest) > LINE_MAX:
        *pieces, rest = split_line(rest)
        pending.extend(output_record(part, rank, piece, t) for piece in pieces)
    return rest
