"""The executor seam: the one interface through which the server drives jobs.

Both executors (``local`` and ``flux``) implement :class:`Executor`. Everything above this module
(REST views, streams, the web UI) speaks only this protocol and the types of ``domain``, so
clients see one job model whatever runs the jobs. The model follows Flux: FLUID ids, state and
result numbering, an eventlog of named events with timestamps, and an output log of labelled
lines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from ..domain.errors import SubmitRefused
from ..domain.events import JobEvent, OutputLine, StreamEntry
from ..domain.owner import Owner
from ..domain.query import JobFilter, Page
from ..domain.record import JobRecord
from ..domain.request import JobRequest, SubmitKey, Submitted
from ..domain.resources import NodeInfo, ResourceLimits

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


INACTIVE_REVISION = -1
"""What :meth:`Executor.row_revisions` gives for an inactive job (its record is final)."""


class Executor(Protocol):
    """Runs jobs. Implemented by ``executors.local`` and ``executors.flux``.

    Job info is returned as :class:`~..domain.record.JobRecord` (Flux's job-list keys, ``state``
    and ``result`` as integers, plus ``user``, the API user), so the API layer (``jobs.info``)
    shapes them identically for both executors. Errors are those of ``domain.errors``.
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

    async def submit_many(
        self,
        requests: Sequence[tuple[int, JobRequest]],
        owner: Owner,
        key: SubmitKey | None = None,
    ) -> list[int | SubmitRefused]:
        """Accept many jobs at once: one id, or the reason of its refusal, per request, in order.

        ``requests`` pairs each job with its position in the client's request, recorded with
        ``key`` (when given) in the same durable step as the job itself, so that a retry after
        a crash finds it (:meth:`submitted`).

        Raises:
            ExecutorUnavailable: No job can be accepted now (none was).
        """

    async def submitted(self, user: str | None, key: str) -> Submitted | None:
        """What was created under ``user``'s idempotency ``key``, or ``None`` if nothing was."""

    async def dry_run(self, request: JobRequest, owner: Owner) -> dict[str, Any] | None:
        """Check ``request`` as :meth:`submit` would, creating nothing.

        Returns:
            The jobspec Flux would be given (flux executor), or ``None`` (local executor).

        Raises:
            UnsatisfiableRequest: The request can never fit.
            SubmitRefused: Any other refusal, with the reason.
        """

    def queues(self) -> tuple[str, ...]:
        """The queues jobs may name (``queue``); the first is the default."""

    async def cancel(self, job_id: int) -> None:
        """Cancel a job: queued jobs never run, running ones get SIGTERM then SIGKILL.

        Raises:
            JobNotFound: No such job.
            JobInactive: The job already finished.
        """

    async def set_urgency(self, job_id: int, urgency: int) -> int:
        """Set a pending job's urgency (0 holds it, 31 expedites it); return the old urgency.

        Raises:
            JobNotFound: No such job.
            JobInactive: The job has ended.
            JobStateConflict: The job is no longer pending (it runs).
        """

    async def signal(self, job_id: int, signum: int) -> None:
        """Send signal ``signum`` to every task of a running job.

        Raises:
            JobNotFound: No such job.
            JobInactive: The job has ended.
            JobStateConflict: The job is not running.
        """

    async def info(self, job_id: int) -> JobRecord:
        """Return the job-list record of one job (``pending_reason`` set while it waits).

        Raises:
            JobNotFound: No such job.
        """

    async def query(
        self, filters: JobFilter, page: Page, *, summary: bool = False
    ) -> list[JobRecord]:
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

    async def query_ids(self, filters: JobFilter, page: Page) -> list[int]:
        """The ids of the records :meth:`query` would return, in the same order."""

    def row_revisions(self, ids: Sequence[int], *, summary: bool = False) -> list[int | None]:
        """For each job, a number that changes whenever what :meth:`query` returns for it does.

        ``summary`` asks about the summary record (``query(summary=True)``), else the full one
        (which :meth:`info` returns too). Two versions of a record never share a number;
        :data:`INACTIVE_REVISION` is every inactive job's, whose record never changes again.
        ``None``: the executor cannot tell, and nothing about the job is cached. Only meaningful
        for jobs known to exist (the API layer keeps encoded rows of jobs it has read).
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

    def log(self, job_id: int, since: int = 0) -> AsyncIterator[Sequence[StreamEntry]]:
        """Yield the job's log entries with ``seq > since`` in batches: history, then live.

        Batches are never empty; consecutive output lines may come as one ``OutputRun``.
        Ends after the job's last entry (``clean``) has been yielded, or when the executor stops.
        Raises ``JobNotFound`` before yielding for an unknown job, and ``SubscriberLagged`` when
        the consumer fell too far behind the live entries.
        """

    def feed(self, since: int = 0) -> AsyncIterator[list[JobEvent]]:
        """Yield every job event with ``feed_seq > since`` in batches: history, then live.

        Runs until the executor stops; raises ``SubscriberLagged`` like :meth:`log`.
        """


async def submit_one(executor: Executor, request: JobRequest, owner: Owner) -> int:
    """:meth:`Executor.submit` as a batch of one: both executors accept jobs in ``submit_many``.

    Raises:
        SubmitRefused: The job's refusal, as ``submit_many`` gave it.
    """
    (outcome,) = await executor.submit_many([(0, request)], owner)
    if isinstance(outcome, SubmitRefused):
        raise outcome
    return outcome
