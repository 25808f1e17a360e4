"""IO-free stream helpers: a Server-Sent Events decoder and the resume bookkeeping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._exceptions import StreamClosedError

__all__ = ["Poll", "Resume", "SSEDecoder"]


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
