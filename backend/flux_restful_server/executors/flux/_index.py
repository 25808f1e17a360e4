"""An in-memory index of every job in the instance, kept current from the job-manager journal.

Flux's job-list has no notion of the API user (it lives in the jobspec, ``attributes.system.user``)
and no substring filters, so listings would otherwise need one lookup per job. The journal sends
every job's events, with the jobspec on ``submit``; from them we keep a small summary per job
(user, name, state, result, submit time) and filter, count and page on it. Full records still come
from job-list, for the page only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...domain.query import JobFilter, Page
from ...domain.record import JobRecord
from ...domain.request import SubmitKey, Submitted
from ...domain.states import STATE_AFTER, JobResult, JobState
from ...limits import MAX_NAME


def state_after(name: str, context: Mapping[str, Any], current: JobState | None) -> JobState | None:
    """The job's state after an event, or ``None`` when the event does not change it."""
    if name == "exception" and context.get("severity") == 0:
        if current is None or current < JobState.CLEANUP:
            return JobState.CLEANUP
        return None
    return STATE_AFTER.get(name)


@dataclass(slots=True)
class Summary:
    """What the index knows about one job."""

    id: int
    user: str | None
    name: str
    state: JobState = JobState.NEW
    result: JobResult | None = None
    t_submit: float | None = None
    exception_type: str | None = None
    """Type of the first fatal exception, which decides the result."""
    status: int | None = None
    """Wait status from ``finish``."""
    events: int = 0
    """Eventlog events seen (the next event's position in the eventlog is ``events + 1``)."""
    key: tuple[str | None, str] | None = None
    """``(user, idempotency key)`` of the request that created the job, if it had one."""

    def record(self) -> JobRecord | None:
        """The summary record of ``query(summary=True)``; ``None`` until ``submit`` was seen."""
        if self.t_submit is None:
            return None
        return {
            "id": self.id,
            "state": int(self.state),
            "result": self.result and int(self.result),
            "name": self.name,
            "user": self.user,
            "t_submit": self.t_submit,
        }


def jobspec_user(jobspec: Mapping[str, Any] | None) -> str | None:
    """The API user recorded in a jobspec (``attributes.system.user``)."""
    if not jobspec:
        return None
    user = jobspec.get("attributes", {}).get("system", {}).get("user")
    return user if isinstance(user, str) else None


def jobspec_key(jobspec: Mapping[str, Any] | None) -> tuple[str, str, int] | None:
    """``(key, fingerprint, index)`` recorded in a jobspec by an idempotent submit."""
    if not jobspec:
        return None
    system = jobspec.get("attributes", {}).get("system", {})
    found = system.get("flux_restful", {}).get("idempotency") if isinstance(system, dict) else None
    if not isinstance(found, dict):
        return None
    key, print_, index = found.get("key"), found.get("fingerprint"), found.get("index")
    if isinstance(key, str) and isinstance(print_, str) and isinstance(index, int):
        return key, print_, index
    return None


def jobspec_name(jobspec: Mapping[str, Any] | None) -> str:
    """The job name as job-list derives it: ``system.job.name``, else argv0's basename."""
    if not jobspec:
        return ""
    system = jobspec.get("attributes", {}).get("system", {})
    name = system.get("job", {}).get("name")
    if isinstance(name, str) and name:
        return name
    tasks = jobspec.get("tasks") or [{}]
    command = tasks[0].get("command") or [""]
    return (os.path.basename(str(command[0])) or str(command[0]))[:MAX_NAME]


