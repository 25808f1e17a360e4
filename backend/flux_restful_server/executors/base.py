"""The executor seam: the one interface through which the server drives jobs.

Both executors (``local`` and ``flux``) implement :class:`Executor`. Everything above this module
(REST views, streams, the web UI) speaks only these types, so clients see one job model whatever
runs the jobs. The model follows Flux: FLUID ids, state and result numbering, an eventlog of
named events with timestamps, and an output log of labelled lines.
"""

from __future__ import annotations

import enum
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..limits import MAX_NAME


class JobState(enum.IntEnum):
    """Flux job states, numbered as in flux-core (``flux_job_state_t``)."""

    NEW = 1
    DEPEND = 2
    PRIORITY = 4
    SCHED = 8
    RUN = 16
    CLEANUP = 32
    INACTIVE = 64


class JobResult(enum.IntEnum):
    """Flux job results, numbered as in flux-core (``flux_job_result_t``)."""

    COMPLETED = 1
    FAILED = 2
    CANCELED = 4
    TIMEOUT = 8


ACTIVE_STATES = frozenset(s for s in JobState if s is not JobState.INACTIVE)

STATE_AFTER: dict[str, JobState] = {
    "submit": JobState.NEW,
    "validate": JobState.DEPEND,
    "depend": JobState.PRIORITY,
    "priority": JobState.SCHED,
    "alloc": JobState.RUN,
    "finish": JobState.CLEANUP,
    "clean": JobState.INACTIVE,
}
"""The state a job is in after each state-changing eventlog event (RFC 21, as in Flux)."""


class ExecutorError(Exception):
    """Base of the errors an executor raises for the API layer to map onto responses."""


class JobNotFound(ExecutorError):
    """The job does not exist (or is not visible to the caller)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"Job {job_id} not found")
        self.job_id = job_id


class JobInactive(ExecutorError):
    """The job is inactive, so it cannot be cancelled."""


class SubmitRefused(ExecutorError):
    """The executor refused a job request; the message says why."""


class ExecutorUnavailable(ExecutorError):
    """The executor cannot work right now (its state dir vanished, Flux is unreachable, ...)."""


class UnsatisfiableRequest(SubmitRefused):
    """The request can never fit the resources of this executor."""


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A validated job submission, independent of how it arrived on the wire."""

    command: tuple[str, ...]
    """The argv to run; never passed through a shell."""
    num_tasks: int = 1
    """Number of task processes."""
    cores_per_task: int = 1
    """Cores allocated to each task."""
    gpus_per_task: int = 0
    """GPUs allocated to each task."""
    num_nodes: int | None = None
    """Nodes to spread the tasks over; ``None`` lets the scheduler choose."""
    exclusive: bool = False
    """Allocate whole nodes."""
    option_flags: Mapping[str, str] = field(default_factory=dict)
    """Job shell options (``-o key=value`` in Flux), recorded on the job."""
    envars: Mapping[str, str] = field(default_factory=dict)
    """Environment given by the user, added on top of the allowlisted environment."""
    workdir: str | None = None
    """Working directory of the tasks; ``None`` is the owner's default."""
    runtime: float = 0.0
    """Time limit in seconds; 0 means none."""
    is_launcher: bool = False
    """Run the command as a workflow launcher (still tracked as a job)."""
    name: str | None = None
    """Job name; defaults to the basename of the first argv element."""
    urgency: int = 16
    """Flux urgency, 0 (held) to 31 (expedite); 16 by default."""

    @property
    def job_name(self) -> str:
        """The name to record: ``name``, else argv0's basename, cut to :data:`MAX_NAME`."""
        program = self.command[0]
        return (self.name or os.path.basename(program) or program)[:MAX_NAME]


