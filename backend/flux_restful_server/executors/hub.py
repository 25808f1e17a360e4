"""The in-process hub that fans job log entries and feed events out to every subscriber.

Executors publish; streams subscribe. Each subscriber has a bounded buffer: one that falls more
than ``limit`` entries behind is cut off and told the seq to resume from, so a slow consumer
never makes the server buffer without limit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from .base import JobEvent, LogEntry, SubscriberLagged

T = TypeVar("T", JobEvent, LogEntry)

DEFAULT_LIMIT = 10_000


class Subscription(Generic[T]):
    """A subscriber's bounded queue of entries."""

    def __init__(self, limit: int) -> None:
        self._items: deque[T] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self.lagged_from: int | None = None
        """Set when the subscriber fell behind: the last seq it was given (resume after it)."""
        self.closed = False
        """Set when the publisher has nothing more to send (server shutting down)."""
        self._first_seq = 0

    def push(self, item: T, seq: int) -> None:
        """Queue ``item`` (whose stream position is ``seq``), or cut the subscriber off."""
        if self.lagged_from is not None:
            return
        if len(self._items) >= self._limit:
            # Everything up to the entry before the oldest queued one was delivered.
            self.lagged_from = self._first_seq - 1
            self._items.clear()
        else:
            if not self._items:
                self._first_seq = seq
            self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def get_batch(self) -> list[T]:
        """Wait for entries and return all that are queued (empty once closed).

        Raises:
            SubscriberLagged: The subscriber fell behind and was cut off.
        """
        while not self._items:
            if self.lagged_from is not None:
                raise SubscriberLagged(self.lagged_from)
            if self.closed:
                return []
            self._ready.clear()
            await self._ready.wait()
        batch = list(self._items)
        self._items.clear()
        return batch


class Hub:
    """Fans out per-job log entries and server-wide feed events."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._jobs: dict[int, set[Subscription[LogEntry]]] = {}
        self._feed: set[Subscription[JobEvent]] = set()

    def has_job_subscribers(self, job_id: int) -> bool:
        """Whether anyone follows this job's log (output parsing can be skipped otherwise)."""
        return job_id in self._jobs

    def publish(self, entry: LogEntry) -> None:
        """Deliver a job log entry to the job's followers (and events to the feed)."""
        for sub in self._jobs.get(entry.job_id, ()):
            sub.push(entry, entry.seq)
        if isinstance(entry, JobEvent) and entry.feed_seq:
            for fsub in self._feed:
                fsub.push(entry, entry.feed_seq)

    @contextmanager
    def job(self, job_id: int) -> Iterator[Subscription[LogEntry]]:
        """Subscribe to one job's log entries for the duration of the block."""
        sub: Subscription[LogEntry] = Subscription(self.limit)
        self._jobs.setdefault(job_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._jobs.get(job_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._jobs[job_id]

    @contextmanager
    def feed(self) -> Iterator[Subscription[JobEvent]]:
        """Subscribe to every job event for the duration of the block."""
        sub: Subscription[JobEvent] = Subscription(self.limit)
        self._feed.add(sub)
        try:
            yield sub
        finally:
            self._feed.discard(sub)

    def close(self) -> None:
        """Tell every subscriber that nothing more will come (graceful shutdown)."""
        for subs in self._jobs.values():
            for sub in subs:
                sub.close()
        for fsub in self._feed:
            fsub.close()
