"""Output records cut into display lines: one line per newline, fragments joined.

A stream frame (or a polled output record) carries text as the job wrote it: usually one line,
sometimes many (the server sends slices), sometimes a line's first part without its newline and
the rest in the next record of the same stream and rank. ``LineJoiner`` turns records into
``LogLine`` objects, one per line, holding a fragment until the rest of its line arrives.

Lines are kept as plain ``(data, stream, rank, t)`` tuples (``Line``), not objects: they are
built at tens of thousands a second and kept for a while, and the cyclic garbage collector stops
tracking a plain tuple of strings and numbers at its first pass. Objects would instead be
promoted to the oldest generation by the thousand and trigger a full collection (a pause of tens
of milliseconds) several times a second. ``LogLine`` names the fields for readers.
"""

from __future__ import annotations

from typing import NamedTuple

from flux_restful_client import OutputLine

__all__ = ["HOLD_FRAGMENT", "LINE_ENDS", "Line", "LineJoiner", "LogLine"]

LINE_ENDS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
"""What ends a line (as for ``str.splitlines``)."""

HOLD_FRAGMENT = 2.0
"""Seconds a fragment waits for the rest of its line before it is shown as it is."""


Line = tuple[str, str, int, float | None]
"""One line as kept: ``(data, stream, rank, t)`` (see ``LogLine``)."""


class LogLine(NamedTuple):
    """One line of a job's output, with its fields named."""

    data: str
    """The text, with its line end (none for a fragment shown as it is)."""
    stream: str = "stdout"
    """``stdout`` or ``stderr``."""
    rank: int = 0
    """Task rank that wrote it."""
    t: float | None = None
    """When it was written (epoch seconds), if known."""


class LineJoiner:
    """Cuts records into lines; a record's trailing fragment waits for the next of its stream."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, int], tuple[str, float | None, float]] = {}

    @property
    def holding(self) -> int:
        """How many (stream, rank) pairs have a fragment waiting."""
        return len(self._held)

    def feed(self, record: OutputLine, now: float) -> list[Line]:
        """The complete lines of ``record`` (with any fragment held before it).

        Args:
            record: The next output record.
            now: The time it arrived (``time.monotonic()``), to age fragments.
        """
        stream, rank, t = record.stream, record.rank, record.t
        data = record.data
        key = (stream, rank)
        held = self._held.pop(key, None)
        first_t, since = t, now  # of the first line: when its first part came
        if held is not None:
            data = held[0] + data
            first_t, since = (held[1] if held[1] is not None else t), held[2]
        if not data:
            return []
        parts = data.splitlines(keepends=True)
        tail = None if parts[-1].endswith(LINE_ENDS) else parts.pop()
        lines: list[Line] = [(part, stream, rank, t) for part in parts]
        if lines:
            lines[0] = (parts[0], stream, rank, first_t)
            first_t, since = t, now
        if tail is not None:
            self._held[key] = (tail, first_t, since)
        return lines

    def expired(self, now: float, after: float = HOLD_FRAGMENT) -> list[Line]:
        """Fragments held longer than ``after`` seconds, released as lines of their own."""
        old = [key for key, (_, _, since) in self._held.items() if now - since >= after]
        return [self._release(key) for key in old]

    def drain(self) -> list[Line]:
        """Every held fragment, as lines (the output ended)."""
        return [self._release(key) for key in list(self._held)]

    def _release(self, key: tuple[str, int]) -> Line:
        data, t, _ = self._held.pop(key)
        return (data, key[0], key[1], t)
