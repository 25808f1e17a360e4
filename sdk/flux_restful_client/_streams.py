"""IO-free stream helpers: the SSE decoder, the resume bookkeeping, and one reader per stream.

A reader turns the text of one connection into items and knows how the stream resumes; the
clients run every stream through one reconnect loop (``Client._follow``, ``AsyncClient._follow``)
that only opens connections, feeds the text in and sleeps as ``Resume`` says.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._exceptions import StreamClosedError
from .models import Event, Frame, OutputLine

__all__ = [
    "EventReader",
    "FrameReader",
    "OutputReader",
    "Poll",
    "Reader",
    "Resume",
    "SSEDecoder",
]

T = TypeVar("T")


@dataclass
class SSEDecoder:
    """Turn the lines of a ``text/event-stream`` body into decoded JSON ``data`` payloads.

    Feed it every line (without its newline); it yields one object per complete event.
    Comments (``:``) and events without data are skipped; non-JSON data is skipped too.
    """

    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> Iterator[dict[str, Any]]:
        """Consume one line; yield the event it completes, if any."""
        if line == "":
            if self._data:
                payload = "\n".join(self._data)
                self._data.clear()
                try:
                    obj = json.loads(payload)
                except ValueError:
                    return
                if isinstance(obj, dict):
                    yield obj
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)


@dataclass
class Resume:
    """Where a resumable stream is, and whether a dropped connection may be retried.

    ``since`` follows the server's meaning: the last ``seq`` received, so the next connection
    gets only frames with a larger ``seq``: no gaps, no repeats.
    """

    since: int | None
    """Last sequence number delivered (``None``: nothing yet, start from the beginning)."""
    attempts: int
    """Consecutive failed reconnections tolerated before giving up."""
    backoff: float
    """First delay between reconnections, doubled after each failure (capped)."""
    failures: int = 0
    """Consecutive connections that ended before delivering anything."""

    def seen(self, seq: int | None) -> bool:
        """Record a frame; return ``False`` for a frame already delivered (a repeat)."""
        if seq is None:
            return True
        if self.since is not None and seq <= self.since:
            return False
        self.since = seq
        self.failures = 0
        return True

    @property
    def never_connected(self) -> bool:
        """Whether no connection has delivered anything yet (a server that is down stays down)."""
        return self.since is None and self.failures == 0

    def control(self, frame: dict[str, Any]) -> bool:
        """Handle the server's ``lagged``/``shutdown`` frames; return whether ``frame`` was one.

        Both mean "this connection ends; resume from ``since``", which the next connection does.
        """
        if frame.get("type") not in ("lagged", "shutdown"):
            return False
        since = frame.get("since")
        if isinstance(since, int) and not isinstance(since, bool):
            self.since = since if self.since is None else min(self.since, since)
        return True

    def dropped(self, reason: str) -> float:
        """Record a dropped connection and return how long to wait before reconnecting.

        Raises:
            StreamClosedError: Too many reconnections failed in a row.
        """
        self.failures += 1
        if self.failures > self.attempts:
            raise StreamClosedError(
                f"Stream closed and could not be resumed after {self.attempts} attempts: {reason}"
            )
        return float(min(self.backoff * 2 ** (self.failures - 1), 5.0))


@dataclass
class Poll:
    """Delays between polls of a job, growing to ``ceiling``, bounded by an overall timeout."""

    timeout: float | None
    """Seconds to wait in all (``None``: forever)."""
    delay: float = 0.1
    """Next delay."""
    ceiling: float = 1.0
    """Largest delay."""
    waited: float = 0.0
    """Seconds waited so far."""

    def next_delay(self, what: str) -> float:
        """Return the next sleep.

        Raises:
            TimeoutError: The overall timeout is spent.
        """
        if self.timeout is not None and self.waited >= self.timeout:
            raise TimeoutError(f"Timed out after {self.timeout:g} s waiting for {what}")
        delay = self.delay
        if self.timeout is not None:
            delay = min(delay, self.timeout - self.waited)
        self.waited += delay
        self.delay = min(self.delay * 1.5, self.ceiling)
        return delay


class Reader(abc.ABC, Generic[T]):
    """How one stream is read and resumed (subclasses: frames, events, upstream's output)."""

    quiet_is_normal = False
    """Whether a read timeout is a quiet job rather than a broken link (no failure counted)."""

    def __init__(self, resume: Resume) -> None:
        self.resume = resume
        """Where the stream is, across connections."""
        self.done = False
        """Whether the stream reached its end (no reconnection)."""
        self._partial: list[str] = []

    def connected(self) -> None:
        """A new connection starts: forget any half-read line."""
        self._partial.clear()

    def feed(self, text: str) -> Iterator[T]:
        """Consume text of the current connection; yield the items it completes."""
        while text and not self.done:
            line, newline, text = text.partition("\n")
            self._partial.append(line + newline)
            if newline:
                complete = "".join(self._partial)
                self._partial.clear()
                yield from self.line(complete)

    @abc.abstractmethod
    def line(self, line: str) -> Iterator[T]:
        """One complete line (with its newline)."""

    def closed(self) -> tuple[Iterator[T], str | None]:
        """The server ended the body: the last items, and why to reconnect (``None``: done)."""
        return iter(()), "the server closed the stream"


class _SSEReader(Reader[T]):
    def __init__(self, resume: Resume, build: Callable[[dict[str, Any]], T | None]) -> None:
        super().__init__(resume)
        self._decoder = SSEDecoder()
        self._build = build

    def connected(self) -> None:
        super().connected()
        self._decoder = SSEDecoder()

    def line(self, line: str) -> Iterator[T]:
        for data in self._decoder.feed(line.rstrip("\r\n")):
            if data.get("type") == "batch":
                # batch=true: {"type": "batch", "entries": [...]} holds frames as sent one by one.
                entries = data.get("entries")
                for entry in entries if isinstance(entries, list) else ():
                    if isinstance(entry, dict):
                        yield from self._item(entry)
            else:
                yield from self._item(data)

    def _item(self, data: dict[str, Any]) -> Iterator[T]:
        if self.resume.control(data):
            return
        item = self._build(data)
        if item is not None:
            yield item


class FrameReader(_SSEReader[Frame]):
    """``/v1/jobs/{id}/stream`` over SSE: frames in ``seq`` order until the ``end`` frame."""

    def __init__(self, resume: Resume) -> None:
        super().__init__(resume, self._frame)

    def _frame(self, data: dict[str, Any]) -> Frame | None:
        frame = Frame.from_json(data)
        if frame.type == "ping" or not self.resume.seen(frame.seq):
            return None
        if frame.type == "end":
            self.done = True
        return frame

    def closed(self) -> tuple[Iterator[Frame], str | None]:
        return iter(()), "the server closed the stream before the job ended"


class EventReader(_SSEReader[Event]):
    """``/v1/events`` over SSE: events in feed ``seq`` order, for ever."""

    def __init__(self, resume: Resume) -> None:
        super().__init__(resume, self._event)

    def _event(self, data: dict[str, Any]) -> Event | None:
        if data.get("type") == "ping" or not self.resume.seen(data.get("seq")):
            return None
        return Event.from_json(data)

    def closed(self) -> tuple[Iterator[Event], str | None]:
        return iter(()), "the server closed the event feed"


class OutputReader(Reader[OutputLine]):
    """Upstream's unframed ``/output/stream``: lines until the job ends.

    Each connection starts again from the job's first line, so a reconnection skips the lines
    already yielded. Upstream sends nothing while a job is quiet: a read timeout is not a failure.
    """

    quiet_is_normal = True

    def __init__(self, resume: Resume) -> None:
        super().__init__(resume)
        self.delivered = 0
        """Lines yielded so far, over every connection."""
        self._skip = 0

    def connected(self) -> None:
        super().connected()
        self._skip = self.delivered

    def line(self, line: str) -> Iterator[OutputLine]:
        if self._skip:
            self._skip -= 1
            return
        self.delivered += 1
        self.resume.failures = 0
        yield OutputLine(data=line)

    def closed(self) -> tuple[Iterator[OutputLine], str | None]:
        self.done = True
        rest = "".join(self._partial)
        self._partial.clear()
        return (self.line(rest) if rest else iter(())), None
