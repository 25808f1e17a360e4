"""Reading jobs' histories: eventlogs from the store, output and logs from the log files, the feed.

Readers subscribe to the hub first and then replay history up to the position ingested at that
moment, so there is never a gap or a repeat between history and live entries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ...domain.errors import (
    JobNotFound,
)
from ...domain.events import JobEvent, OutputLine, StreamEntry, entries_after, last_seq
from ...domain.states import STATE_AFTER
from ..base import OUTPUT_BATCH_BYTES
from .joblog import (
    is_event,
    iter_records,
    iter_slices,
    parse_entries,
    parse_record,
)
from .state import ExecutorState

HISTORY_BATCH = 1000
"""Feed events per batch when replaying history."""

HISTORY_BYTES = 1 << 18
"""Bytes of a job's log per batch when replaying its history."""


class Reading(ExecutorState):
    """The executor's part that reads histories; see the module docstring."""

    async def eventlog(self, job_id: int) -> list[JobEvent]:
        assert self.store is not None
        info = self.store.info(job_id)
        if info is None:
            raise JobNotFound(job_id)
        return [
            JobEvent(job_id, seq, name, t, ctx, feed_seq, info["user"])
            for feed_seq, seq, name, t, ctx in self.store.events(job_id)
        ]

    async def output(self, job_id: int) -> list[OutputLine]:
        return [line async for batch in self.output_batches(job_id) for line in batch]

    async def output_batches(self, job_id: int) -> AsyncIterator[list[OutputLine]]:
        assert self.store is not None
        job = self.active.get(job_id)
        if job is None and self.store.info(job_id) is None:
            raise JobNotFound(job_id)
        stop = None if job is None else job.cursor.offset
        batch: list[OutputLine] = []
        size = 0
        # iter_records reads the log a chunk (1 MiB) at a time; every batch handed over lets the
        # event loop serve other requests while the consumer sends it.
        for seq, raw in enumerate(iter_records(self._log_path(job_id), 0, stop), start=1):
            if is_event(raw):
                continue
            entry = parse_record(job_id, seq, raw)
            assert isinstance(entry, OutputLine)
            batch.append(entry)
            size += len(raw)
            if size >= OUTPUT_BATCH_BYTES:
                yield batch
                batch, size = [], 0
                await asyncio.sleep(0)  # let other requests in between batches
        if batch:
            yield batch

    async def log(self, job_id: int, since: int = 0) -> AsyncIterator[list[StreamEntry]]:
        assert self.store is not None
        if job_id not in self.active and self.store.info(job_id) is None:
            raise JobNotFound(job_id)
        with self.hub.job(job_id) as sub:
            job = self.active.get(job_id)
            stop = None if job is None else job.cursor.offset
            seq = since
            path = self._log_path(job_id)
            for first, body in iter_slices(path, since, stop, HISTORY_BYTES):
                batch = parse_entries(job_id, first, body)
                seq = last_seq(batch[-1])
                yield batch
            if job is None:
                return
            while True:
                # Live batches are shared by every follower (yielded as is, never changed).
                live = await sub.get_batch()
                if not live:
                    return
                if live[0].seq <= seq:
                    live = entries_after(live, seq)
                    if not live:
                        continue
                seq = last_seq(live[-1])
                last = live[-1]  # clean is the last entry of a job's log
                yield live
                if isinstance(last, JobEvent) and last.name == "clean":
                    return

    async def feed(self, since: int = 0) -> AsyncIterator[list[JobEvent]]:
        assert self.store is not None
        with self.hub.feed() as sub:
            upto = self.store.last_feed_seq()
            after = since
            users: dict[int, str | None] = {}
            while after < upto and self.store is not None:
                rows = self.store.feed(after, upto, HISTORY_BATCH)
                if not rows:
                    break
                batch = []
                for feed_seq, job_id, seq, name, t, ctx in rows:
                    if job_id not in users:
                        info = self.store.info(job_id)
                        users[job_id] = info["user"] if info else None
                    batch.append(
                        JobEvent(
                            job_id,
                            seq,
                            name,
                            t,
                            ctx,
                            feed_seq,
                            users[job_id],
                            STATE_AFTER.get(name),
                        )
                    )
                after = rows[-1][0]
                yield batch
            while True:
                live = await sub.get_batch()
                if not live:
                    return
                fresh = [event for event in live if event.feed_seq > since]
                if fresh:
                    yield fresh
