"""The job record both executors return (job-list keys plus ``user``) and its search text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Required, TypedDict

from .states import JobResult, JobState

HELD = "held (urgency 0)"
"""The pending reason of a held job, on both executors (in job info, listings and the feed)."""


class JobRecord(TypedDict, total=False):
    """One job as Flux's job-list describes it, plus ``user`` (the API user).

    ``Executor.info()`` and ``Executor.query()`` return these; ``jobs.info`` shapes them into the
    job info clients read, once for both executors. Keys a job has no value for yet are absent
    (Flux) or ``None`` (the local store). Flux's records may carry more keys than listed here
    (``project``, ``bank``, ``dependencies``, ...), which are passed through untouched. A summary
    (``query(summary=True)``) holds only the required keys and ``result``.
    """

    id: Required[int]
    """The FLUID."""
    state: Required[int]
    """A :class:`~.states.JobState` value."""
    name: Required[str]
    """Job name."""
    t_submit: Required[float]
    """Submit time, seconds since the epoch."""
    user: str | None
    """The API user who submitted it; ``None`` when auth is off."""
    result: int | None
    """A :class:`~.states.JobResult` value once inactive."""
    userid: int
    """The uid the job runs as."""
    urgency: int
    """Flux urgency, 0 to 31."""
    priority: int | None
    """Priority the scheduler sorts by (equal to urgency here, as Flux's default plugin)."""
    t_depend: float | None
    """When the job reached ``DEPEND``."""
    t_run: float | None
    """When resources were allocated."""
    t_cleanup: float | None
    """When it reached ``CLEANUP``."""
    t_inactive: float | None
    """When it became inactive."""
    ntasks: int
    """Number of tasks."""
    ncores: int
    """Cores asked for, or held once allocated."""
    nnodes: int | None
    """Nodes held once allocated."""
    ranks: str | None
    """Broker ranks held, as an idset."""
    nodelist: str | None
    """Hosts held, as a hostlist."""
    duration: float
    """Time limit in seconds; 0 for none."""
    expiration: float | None
    """Absolute time limit once running."""
    cwd: str
    """Working directory of the tasks."""
    queue: str
    """Flux queue (empty without queues)."""
    annotations: dict[str, Any]
    """Scheduler and user annotations."""
    success: bool | None
    """Whether it completed successfully, once inactive."""
    waitstatus: int | None
    """The wait status of the job (its highest task's), once finished."""
    exception_occurred: bool | None
    """Whether an exception was raised on the job."""
    exception_severity: int | None
    """Severity of the first exception (0 is fatal)."""
    exception_type: str | None
    """Type of the first exception (``cancel``, ``timeout``, ``lost``, ...)."""
    exception_note: str | None
    """Note of the first exception."""
    pending_reason: str
    """Why a waiting job is not running yet, in plain words (set by the executor, not stored)."""
    dependencies: list[str]
    """Flux's outstanding dependencies (``after-success=ID``), while in ``DEPEND``."""


def search_text(record: Mapping[str, Any]) -> str:
    """The lower-cased text a ``/v1/jobs/search`` filter matches against.

    The job's displayed fields (id, name, state, user, nodes, working directory, exception note
    and result), the same for both executors: the local store keeps it in a column, the flux
    executor computes it per record.
    """
    parts = [
        str(record["id"]),
        record.get("name") or "",
        JobState(record["state"]).name,
        record.get("user") or "",
        record.get("nodelist") or "",
        record.get("cwd") or "",
        record.get("exception_note") or "",
    ]
    if record.get("result"):
        parts.append(JobResult(record["result"]).name)
    return " ".join(parts).lower()