@dataclass(frozen=True, slots=True)
class Owner:
    """Who a job belongs to and, in multi-user mode, which system account runs it."""

    user: str | None = None
    """The API user who submitted the job; ``None`` when auth is off."""
    uid: int | None = None
    """System uid to run the tasks as (multi-user mode); ``None`` runs as the server user."""
    gid: int | None = None
    """Primary gid for ``uid``."""
    groups: tuple[int, ...] = ()
    """Supplementary groups for ``uid``."""
    home: str | None = None
    """Home directory of the system account (also the default working directory)."""
    login: str | None = None
    """System login name of the account (``USER``/``LOGNAME`` of the tasks)."""


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One eventlog event of one job (``submit``, ``alloc``, ``start``, ``finish``, ...)."""

    job_id: int
    """The job the event belongs to."""
    seq: int
    """Position of this entry in the job's log, from 1 (events and output share one sequence)."""
    name: str
    """Flux eventlog event name."""
    timestamp: float
    """Seconds since the epoch."""
    context: Mapping[str, Any]
    """Event context as in Flux (for example ``{"status": 0}`` for ``finish``)."""
    feed_seq: int = 0
    """Position in the server-wide event feed (``/v1/events``); 0 when not yet assigned."""
    user: str | None = None
    """The API user who owns the job (for filtering the feed by who may see it)."""
    state: JobState | None = None
    """The job's state after this event."""


@dataclass(frozen=True, slots=True)
class OutputLine:
    """One line (or the final partial line) of a task's stdout or stderr."""

    job_id: int
    """The job that wrote it."""
    seq: int
    """Position of this entry in the job's log, from 1."""
    timestamp: float
    """When the line was read, seconds since the epoch."""
    stream: str
    """``"stdout"`` or ``"stderr"``."""
    rank: int
    """Task rank that wrote it."""
    data: bytes
    """The raw bytes, including the trailing newline when there was one."""


LogEntry = JobEvent | OutputLine
"""An entry of a job's log, as streamed by ``/v1/jobs/{id}/stream``."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node and its resources."""

    name: str
    """Hostname."""
    cores: int
    """Cores on the node."""
    gpus: int
    """GPUs on the node."""
    cores_free: int
    """Cores not allocated to a job."""
    gpus_free: int
    """GPUs not allocated to a job."""
    up: bool = True
    """Whether the node is up (only nodes that are up are listed by ``/v1/nodes``)."""


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs a listing or search returns."""

    owner: str | None = None
    """Only jobs whose API user is this; ``None`` for everyone's (superusers, auth off)."""
    states: frozenset[JobState] | None = None
    """Only jobs in one of these states."""
    results: frozenset[JobResult] | None = None
    """Only inactive jobs with one of these results."""
    user: str | None = None
    """Only jobs submitted by this API user (a filter the caller asked for)."""
    name: str | None = None
    """Only jobs whose name contains this (case-insensitive)."""
    since: float | None = None
    """Only jobs submitted at or after this time."""
    text: str | None = None
    """Case-insensitive substring over the job's displayed fields (``/v1/jobs/search``)."""
    regex: bool = False
    """Treat ``text`` as a regular expression."""
    ids: frozenset[int] | None = None
    """Only these job ids."""


@dataclass(frozen=True, slots=True)
class Page:
    """A window of a newest-first listing."""

    limit: int | None = None
    """At most this many jobs; ``None`` for all."""
    offset: int = 0
    """Skip this many matching jobs first."""
    after: int | None = None
    """Cursor: only jobs older than this job id (ids grow with submit time)."""


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """What the executor's resources can ever satisfy, for validating submissions."""

    nodes: int
    """Number of nodes."""
    cores_per_node: int
    """Cores per node."""
    gpus_per_node: int
    """GPUs per node."""


OUTPUT_BATCH_BYTES = 1 << 16
"""Output data per batch of :meth:`Executor.output_batches` (what a reader holds at a time)."""


def batch_output(lines: list[OutputLine]) -> list[list[OutputLine]]:
    """Cut ``lines`` into batches of at most :data:`OUTPUT_BATCH_BYTES` of data each."""
    batches: list[list[OutputLine]] = []
    batch: list[OutputLine] = []
    size = 0
    for line in lines:
        batch.append(line)
        size += len(line.data) + 64
        if size >= OUTPUT_BATCH_BYTES:
            batches.append(batch)
            batch, size = [], 0
    if batch:
        batches.append(batch)
    return batches


