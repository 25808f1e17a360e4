"""The in-process hub that fans job log entries and feed events out to every subscriber.

Executors publish; streams subscribe. Each subscriber has a bounded buffer: one that falls more
than ``limit`` entries behind is cut off and told the seq to resume from, so a slow consumer
never makes the server buffer without limit.

An executor whose entries wait in a file (the local executor's job logs) can pace publishing to
its followers instead: :meth:`Hub.room` says how many entries every follower of a job can still
take, and :meth:`Hub.defer` schedules the next slice (once per job) while they catch up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from ..domain.errors import SubscriberLagged
from ..domain.events import JobEvent, StreamEntry, entry_count

T = TypeVar("T", bound=StreamEntry)

DEFAULT_LIMIT = 10_000


class Subscription(Generic[T]):
    """A subscriber's bounded queue of entries.

    Entries are queued in chunks as published: a slice published with :meth:`Hub.publish_many`
    is one list shared by every follower of the job, and :meth:`get_batch` hands it out as is
    when it is all that is queued, so per-batch work (encoding frames) can be shared too.
    The limit counts log entries, not objects: an :class:`OutputRun` counts as its lines.
    """

    def __init__(self, limit: int) -> None:
        self._chunks: deque[list[T]] = deque()
        self._count = 0
        self._limit = limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        """What :meth:`get_batch` awaits while nothing is queued (one future, not an Event: a
        subscription has one reader, and this is on the path of every follower of every line)."""
        self.lagged_from: int | None = None
        """Set when the subscriber fell behind: the last seq it was given (resume after it)."""
        self.closed = False
        """Set when the publisher has nothing more to send (server shutting down)."""
        self._first_seq = 0

    def push(self, item: T, seq: int) -> None:
        """Queue ``item`` (whose stream position is ``seq``), or cut the subscriber off."""
        self.push_chunk([item], seq)

    def push_chunk(self, items: list[T], first_seq: int, count: int | None = None) -> None:
        """Queue ``items`` (not copied: never change them afterwards), the first at ``first_seq``.

        ``count`` is how many entries they stand for (default: one each). A subscriber that
        would hold more than its limit is cut off instead.
        """
        if self.lagged_from is not None or not items:
            return
        size = len(items) if count is None else count
        if self._count + size > self._limit:
            # Everything up to the entry before the oldest queued one was delivered.
            self.lagged_from = (self._first_seq if self._chunks else first_seq) - 1
            self._chunks.clear()
            self._count = 0
        else:
            if not self._chunks:
                self._first_seq = first_seq
            self._chunks.append(items)
            self._count += size
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self.closed = True
        self._wake()

    async def get_batch(self) -> list[T]:
        """Wait for entries and return all that are queued (empty once closed).

        The list may be shared with other subscribers: do not change it.

        Raises:
            SubscriberLagged: The subscriber fell behind and was cut off.
        """
        while not self._chunks:
            if self.lagged_from is not None:
                raise SubscriberLagged(self.lagged_from)
            if self.closed:
                return []
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if len(self._chunks) == 1:
            batch = self._chunks[0]
        else:
            batch = [item for chunk in self._chunks for item in chunk]
        self._chunks.clear()
        self._count = 0
        return batch


class Hub:
    """Fans out per-job log entries and server-wide feed events."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._jobs: dict[int, set[Subscription[StreamEntry]]] = {}
        self._feed: set[Subscription[JobEvent]] = set()
        self._deferred: dict[int, asyncio.TimerHandle] = {}
        self._waiting: dict[int, float] = {}
        self.lagged = 0
        """Followers cut off so far for falling ``limit`` entries behind (for ``/metrics``)."""

    @property
    def job_followers(self) -> int:
        """Open subscriptions to single jobs' logs."""
        return sum(len(subs) for subs in self._jobs.values())

    @property
    def feed_followers(self) -> int:
        """Open subscriptions to the server-wide event feed."""
        return len(self._feed)

    def has_job_subscribers(self, job_id: int) -> bool:
        """Whether anyone follows this job's log (output parsing can be skipped otherwise)."""
        return job_id in self._jobs

    def room(self, job_id: int) -> int:
        """How many more entries every follower of the job can queue before being cut off."""
        subs = self._jobs.get(job_id)
        if not subs:
            return self.limit
        return self.limit - max((len(sub) for sub in subs if sub.lagged_from is None), default=0)

    def defer(self, job_id: int, delay: float, callback: Callable[[int], None]) -> None:
        """Call ``callback(job_id)`` after ``delay`` seconds, unless a call is already pending."""
        if job_id in self._deferred:
            return
        loop = asyncio.get_running_loop()

        def run() -> None:
            self._deferred.pop(job_id, None)
            callback(job_id)

        self._deferred[job_id] = loop.call_later(delay, run)

    def deferred(self, job_id: int) -> bool:
        """Whether a deferred call for the job is pending."""
        return job_id in self._deferred

    def waited(self, job_id: int, waiting: bool) -> float:
        """Seconds the job's publisher has been waiting for room (0 when ``waiting`` is false).

        Call it with ``waiting=True`` each time the publisher holds back for lack of room, and
        with ``False`` when it publishes.
        """
        if not waiting:
            self._waiting.pop(job_id, None)
            return 0.0
        now = asyncio.get_running_loop().time()
        return now - self._waiting.setdefault(job_id, now)

    def publish_many(self, entries: list[StreamEntry]) -> None:
        """Deliver entries of one job, in order, as one shared chunk (and events to the feed).

        ``entries`` is handed to every follower as is: never change it afterwards.
        """
        if not entries:
            return
        subs = self._jobs.get(entries[0].job_id)
        if subs:
            count = sum(map(entry_count, entries))
            for sub in subs:
                sub.push_chunk(entries, entries[0].seq, count)
        if self._feed:
            for entry in entries:
                if isinstance(entry, JobEvent) and entry.feed_seq:
                    for fsub in self._feed:
                        fsub.push(entry, entry.feed_seq)

    def publish(self, entry: StreamEntry) -> None:
        """Deliver a job log entry to the job's followers (and events to the feed)."""
        for sub in self._jobs.get(entry.job_id, ()):
            sub.push_chunk([entry], entry.seq, entry_count(entry))
        if isinstance(entry, JobEvent) and entry.feed_seq:
            for fsub in self._feed:
                fsub.push(entry, entry.feed_seq)

    @contextmanager
    def job(self, job_id: int) -> Iterator[Subscription[StreamEntry]]:
        """Subscribe to one job's log entries for the duration of the block."""
        sub: Subscription[StreamEntry] = Subscription(self.limit)
        self._jobs.setdefault(job_id, set()).add(sub)
        try:
            yield sub
        finally:
            self.lagged += sub.lagged_from is not None
            subs = self._jobs.get(job_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._jobs[job_id]
                    self._waiting.pop(job_id, None)

    @contextmanager
    def feed(self) -> Iterator[Subscription[JobEvent]]:
        """Subscribe to every job event for the duration of the block."""
        sub: Subscription[JobEvent] = Subscription(self.limit)
        self._feed.add(sub)
        try:
            yield sub
        finally:
            self.lagged += sub.lagged_from is not None
            self._feed.discard(sub)

    def close(self) -> None:
        """Tell every subscriber that nothing more will come (graceful shutdown)."""
        for handle in self._deferred.values():
            handle.cancel()
        self._deferred.clear()
        for subs in self._jobs.values():
            for sub in subs:
                sub.close()
        for fsub in self._feed:
            fsub.close()
