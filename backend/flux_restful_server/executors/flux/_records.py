"""Job info and listings: job-list's records, selected and paged on the journal's index.

A page is selected on the index (every job's summary, no RPC), then its full records are
fetched from job-list: one lookup per job for small pages, one ``t_submit`` range query for
larger ones. Searches read every record (job-list has no text search) and match our search
text. Waiting jobs get a ``pending_reason``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ...domain.errors import JobNotFound, SubmitRefused
from ...domain.query import JobFilter, Page
from ...domain.record import HELD, JobRecord, search_text
from ...domain.request import dependency_text
from ...domain.resources import NodeInfo
from ...domain.states import JobState
from ...limits import LimitError, compile_search
from ._connect import Connection
from ._index import JobIndex, Summary, jobspec_user
from ._reactor import FluxFuture

__all__ = ["SMALL_PAGE", "Records", "pending_reason"]

SMALL_PAGE = 8
"""Pages up to this size fetch records one job-list lookup per job, in parallel."""


class Records:
    """Answers info, listings and counts.

    Args:
        conn: The bindings and the reactor.
        index: Every job's summary, from the journal.
        nodes: Reads the instance's nodes (for the free cores a pending reason names).
    """

    def __init__(
        self,
        conn: Connection,
        index: JobIndex,
        nodes: Callable[[], Awaitable[list[NodeInfo]]],
    ) -> None:
        self._conn = conn
        self._index = index
        self._nodes = nodes
        self._users: dict[int, str | None] = {}

    async def info(self, job_id: int) -> JobRecord:
        """One job's full record (``JobNotFound`` when Flux does not know it)."""
        flux = self._conn.flux
        try:
            record: JobRecord = await self._conn.request(
                lambda h: flux.job.job_list_id(h, job_id, attrs=["all"]), lambda f: f.get_job()
            )
        except (FileNotFoundError, ValueError, OverflowError):
            raise JobNotFound(job_id) from None
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EPROTO, errno.EINVAL):
                raise JobNotFound(job_id) from None
            raise
        record["user"] = await self._user(job_id)
        await self._add_reasons([record])
        return record

    async def query(
        self, filters: JobFilter, page: Page, *, summary: bool = False
    ) -> list[JobRecord]:
        """A page of records matching ``filters``, newest first."""
        if filters.text:
            return _window(await self._search(filters), page)
        summaries = self._index.select(filters, page)
        if not summary:
            return await self._records(summaries)
        # A started job's summary is all in the index (no RPC); a pending one's needs job-list
        # for its pending reason. Each job is answered one way, as row_revisions() says.
        kept = {s.id: r for s in summaries if _indexed(s) and (r := s.record()) is not None}
        fetched = {
            r["id"]: r for r in await self._records([s for s in summaries if s.id not in kept])
        }
        return [r for s in summaries if (r := kept.get(s.id) or fetched.get(s.id)) is not None]

    async def query_ids(self, filters: JobFilter, page: Page) -> list[int]:
        """The ids of :meth:`query`'s page."""
        if filters.text:
            return [r["id"] for r in _window(await self._search(filters), page)]
        return [s.id for s in self._index.select(filters, page)]

    def row_revisions(self, ids: Sequence[int], *, summary: bool = False) -> list[int | None]:
        """Revisions the rows of ``ids`` may be kept under (``None``: not kept)."""
        # A started job's summary comes from the index alone (see query() and _indexed()), and
        # the index changes only by events, which it counts; full records come from
        # job-list, which may be ahead of the journal we have read.
        if not summary:
            return [None] * len(ids)
        jobs = self._index.jobs
        return [s.events if (s := jobs.get(i)) is not None and _indexed(s) else None for i in ids]

    async def count(self, filters: JobFilter) -> int:
        """How many jobs match ``filters``."""
        if filters.text:
            return len(await self._search(filters))
        return len(self._index.select(filters))

    async def _user(self, job_id: int) -> str | None:
        summary = self._index.jobs.get(job_id)
        if summary is not None and (summary.user is not None or summary.events):
            return summary.user
        if job_id in self._users:
            return self._users[job_id]
        try:
            jobspec = await self._conn.lookup(job_id, "jobspec", decode=True, quiet=False)
        except OSError:
            return None  # unreadable now: asked again next time
        user = jobspec_user(jobspec)
        self._users[job_id] = user
        return user

    async def _records(self, summaries: list[Summary]) -> list[JobRecord]:
        """Full job-list records for ``summaries``, in their order (jobs gone are skipped)."""
        if not summaries:
            return []
        found: dict[int, JobRecord] = {}
        times = [s.t_submit for s in summaries if s.t_submit is not None]
        if len(summaries) > SMALL_PAGE and times:
            constraint = {"and": [{"t_submit": [f">={min(times)!r}"]},
                                  {"t_submit": [f"<={max(times)!r}"]}]}  # fmt: skip
            wanted = {s.id for s in summaries}
            for record in await self._list(constraint):
                if record["id"] in wanted:
                    found[record["id"]] = record
        missing = [s.id for s in summaries if s.id not in found]
        if missing:
            got = await asyncio.gather(*(self._info_or_none(i) for i in missing))
            found.update({r["id"]: r for r in got if r is not None})
        out = []
        for s in summaries:
            full = found.get(s.id)
            if full is not None:
                full["user"] = s.user
                out.append(full)
        await self._add_reasons(out)
        return out

    async def _add_reasons(self, records: list[JobRecord]) -> None:
        """Set ``pending_reason`` on the records of waiting jobs (one resource RPC at most)."""
        free: tuple[int, int] | None = None
        for record in records:
            state = record.get("state")
            if state is None or state >= JobState.RUN:
                continue
            if free is None and state == JobState.SCHED:
                try:
                    nodes = await self._nodes()
                except OSError:
                    nodes = []
                free = (sum(n.cores_free for n in nodes), sum(n.cores for n in nodes))
            reason = pending_reason(record, free)
            if reason:
                record["pending_reason"] = reason

    async def _info_or_none(self, job_id: int) -> JobRecord | None:
        with contextlib.suppress(JobNotFound):
            return await self.info(job_id)
        return None

    async def _list(self, constraint: dict[str, Any] | None = None) -> list[JobRecord]:
        flux = self._conn.flux
        userid = flux.constants.FLUX_USERID_UNKNOWN
        jobs: list[JobRecord] = await self._conn.request(
            lambda h: flux.job.job_list(
                h, max_entries=0, attrs=["all"], userid=userid, constraint=constraint
            ),  # fmt: skip
            _all_jobs,
        )
        return jobs

    async def _search(self, filters: JobFilter) -> list[JobRecord]:
        """Every record matching ``filters`` including its ``text``, newest first."""
        text = filters.text or ""
        if filters.regex:
            try:
                matches = compile_search(text)  # RE2: linear time, whatever the pattern
            except LimitError as exc:
                raise SubmitRefused(str(exc)) from None
        else:
            needle = text.lower()

            def matches(haystack: str) -> bool:
                return needle in haystack

        summaries = {s.id: s for s in self._index.select(filters)}
        out = []
        for record in await self._list():
            summary = summaries.get(record["id"])
            if summary is None:
                continue
            record["user"] = summary.user
            if matches(search_text(record)):
                out.append(record)
        out.sort(key=lambda r: r["id"], reverse=True)
        return out