class Executor(Protocol):
    """Runs jobs. Implemented by ``executors.local`` and ``executors.flux``.

    Job info is returned as plain dicts with Flux's job-list keys (``id``, ``state`` as an
    integer, ``result`` as an integer or absent, ``t_submit``, ...) plus ``user`` (the API user),
    so the API layer (``jobs.info``) shapes them identically for both executors.
    """

    name: str
    """``"local"`` or ``"flux"``."""

    async def start(self) -> None:
        """Open state, re-attach running jobs and start scheduling."""

    async def stop(self) -> None:
        """Stop accepting work and release resources; running jobs keep running."""

    def limits(self) -> ResourceLimits:
        """The resources every request is validated against."""

    def readiness(self) -> str | None:
        """``None`` when submitted jobs can run now; otherwise the reason they cannot.

        Submits are refused with ``ExecutorUnavailable`` (503) meanwhile; a readiness probe
        reports the same.
        """

    async def probe(self) -> str | None:
        """:meth:`readiness`, and for executors that talk to a service, whether it answers now.

        What ``GET /readyz`` reports; bounded to a few seconds.
        """

    async def submit(self, request: JobRequest, owner: Owner) -> int:
        """Accept a job and return its id once it is durably recorded.

        Raises:
            UnsatisfiableRequest: The request can never fit.
            SubmitRefused: Any other refusal, with the reason.
        """

    async def cancel(self, job_id: int) -> None:
        """Cancel a job: queued jobs never run, running ones get SIGTERM then SIGKILL.

        Raises:
            JobNotFound: No such job.
            JobInactive: The job already finished.
        """

    async def info(self, job_id: int) -> dict[str, Any]:
        """Return the job-list record of one job.

        Raises:
            JobNotFound: No such job.
        """

    async def query(
        self, filters: JobFilter, page: Page, *, summary: bool = False
    ) -> list[dict[str, Any]]:
        """Return job-list records matching ``filters``, newest first, windowed by ``page``.

        With ``summary``, records need only ``id``, ``state``, ``result``, ``name``, ``user`` and
        ``t_submit`` (executors may return more).
        """

    async def count(self, filters: JobFilter) -> int:
        """Return how many jobs match ``filters``."""

    def revision(self) -> int | None:
        """A number that changes whenever any job's record changes (``None``: cannot tell).

        Listings are cached while it stays the same.
        """

    async def nodes(self) -> list[NodeInfo]:
        """Return every node with its resources and what is free."""

    async def eventlog(self, job_id: int) -> list[JobEvent]:
        """Return the job's eventlog (not its output).

        Raises:
            JobNotFound: No such job.
        """

    async def output(self, job_id: int) -> list[OutputLine]:
        """Return the job's output so far, at once, without waiting for more.

        Raises:
            JobNotFound: No such job.
        """

    def output_batches(self, job_id: int) -> AsyncIterator[list[OutputLine]]:
        """Yield the job's output so far in batches, without waiting for more.

        A batch holds about :data:`OUTPUT_BATCH_BYTES` of data at most; batches are never empty.

        Raises ``JobNotFound`` before yielding for an unknown job.
        """

    def log(self, job_id: int, since: int = 0) -> AsyncIterator[list[LogEntry]]:
        """Yield the job's log entries with ``seq > since`` in batches: history, then live.

        Batches are never empty. Ends after the job's last entry (``clean``) has been yielded,
        or when the executor stops. Raises ``JobNotFound`` before yielding for an unknown job,
        and ``SubscriberLagged`` when the consumer fell too far behind the live entries.
        """

    def feed(self, since: int = 0) -> AsyncIterator[list[JobEvent]]:
        """Yield every job event with ``feed_seq > since`` in batches: history, then live.

        Runs until the executor stops; raises ``SubscriberLagged`` like :meth:`log`.
        """


class SubscriberLagged(ExecutorError):
    """A stream consumer fell too far behind and was cut off; it may resume after ``resume_seq``."""

    def __init__(self, resume_seq: int) -> None:
        super().__init__(f"consumer fell behind; resume with since={resume_seq}")
        self.resume_seq = resume_seq
