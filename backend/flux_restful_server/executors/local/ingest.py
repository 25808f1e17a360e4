"""Ingestion: the path from a job's log to the store and the hub (the log file is the truth).

The server appends the events it decides (``_append``); the supervisor appends the ones it sees
and names the job, and the server reads what is new (``_ingest``). Either way each entry goes
through one step (``_apply``): the state reducer turns it into column changes and effects, the
events are stored with those changes in one transaction, and the entries are published to the
hub. Events the server has just written are applied as built (``encode_events``), without reading
them back. Because this is the only path from an event to the store, a restarted server just
ingests what it missed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from ...domain.events import JobEvent, OutputLine, StreamEntry
from ...domain.record import search_text
from ...domain.states import STATE_AFTER, JobState
from .joblog import (
    ending_events,
    event_record,
    is_event,
    parse_entries,
    parse_events,
    read_slice,
    read_some,
)
from .pacing import INGEST_CHUNK, INGEST_SLICE
from .reducer import apply_event
from .state import ActiveJob, ExecutorState, log


def encode_events(
    job_id: int, seq: int, events: list[tuple[str, dict[str, Any]]], t: float
) -> tuple[bytes, list[JobEvent]]:
    """Encode server-decided events as log records; also return them as a reader parses them.

    The entries are numbered after ``seq`` and carry the time as the records hold it (to the
    microsecond), so applying them is the same as reading the records back, without the read.
    """
    data = b"".join(event_record(name, ctx, t) for name, ctx in events)
    stamp = float(b"%.6f" % t)
    entries = [
        JobEvent(job_id, seq + n, name, stamp, ctx) for n, (name, ctx) in enumerate(events, 1)
    ]
    return data, entries


class Ingestion(ExecutorState):
    """The executor's part that applies log records; see the module docstring."""

    def _ingest_named(self, data: bytes) -> None:
        """Ingest the jobs named in ``data`` (ids, one a line), in one commit."""
        if not data or self.store is None:
            return
        with self.store.transaction():
            for job_id in {int(x) for x in data.split()}:
                try:
                    self._ingest(job_id)
                except Exception:  # one job's trouble must not stop the others' ingestion
                    log.exception("ingesting job %d failed", job_id)

    def _append(self, job_id: int, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Append server-decided events to a job's log and ingest them at once."""
        now = time.time()
        job = self.active.get(job_id)
        data, entries = encode_events(job_id, job.cursor.seq if job is not None else 0, events, now)
        fd = os.open(self._log_path(job_id), os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            # Read up to the end (the common case): what we write is all there is to ingest.
            caught_up = job is not None and size == job.cursor.offset
            if size and not caught_up and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a writer died mid-record: never glue our event onto it
            os.write(fd, data)
        finally:
            os.close(fd)
        if job is not None and caught_up:
            job.cursor.offset += len(data)
            job.cursor.seq += len(entries)
            self._apply(job_id, job, entries)
        else:
            self._ingest(job_id, whole=True)

    def _ingest(self, job_id: int, *, whole: bool = False) -> None:
        """Apply a job's new log records to the store and the hub.

        While someone follows the job, its log is taken in slices paced to the followers
        (``pacing``), so followers that keep up are never cut off by a burst. ``whole`` reads
        everything now (for decisions that need the complete log).
        """
        job = self.active.get(job_id)
        if job is None or self.store is None:
            return
        follow = self.hub.has_job_subscribers(job_id)
        first_seq = job.cursor.seq
        path = self._log_path(job_id)
        if whole or not follow:
            # In bounded slices: a job that wrote 100 MB since the last look costs 100 MB of
            # reading, not 100 MB of memory.
            more = True
            while more and job_id in self.active:
                first_seq = job.cursor.seq
                records, more = read_some(path, job.cursor, INGEST_CHUNK)
                if records:
                    self._apply_records(job_id, job, first_seq, records)
            return
        else:
            count = self.pacer.allowance(job_id)
            if count is None:
                return
            records = read_slice(path, job.cursor, INGEST_SLICE, count)
            if records and os.stat(path).st_size > job.cursor.offset:
                self.pacer.read_on(job_id)
        if records:
            self._apply_records(job_id, job, first_seq, records)

    def _apply_records(self, job_id: int, job: ActiveJob, first_seq: int, records: bytes) -> None:
        """Apply records just read (numbered from ``first_seq + 1``) to the store and the hub.

        Only followed jobs' output is parsed, a run of lines at a time (``joblog.parse_entries``).
        """
        follow = self.hub.has_job_subscribers(job_id)
        found = (parse_entries if follow else parse_events)(job_id, first_seq + 1, records)
        self._apply(job_id, job, found, follow)

    def _apply(
        self, job_id: int, job: ActiveJob, found: Sequence[StreamEntry], follow: bool = False
    ) -> None:
        """Apply a job's log entries, in order, to the store and the hub.

        The job's cursor is already past them; output entries are only published, to followers.
        """
        assert self.store is not None
        published: list[StreamEntry] = []
        events: list[JobEvent] = []
        changes: dict[str, Any] = {}
        after_clean: list[str] = []
        revised = False
        with self.store.transaction():
            for entry in found:
                seq = entry.seq
                if not isinstance(entry, JobEvent):
                    if isinstance(entry, OutputLine) and entry.rank == -1 and is_event(entry.data):
                        # A record cut short by a killed writer.
                        log.warning("job %d: damaged log record %d kept as output", job_id, seq)
                    if follow:
                        published.append(entry)
                    continue
                effect = apply_event(job, entry, self.cluster.names, changes)
                if effect.queue:
                    self.queue.push(job_id, job.priority)
                if effect.take is not None:
                    self.cluster.take(effect.take)
                if effect.release is not None:
                    self.cluster.release(effect.release)
                if effect.schedule:
                    after_clean.append("schedule")
                if effect.dependents and job_id in self._dependents:
                    after_clean.append("dependents")
                if effect.revise:
                    revised = True  # the job's pending reason changed
                feed_seq = self.store.add_event(
                    job_id, seq, entry.name, entry.timestamp, entry.context
                )
                event = JobEvent(
                    job_id,
                    seq,
                    entry.name,
                    entry.timestamp,
                    entry.context,
                    feed_seq,
                    job.user,
                    STATE_AFTER.get(entry.name),
                )
                published.append(event)
                events.append(event)
            if changes or revised:
                self._revision += 1
                job.revision = self._revision
            if "state" in changes:
                if not job.searchable:  # recovered job: read its row once
                    job.searchable = dict(self.store.job_row(job_id) or {})
                job.searchable.update(changes)
                changes["search_text"] = search_text(job.searchable)
            changes["log_offset"] = job.cursor.offset
            changes["log_seq"] = job.cursor.seq
            self.store.update_job(job_id, changes)
            if self.event_hook is not None and events:
                store = self.store
                self.event_hook(store.db, events, lambda: store.info(job_id))
        self.hub.publish_many(published)
        if job.state is JobState.INACTIVE:
            del self.active[job_id]
        for action in after_clean:
            if action == "schedule":
                self._schedule()
            elif action == "dependents":
                self._queue_resolve(job_id)

    def _finish_cleanup(self, job_id: int) -> None:
        """Write the events that end a job that never ran, or whose ``finish`` the server wrote.

        The supervisor writes them itself after a job it ran, in the same write as ``finish``.
        """
        job = self.active.get(job_id)
        if job is None:
            return
        self._append(job_id, ending_events(job.alloc is not None))