class JobIndex:
    """Job summaries by id; fed event by event (see :meth:`apply`)."""

    def __init__(self) -> None:
        self.jobs: dict[int, Summary] = {}
        self.keys: dict[tuple[str | None, str], Submitted] = {}
        """Jobs by the idempotency key of the request that made them (while Flux keeps them)."""

    def add_key(self, key: SubmitKey, index: int, job_id: int) -> None:
        """Record that ``key``'s request made ``job_id`` as its entry ``index``."""
        name = (key.user, key.key)
        found = self.keys.get(name)
        ids = dict(found.ids) if found is not None else {}
        ids[index] = job_id
        self.keys[name] = Submitted(found.fingerprint if found else key.fingerprint, ids)
        summary = self.jobs.get(job_id)
        if summary is not None:
            summary.key = name

    def submitted(self, user: str | None, key: str) -> Submitted | None:
        """What ``user``'s requests with ``key`` made, or ``None``."""
        return self.keys.get((user, key))

    def _forget_key(self, summary: Summary) -> None:
        found = self.keys.get(summary.key) if summary.key else None
        if found is None or summary.key is None:
            return
        ids = {i: j for i, j in found.ids.items() if j != summary.id}
        if ids:
            self.keys[summary.key] = Submitted(found.fingerprint, ids)
        else:
            del self.keys[summary.key]

    def add(self, job_id: int, user: str | None, name: str) -> Summary:
        """Record a job we just submitted (before its journal events arrive)."""
        summary = self.jobs.get(job_id)
        if summary is None:
            summary = self.jobs[job_id] = Summary(job_id, user, name)
        return summary

    def apply(
        self,
        job_id: int,
        name: str,
        timestamp: float,
        context: Mapping[str, Any],
        jobspec: Mapping[str, Any] | None = None,
    ) -> tuple[Summary | None, JobState | None]:
        """Update the summary of ``job_id`` with one event; return it and the new state."""
        summary = self.jobs.get(job_id)
        if name == "invalidate":
            self.jobs.pop(job_id, None)
            if summary is not None:
                self._forget_key(summary)  # the key lives as long as the job record
            return summary, None
        if summary is None:
            summary = self.jobs[job_id] = Summary(
                job_id, jobspec_user(jobspec), jobspec_name(jobspec)
            )
        if jobspec is not None:
            summary.user = summary.user or jobspec_user(jobspec)
            summary.name = jobspec_name(jobspec) or summary.name
        if name == "submit" and summary.key is None:
            recorded = jobspec_key(jobspec)
            if recorded is not None:
                key, print_, index = recorded
                self.add_key(SubmitKey(summary.user, key, print_), index, job_id)
        summary.events += 1
        if name == "submit":
            summary.t_submit = timestamp
        elif name == "exception" and context.get("severity") == 0:
            summary.exception_type = summary.exception_type or str(context.get("type", ""))
        elif name == "finish":
            status = context.get("status")
            summary.status = status if isinstance(status, int) else None
        new = state_after(name, context, summary.state)
        if new is not None:
            summary.state = new
            if new is JobState.INACTIVE:
                summary.result = _result(summary)
        return summary, new

    def select(self, filters: JobFilter, page: Page | None = None) -> list[Summary]:
        """Summaries matching ``filters`` (all but ``text``), newest first, windowed by ``page``."""
        found = [s for s in self._candidates(filters) if _matches(s, filters)]
        found.sort(key=lambda s: s.id, reverse=True)
        if page is None:
            return found
        if page.after is not None:
            found = [s for s in found if s.id < page.after]
        end = None if page.limit is None else page.offset + page.limit
        return found[page.offset : end]

    def _candidates(self, filters: JobFilter) -> Iterable[Summary]:
        if filters.ids is not None:
            return [self.jobs[i] for i in filters.ids if i in self.jobs]
        return self.jobs.values()


def _matches(s: Summary, f: JobFilter) -> bool:
    if f.owner is not None and s.user != f.owner:
        return False
    if f.user is not None and s.user != f.user:
        return False
    if f.states and s.state not in f.states:
        return False
    if f.results and (s.result is None or s.result not in f.results):
        return False
    if f.name and f.name.lower() not in s.name.lower():
        return False
    return not (f.since is not None and (s.t_submit is None or s.t_submit < f.since))


def _result(s: Summary) -> JobResult:
    if s.exception_type == "cancel":
        return JobResult.CANCELED
    if s.exception_type == "timeout":
        return JobResult.TIMEOUT
    if s.exception_type is None and s.status == 0:
        return JobResult.COMPLETED
    return JobResult.FAILED
