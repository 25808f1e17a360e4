"""Job logs: each job's eventlog and ``guest.output`` watched in the reactor, kept and followed.

A log is opened on first use (from its job-list record: an inactive job's log arrives whole
and in order), watched by ``event_watch_async`` on the main eventlog and, once the job shell
is up, on ``guest.output``; complete logs nobody follows are evicted beyond :data:`MAX_LOGS`.
"""

from __future__ import annotations

import asyncio
import errno
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ...domain.events import JobEvent, LogEntry, OutputLine
from ...domain.record import JobRecord
from ...domain.states import JobState
from ..base import batch_output
from ._connect import Connection, quietly
from ._joblog import JobLog
from ._journal import BATCH
from ._parse import eventlog_entries, output_lines
from ._reactor import FluxFuture, Handle

__all__ = ["MAX_LOGS", "JobLogs"]

MAX_LOGS = 512
"""Complete job logs kept in memory (followed and incomplete ones are always kept)."""


class JobLogs:
    """The job logs kept in memory, opened and watched on demand.

    Args:
        conn: The bindings and the reactor.
        info: Looks up a job's record (``JobNotFound`` when there is none).
    """

    def __init__(self, conn: Connection, info: Callable[[int], Awaitable[JobRecord]]) -> None:
        self._conn = conn
        self._info = info
        self._logs: OrderedDict[int, JobLog] = OrderedDict()
        self._opening: dict[int, asyncio.Future[JobLog]] = {}

    def close_followers(self) -> None:
        """End every follower's stream (the server is stopping)."""
        for jl in self._logs.values():
            jl.close_followers()

    async def eventlog(self, job_id: int) -> list[JobEvent]:
        """The job's events so far (all of them when it is inactive)."""
        jl = await self._job_log(job_id)
        if not jl.done:
            want = await self._count_events(job_id)
            await _until(lambda: jl.done or (not jl.ordered and jl.events_emitted >= want))
        return [e for e in jl.entries if isinstance(e, JobEvent)]

    async def output(self, job_id: int) -> list[OutputLine]:
        """The job's output so far."""
        jl = await self._job_log(job_id)
        if jl.done:
            return [e for e in jl.entries if isinstance(e, OutputLine)]
        text = await self._conn.lookup(job_id, "guest.output")
        lines: list[OutputLine] = []
        for event in eventlog_entries(text):
            for stream, rank, data in output_lines(event["name"], event.get("context", {})):
                lines.append(
                    OutputLine(job_id, len(lines) + 1, event["timestamp"], stream, rank, data)
                )
        return lines

    async def output_batches(self, job_id: int) -> AsyncIterator[list[OutputLine]]:
        """The job's output so far, in batches."""
        # Flux hands the output over whole (job-info lookup, or the watched log kept here).
        for batch in batch_output(await self.output(job_id)):
            yield batch

    async def log(self, job_id: int, since: int = 0) -> AsyncIterator[list[LogEntry]]:
        """The job's log after ``since`` (a seq), then live entries until its ``clean``."""
        jl = await self._job_log(job_id)
        sub = jl.subscribe()
        try:
            last = since
            history = jl.entries[since:]
            for start in range(0, len(history), BATCH):
                batch = history[start : start + BATCH]
                last = batch[-1].seq
                yield batch
                if _ends(batch):
                    return
            while True:
                batch = [e for e in await sub.get_batch() if e.seq > last]
                if not batch:
                    if sub.closed and not jl.entries[last:]:
                        return
                    if sub.closed:
                        batch = jl.entries[last:]
                    else:
                        continue
                last = batch[-1].seq
                yield batch
                if _ends(batch):
                    return
        finally:
            jl.unsubscribe(sub)

    async def _job_log(self, job_id: int) -> JobLog:
        jl = self._logs.get(job_id)
        if jl is not None:
            self._logs.move_to_end(job_id)
            return jl
        opening = self._opening.get(job_id)
        if opening is not None:
            return await asyncio.shield(opening)
        fut: asyncio.Future[JobLog] = asyncio.get_running_loop().create_future()
        self._opening[job_id] = fut
        try:
            record = await self._info(job_id)
            jl = JobLog(job_id, record.get("user"), ordered=record["state"] == JobState.INACTIVE)
            self._logs[job_id] = jl
            self._conn.r().call(lambda h: self._watch(h, jl))
            self._evict()
            fut.set_result(jl)
            return jl
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters get it from shield
            raise
        finally:
            del self._opening[job_id]

    def _evict(self) -> None:
        extra = len(self._logs) - MAX_LOGS
        for job_id in list(self._logs):
            if extra <= 0:
                break
            jl = self._logs[job_id]
            if jl.done and not jl.followed:
                del self._logs[job_id]
                extra -= 1

    def _forget_failed(self, jl: JobLog) -> None:
        if jl.error is not None and self._logs.get(jl.job_id) is jl:
            del self._logs[jl.job_id]

    def _watch(self, h: Handle, jl: JobLog) -> None:
        """In the reactor: follow the eventlog, and ``guest.output`` once the shell is up."""
        flux = self._conn.flux
        post = self._conn.r().post
        job_id = jl.job_id
        st: dict[str, Any] = {"main": False, "out": True, "clean": None, "error": None,
                              "exec": False, "started": False}  # fmt: skip

        def end_if_done() -> None:
            if st["main"] and st["out"]:
                if st["clean"] is not None:
                    post(jl.add, st["clean"])
                post(jl.finish, st["error"])
                post(self._forget_failed, jl)

        def on_output(f: FluxFuture) -> None:
            try:
                ev = f.get_event()
            except OSError:
                ev = None
            if ev is None:
                st["out"] = True
                end_if_done()
                return
            post(jl.add, ("output", ev.name, ev.timestamp, ev.context))

        def on_exec(f: FluxFuture) -> None:
            if st["exec"]:
                return
            try:
                ev = f.get_event()
            except OSError:
                ev = None
            if ev is None:
                st["exec"] = st["out"] = True
                end_if_done()
                return
            if ev.name == "shell.init":
                st["exec"] = True
                quietly(lambda: f.cancel(stop=True))
                flux.job.event_watch_async(h, job_id, "guest.output").then(on_output)

        def on_main(f: FluxFuture) -> None:
            try:
                ev = f.get_event()
            except OSError as exc:
                if exc.errno != errno.ENODATA:
                    st["error"] = exc
                ev = None
            if ev is None:
                st["main"] = True
                end_if_done()
                return
            raw = ("event", ev.name, ev.timestamp, ev.context)
            if ev.name == "start" and not st["started"]:
                st["started"] = True
                st["out"] = False
                flux.job.event_watch_async(h, job_id, "guest.exec.eventlog").then(on_exec)
            if ev.name == "clean":
                st["clean"] = raw
            else:
                post(jl.add, raw)

        flux.job.event_watch_async(h, job_id).then(on_main)

    async def _count_events(self, job_id: int) -> int:
        return len(eventlog_entries(await self._conn.lookup(job_id, "eventlog")))


async def _until(ready: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ready() and loop.time() < deadline:
        await asyncio.sleep(0.01)


def _ends(batch: list[LogEntry]) -> bool:
    last = batch[-1]
    return isinstance(last, JobEvent) and last.name == "clean"
