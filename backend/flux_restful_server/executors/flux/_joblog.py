"""One job's log as the server streams it: the Flux eventlog and ``guest.output`` in one sequence.

Flux keeps two eventlogs per job; clients read one log where events and output lines share a
``seq`` (from 1). The reactor thread watches both and hands raw entries to :meth:`JobLog.add` on
the event loop, which numbers them. A job that is already inactive when its log is first read is
numbered in timestamp order (the eventlog first on ties, ``clean`` last), so every reader — another
worker, or this server after a restart — gets the same numbering; a live job's entries are numbered
as they arrive and kept, so readers of this server resume without gaps or repeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...domain.events import JobEvent, LogEntry, OutputLine
from ...domain.states import JobState
from ..hub import DEFAULT_LIMIT, Subscription
from ._index import state_after
from ._parse import output_lines

RawEntry = tuple[str, str, float, Mapping[str, Any]]
"""``(source, name, timestamp, context)`` with source ``"event"`` or ``"output"``."""


class JobLog:
    """The merged log of one job; see the module docstring.

    Args:
        job_id: The job.
        user: Its API user (carried on events).
        ordered: Buffer everything and number it in timestamp order at the end (inactive jobs).
    """

    def __init__(self, job_id: int, user: str | None, *, ordered: bool) -> None:
        self.job_id = job_id
        self.user = user
        self.ordered = ordered
        self.entries: list[LogEntry] = []
        self.done = False
        """No more entries will come."""
        self.error: BaseException | None = None
        """Why the watch failed before the log was complete (``None`` if it did not)."""
        self.events_seen = 0
        """Eventlog events received so far (output not counted)."""
        self.events_emitted = 0
        """Eventlog events numbered so far (``clean`` waits until the output has ended)."""
        self._pending: list[tuple[int, RawEntry]] = []
        self._state: JobState | None = None
        self._subs: set[Subscription[LogEntry]] = set()

    # -- fed from the reactor (on the event loop) -------------------------------------------------
    def add(self, raw: RawEntry) -> None:
        """Take one raw entry from a watch."""
        if raw[0] == "event":
            self.events_seen += 1
        if self.ordered:
            self._pending.append((len(self._pending), raw))
            return
        self._emit(raw)

    def finish(self, error: BaseException | None = None) -> None:
        """Both watches ended (``error`` when they failed)."""
        if self.done:
            return
        if self.ordered:
            self._pending.sort(key=_order_key)
            for _, raw in self._pending:
                self._emit(raw)
            self._pending.clear()
        self.error = error
        self.done = True
        for sub in self._subs:
            sub.close()

    def _emit(self, raw: RawEntry) -> None:
        source, name, timestamp, context = raw
        new: list[LogEntry] = []
        if source == "event":
            self.events_emitted += 1
            state = state_after(name, context, self._state)
            if state is not None:
                self._state = state
            new.append(
                JobEvent(
                    self.job_id,
                    len(self.entries) + 1,
                    name,
                    timestamp,
                    dict(context),
                    0,
                    self.user,
                    state,
                )  # fmt: skip
            )
            self.entries.append(new[-1])
        else:
            for stream, rank, data in output_lines(name, context):
                line = OutputLine(self.job_id, len(self.entries) + 1, timestamp, stream, rank, data)
                self.entries.append(line)
                new.append(line)
        for entry in new:
            for sub in self._subs:
                sub.push(entry, entry.seq)

    # -- readers ----------------------------------------------------------------------------------
    def subscribe(self, limit: int = DEFAULT_LIMIT) -> Subscription[LogEntry]:
        """Follow new entries (closed at once when the log is complete)."""
        sub: Subscription[LogEntry] = Subscription(limit)
        if self.done:
            sub.close()
        else:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription[LogEntry]) -> None:
        """Stop following."""
        self._subs.discard(sub)

    def close_followers(self) -> None:
        """End every follower's stream (the executor is stopping)."""
        for sub in self._subs:
            sub.close()
        self._subs.clear()

    @property
    def followed(self) -> bool:
        """Whether anyone follows this log now."""
        return bool(self._subs)


def _order_key(item: tuple[int, RawEntry]) -> tuple[int, float, int, int]:
    index, (source, name, timestamp, _) = item
    last = 1 if source == "event" and name == "clean" else 0
    return (last, timestamp, 0 if source == "event" else 1, index)
