"""The job-manager journal: read with its history into the job index and the server-wide feed.

The journal's callback runs in the reactor thread; it only queues the event and posts one
drain to the event loop per burst, where the index, the feed history and the hub are updated.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from ...domain.events import JobEvent
from ..hub import Hub
from ._connect import Connection, quietly
from ._index import JobIndex
from ._reactor import Handle

__all__ = ["BATCH", "FEED_HISTORY", "Journal"]

log = logging.getLogger("flux_restful.flux")

FEED_HISTORY = 200_000
"""Journal events kept in memory for ``feed(since=...)`` replays."""
BATCH = 1000
"""Largest batch yielded from history."""


class Journal:
    """Follows the journal into ``index`` and the feed (history here, live ones through ``hub``)."""

    def __init__(self, conn: Connection, index: JobIndex, hub: Hub) -> None:
        self._conn = conn
        self.index = index
        self.hub = hub
        self._feed: deque[JobEvent] = deque(maxlen=FEED_HISTORY)
        self._feed_seq = 0
        self._queue: deque[Any] = deque()
        self._posted = False
        self._ready: asyncio.Event | None = None
        self._consumer: Any = None

    async def start(self, timeout: float) -> None:
        """Subscribe and wait until the history has been read (the journal's sentinel).

        Raises:
            TimeoutError: The history did not arrive within ``timeout`` seconds.
        """
        self._ready = asyncio.Event()
        self._conn.r().call(self._subscribe)
        await asyncio.wait_for(self._ready.wait(), timeout)

    def stop(self) -> None:
        """Stop the subscription (in the reactor)."""
        consumer = self._consumer
        reactor = self._conn.reactor
        if consumer is not None and reactor is not None:
            reactor.call(lambda _h: quietly(consumer.stop))

    async def feed(self, since: int = 0) -> AsyncIterator[list[JobEvent]]:
        """Every job's events after ``since`` (a feed seq), then live ones, in batches."""
        with self.hub.feed() as sub:
            history = [e for e in self._feed if e.feed_seq > since]
            last = since
            for start in range(0, len(history), BATCH):
                batch = history[start : start + BATCH]
                last = batch[-1].feed_seq
                yield batch
            while True:
                got = await sub.get_batch()
                if not got:
                    return
                batch = [e for e in got if e.feed_seq > last]
                if batch:
                    last = batch[-1].feed_seq
                    yield batch

    def _subscribe(self, h: Handle) -> None:
        """In the reactor: subscribe to the job-manager journal, with its history."""
        from flux.job.journal import JournalConsumer

        consumer = JournalConsumer(h, full=True, include_sentinel=True)
        consumer.set_callback(self._on_event)
        consumer.start()
        self._consumer = consumer

    def _on_event(self, event: Any) -> None:
        """In the reactor: queue one journal event for the event loop."""
        if event is None:
            item: Any = None
        elif event.is_empty():
            item = "sentinel"
        else:
            item = (int(event.jobid), event.name, event.timestamp, event.context, event.jobspec)
        self._queue.append(item)
        if not self._posted:
            self._posted = True
            self._conn.r().post(self._drain)

    def _drain(self) -> None:
        """On the event loop: apply queued journal events to the index, the feed and the hub."""
        self._posted = False
        queue = self._queue
        while queue:
            item = queue.popleft()
            if item is None:
                if not self._conn.stopping:
                    log.warning("the Flux job-manager journal ended; the event feed is stale")
                continue
            if item == "sentinel":
                if self._ready is not None:
                    self._ready.set()
                continue
            job_id, name, timestamp, context, jobspec = item
            summary, state = self.index.apply(job_id, name, timestamp, context, jobspec)
            if summary is None or name == "invalidate":
                continue
            seq = max(int(round(timestamp * 1_000_000)), self._feed_seq + 1)
            self._feed_seq = seq
            event = JobEvent(job_id, summary.events, name, timestamp, dict(context or {}), seq,
                             summary.user, state)  # fmt: skip
            self._feed.append(event)
            self.hub.publish(event)
