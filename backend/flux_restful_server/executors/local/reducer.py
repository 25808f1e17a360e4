"""The state reducer: what one eventlog event does to a job's record, as Flux's job-list does it.

Pure: it reads the event and what is known of the job (:class:`Progress`), updates both the
progress and the column changes to store, and says what else must happen (:class:`Effect`:
queue the job, hold or free resources, end the job, run the scheduler). The executor does those;
nothing here touches the store, the cluster, the clock or a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ...domain.events import JobEvent
from ...domain.states import JobResult, JobState
from .resources import Allocation, hostlist, idset


@dataclass(slots=True)
class Progress:
    """What the server knows of a job that is not inactive, as its events have left it."""

    state: JobState
    """The job's state."""
    priority: int
    """The priority the queue sorts by (urgency, as Flux's default plugin)."""
    alloc: Allocation | None = None
    """The resources the job holds, from ``alloc`` until ``free``."""
    finished: bool = False
    """Whether ``finish`` was seen (the tasks are gone)."""
    expiration: float = 0.0
    """Absolute time limit set by the alloc event; 0 for none."""
    exception: bool = False
    """Whether an exception was recorded (only the first one is)."""
    exception_type: str = ""
    """Type of the recorded exception."""
    waitstatus: int | None = None
    """Wait status from ``finish``."""
    urgency: int = 16
    """Current urgency (0 holds); the priority the job gets once its dependencies are met."""


@dataclass(frozen=True, slots=True)
class Effect:
    """What applying an event asks of the executor, besides storing the changes."""

    queue: bool = False
    """The job now waits for resources: put it on the queue."""
    take: Allocation | None = None
    """Mark these resources as held (a job allocated before this server knew of it)."""
    release: Allocation | None = None
    """These resources are free again."""
    schedule: bool = False
    """Resources were freed: run the scheduler, once this batch is applied."""
    dependents: bool = False
    """The job started or ended: judge the dependencies on it again, once this batch is applied."""
    revise: bool = False
    """The job's pending reason changed without a stored column changing."""


NOTHING = Effect()


def apply_event(
    job: Progress, ev: JobEvent, node_names: Sequence[str], changes: dict[str, Any]
) -> Effect:
    """Apply one event to a job: update ``job`` and the column ``changes``; return the effect.

    Args:
        job: What is known of the job; updated in place.
        ev: The event, in log order.
        node_names: Host names by node index (for the ``nodelist`` of an allocation).
        changes: Columns to store for this batch of events; updated in place.
    """
    name, t, ctx = ev.name, ev.timestamp, ev.context
    if name == "submit":
        job.state = JobState.NEW
    elif name == "validate":
        job.state = JobState.DEPEND
        changes.update(state=int(job.state), t_depend=t)
    elif name == "depend":
        job.state = JobState.PRIORITY
        changes["state"] = int(job.state)
    elif name == "priority":
        job.priority = int(ctx.get("priority", 16))
        # A queued job given a new priority (its urgency changed) is queued again; the old entry
        # is dropped as stale when it comes up.
        queued = job.state <= JobState.SCHED
        if queued:
            job.state = JobState.SCHED
        changes.update(state=int(job.state), priority=job.priority)
        return Effect(queue=True) if queued else NOTHING
    elif name == "urgency":
        job.urgency = int(ctx.get("urgency", job.urgency))
        changes["urgency"] = job.urgency
    elif name in ("dependency-add", "dependency-remove"):
        return Effect(revise=True)
    elif name == "alloc":
        job.state = JobState.RUN
        alloc = Allocation.from_json(ctx["alloc"])
        # Taken here, not where the event is written: a server that wrote the event and died
        # before ingesting it takes the allocation when it recovers the job.
        take = alloc if job.alloc is None else None
        job.alloc = alloc
        names = [node_names[i] for i in alloc.nodes]
        duration = float(ctx.get("duration") or 0)
        job.expiration = t + duration if duration else 0.0
        changes.update(
            state=int(job.state),
            t_run=t,
            nnodes=len(alloc.nodes),
            # Like Flux's job-list: once allocated, ncores counts what R holds (whole nodes
            # for exclusive jobs), not what the jobspec asked for.
            ncores=sum(alloc.cores.values()),
            ranks=idset(alloc.nodes),
            nodelist=hostlist(names),
            alloc=orjson.dumps(alloc.to_json()).decode(),
            expiration=t + duration if duration else None,
        )
        return Effect(take=take, dependents=True)  # "after" dependencies are met
    elif name == "exception":
        severity = int(ctx.get("severity", 0))
        if not job.exception:
            job.exception = True
            job.exception_type = str(ctx.get("type", ""))
            changes.update(
                exception_occurred=1,
                exception_severity=severity,
                exception_type=job.exception_type,
                exception_note=str(ctx.get("note", "")),
            )
        if severity == 0 and job.state < JobState.RUN:
            job.state = JobState.CLEANUP
            changes.update(state=int(job.state), t_cleanup=t)
    elif name == "finish":
        job.finished = True
        job.state = JobState.CLEANUP
        job.waitstatus = int(ctx["status"])
        changes.update(state=int(job.state), t_cleanup=t, waitstatus=job.waitstatus)
        # Whoever writes finish writes the release, free and clean that follow it with it.
    elif name == "clean":
        job.state = JobState.INACTIVE
        result = job_result(job)
        changes.update(
            state=int(job.state),
            t_inactive=t,
            result=int(result),
            success=int(result is JobResult.COMPLETED),
        )
        return Effect(dependents=True)
    elif name == "free" and job.alloc is not None:
        freed, job.alloc = job.alloc, None
        return Effect(release=freed, schedule=True)
    return NOTHING


def job_result(job: Progress) -> JobResult:
    """The result of a job that ends now, as Flux decides it (the first exception wins)."""
    if job.exception and job.exception_type == "cancel":
        return JobResult.CANCELED
    if job.exception and job.exception_type == "timeout":
        return JobResult.TIMEOUT
    if not job.exception and job.waitstatus == 0:
        return JobResult.COMPLETED
    return JobResult.FAILED