def pending_reason(record: JobRecord, free: tuple[int, int] | None = None) -> str:
    """Why Flux has not run a job yet; ``""`` when it is not waiting.

    From its outstanding dependencies (job-list's ``dependencies``), a hold (urgency 0), the
    scheduler's ``sched.reason_pending`` annotation, and ``free`` (free and total cores).
    """
    state = record.get("state")
    if state is None or state >= JobState.RUN:
        return ""
    dependencies = record.get("dependencies")
    if state == JobState.DEPEND and isinstance(dependencies, list) and dependencies:
        return "waiting on " + ", ".join(dependency_text(str(d)) for d in dependencies)
    if record.get("urgency") == 0:
        return HELD
    annotations = record.get("annotations")
    sched = annotations.get("sched") if isinstance(annotations, dict) else None
    why = sched.get("reason_pending") if isinstance(sched, dict) else None
    if state != JobState.SCHED:
        return ""
    cores = record.get("ncores")
    wanted = f"waiting for {cores} core{'s' if cores != 1 else ''}" if cores else "waiting"
    if why:
        return f"{wanted} ({why})"
    if free is not None and free[1]:
        if cores and cores <= free[0]:
            return f"{wanted} ({free[0]} free of {free[1]}; queued behind other jobs)"
        return f"{wanted} ({free[0]} free of {free[1]})"
    return f"{wanted} (in the scheduler's queue)"


def _window(records: list[JobRecord], page: Page) -> list[JobRecord]:
    if page.after is not None:
        records = [r for r in records if r["id"] < page.after]
    end = None if page.limit is None else page.offset + page.limit
    return records[page.offset : end]


def _all_jobs(future: FluxFuture) -> list[JobRecord]:
    jobs: list[JobRecord] = future.get_jobs()
    return jobs


def _indexed(summary: Summary) -> bool:
    """Whether a job's summary row comes from the index alone.

    It must have started (a pending job's reason needs job-list) and its submit event be in.
    """
    return summary.t_submit is not None and summary.state >= JobState.RUN
