"""The local executor: a durable job store, a scheduler over emulated nodes, and a supervisor.

The server process owns the store (SQLite) and the scheduler; one supervisor process per state
dir (``supervisor.py``) runs every job's tasks and outlives the server. A job's log file is the
single source of its events and output: the server appends the events it decides (submit ...
alloc, then release, free, clean), the supervisor appends the ones it sees (start, output,
exception, finish), and the server *ingests* every record from the file into the store and the
hub. Because ingestion is the only path from an event to the store, a restart just ingests what
it missed.

This module is the executor's face (``Executor`` in ``executors/base.py``: lifecycle, submit,
control, listings); the class is assembled from parts, one idea each (``state`` says what they
share): ``ingest`` (the log to the store and the hub), ``recording`` (a new job's checks, log
and row), ``dependents``, ``running`` (allocation and launch), ``recovery`` (at start and after a
lost supervisor), ``reasons`` (pending reasons) and ``reading`` (eventlogs, output, logs, the
feed). Beside them: the state-dir lock (``statedir``), the supervisor link (``link``), the state
reducer (``reducer``), the scheduler (``scheduler``), pacing of followed jobs (``pacing``), the
job log format (``joblog``), spare files (``spares``), the resource model (``resources``) and
the store (``store``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...domain.environment import JobEnvironments
from ...domain.errors import (
    ExecutorUnavailable,
    JobInactive,
    JobNotFound,
    JobStateConflict,
    SubmitRefused,
)
from ...domain.events import JobEvent
from ...domain.ids import FluidGenerator
from ...domain.owner import Owner
from ...domain.query import JobFilter, Page
from ...domain.record import JobRecord
from ...domain.request import JobRequest, SubmitKey, Submitted
from ...domain.resources import NodeInfo, ResourceLimits
from ...domain.states import JobState
from ...settings import Settings
from ..base import INACTIVE_REVISION, submit_one
from ..hub import Hub
from .dependents import Dependents
from .ingest import Ingestion
from .link import SupervisorLink
from .pacing import Pacer
from .reading import Reading
from .reasons import PendingReasons
from .recording import Recording, job_account
from .recovery import Recovery
from .resources import Cluster
from .running import Running
from .scheduler import JobQueue
from .spares import SpareFiles
from .state import ActiveJob, log
from .statedir import lock_state_dir
from .store import INFO_COLUMNS, SUMMARY_COLUMNS, Store

__all__ = ["LocalExecutor"]


class LocalExecutor(Reading, PendingReasons, Recovery, Running, Dependents, Recording, Ingestion):
    """Runs jobs as local processes; see the module docstring for the design."""

    name = "local"

    def __init__(self, settings: Settings, hub: Hub | None = None) -> None:
        # The state the parts share is described in ``state.ExecutorState``, each part's own
        # in the part.
        self.settings = settings
        self.hub = hub or Hub()
        # Absolute: the supervisor is sent the jobs' log paths, and changes directory.
        self.state_dir = Path(settings.state_dir).absolute()
        self.jobs_dir = self.state_dir / "jobs"
        self._log_prefix = f"{self.jobs_dir}{os.sep}"
        self.cluster = Cluster(settings.nodes, settings.cores_per_node, settings.gpus_per_node)
        self.active = {}
        self.store = None
        self.ids: FluidGenerator | None = None
        """Makes job ids (FLUIDs), once the store says where to start."""
        self._lock_fd = -1
        self.link = SupervisorLink(
            self.state_dir, on_named=self._ingest_named, on_reconnected=self._reattach
        )
        self.pacer = Pacer(self.hub, self._ingest)
        self._spares = SpareFiles(None)
        self._revision = 0
        self.queue = JobQueue()
        self._dependents = {}
        self._reasons = (-1, {})
        self._to_resolve = collections.deque()
        self._resolving = False
        self._poller: asyncio.Task[None] | None = None
        self._stopping = False
        self._environments = JobEnvironments(os.environ, settings.env_passthrough)
        self._job_account = job_account(settings.job_user) if settings.job_user else None
        self.event_hook = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._open_state_dir()
        self._check_isolation()
        self._spares = SpareFiles(
            self.jobs_dir, most=self.settings.max_batch, idle=lambda: not self.active
        )
        store = self.store = Store(self.settings.db_path)
        epoch = store.meta("epoch")
        if epoch is None:
            epoch = repr(time.time())
            store.set_meta("epoch", epoch)
        self.epoch = float(epoch)
        self.ids = FluidGenerator(self.epoch, store.max_job_id())
        await self.link.open()
        self._recover()
        self._schedule()
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        self._stopping = True
        self.link.closing = True
        if self._poller:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self.hub.close()
        self._spares.close()
        await self.link.close()  # the supervisor keeps running the jobs
        if self.store:
            self.store.close()
            self.store = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _open_state_dir(self) -> None:
        self._lock_fd = lock_state_dir(self.state_dir)

    def _check_isolation(self) -> None:
        """Keep the state dir from the job account; warn when jobs share the server's account."""
        settings = self.settings
        if self._job_account is not None:
            st = os.stat(self.state_dir)
            if st.st_mode & 0o077:
                os.chmod(self.state_dir, 0o700)
                log.info("state dir %s: mode set to 0700 for --job-user", self.state_dir)
            log.info(
                "jobs run as %s (uid %s), which cannot read the state dir",
                settings.job_user,
                self._job_account.uid,
            )
        elif settings.auth_enabled and settings.server_mode == "single-user":
            log.warning(
                "auth is on but jobs run as the server's own account (uid %d): any API user can "
                "read the state dir (token signing key, user store, every job's output) and so "
                "act as any user, superuser included. Run jobs as a separate account with "
                "--job-user NAME (FLUX_JOB_USER), or use multi-user mode; see docs/auth.md",
                os.geteuid(),
            )

    def readiness(self) -> str | None:
        """``None`` while jobs can be run; otherwise why not (for submits and readiness probes)."""
        if self._stopping:
            return "the server is shutting down"
        return self.link.unready

    async def probe(self) -> str | None:
        # The supervisor link already says when it is lost (EOF on its socket) or not answering.
        return self.readiness()

    # -- the Executor interface -----------------------------------------------------------------
    def limits(self) -> ResourceLimits:
        return self.cluster.limits()

    def queues(self) -> tuple[str, ...]:
        return ("default",)

    async def submit(self, request: JobRequest, owner: Owner) -> int:
        return await submit_one(self, request, owner)

    async def dry_run(self, request: JobRequest, owner: Owner) -> dict[str, Any] | None:
        self._prepare(request, owner)
        return None

    async def submitted(self, user: str | None, key: str) -> Submitted | None:
        assert self.store is not None
        return self.store.submitted(user, key)

    async def submit_many(
        self,
        requests: Sequence[tuple[int, JobRequest]],
        owner: Owner,
        key: SubmitKey | None = None,
    ) -> list[int | SubmitRefused]:
        """Accept the jobs in one store transaction (one commit for the whole batch)."""
        assert self.store is not None and self.ids is not None
        unready = self.readiness()
        if unready is not None:
            raise ExecutorUnavailable(f"jobs cannot be run right now: {unready}")
        outcomes: list[int | SubmitRefused] = []
        accepted: list[tuple[int, int, dict[str, Any], ActiveJob, list[JobEvent]]] = []
        now = time.time()
        for index, request in requests:
            try:
                job_owner, cwd = self._prepare(request, owner)
            except SubmitRefused as exc:
                outcomes.append(exc)
                continue
            job_id = self.ids.next()
            row, job, first = self._record(
                job_id, request, job_owner, cwd, owner.uid is not None, now
            )
            accepted.append((index, job_id, row, job, first))
            outcomes.append(job_id)
        if not accepted:
            return outcomes
        try:
            with self.store.transaction():  # one commit: the jobs, their first events, their keys
                for index, job_id, row, job, first in accepted:
                    self.active[job_id] = job
                    self.store.insert_job(row)
                    if key is not None:
                        self.store.add_key(key, index, job_id)
                    # The log holds these and nothing else yet: apply them as written, without
                    # reading them back (a recovering server reads them from the log).
                    self._apply(job_id, job, first)
                self._schedule()
        except BaseException:
            for _, job_id, _, _, _ in accepted:
                self.active.pop(job_id, None)
            raise
        return outcomes

    async def cancel(self, job_id: int) -> None:
        job = self._active_job(job_id)
        if job.state < JobState.RUN:
            self._append(
                job_id,
                [
                    (
                        "exception",
                        {"type": "cancel", "severity": 0, "note": "", "userid": os.getuid()},
                    )
                ],
            )
            self._finish_cleanup(job_id)
            # It may have been the head of the queue, holding back jobs that fit now.
            self._schedule()
        elif job.state is JobState.RUN and not job.finished:
            self.link.cancel(job_id)

    def _active_job(self, job_id: int) -> ActiveJob:
        """The in-memory state of an active job.

        Raises:
            JobNotFound: No such job.
            JobInactive: The job has ended.
        """
        assert self.store is not None
        job = self.active.get(job_id)
        if job is None:
            if self.store.info(job_id) is None:
                raise JobNotFound(job_id)
            raise JobInactive("job is inactive")
        return job

    async def set_urgency(self, job_id: int, urgency: int) -> int:
        job = self._active_job(job_id)
        if job.state >= JobState.RUN:
            raise JobStateConflict(f"it is {job.state.name}: urgency only applies to pending jobs")
        old = job.urgency
        if urgency == old:
            return old
        events: list[tuple[str, dict[str, Any]]] = [
            ("urgency", {"userid": os.getuid(), "urgency": urgency})
        ]
        if job.state is JobState.SCHED:  # Flux's priority plugin: priority follows urgency
            events.append(("priority", {"priority": urgency}))
        self._append(job_id, events)
        self._schedule()  # a release may let it start; a hold may unblock the jobs behind it
        return old

    async def signal(self, job_id: int, signum: int) -> None:
        job = self._active_job(job_id)
        if job.state is not JobState.RUN or job.finished:
            raise JobStateConflict(f"it is {job.state.name}, not running")
        if not self.link.send({"op": "signal", "id": job_id, "signum": signum}):
            raise ExecutorUnavailable(
                "the job supervisor is reconnecting: the signal was not sent; try again"
            )

    async def info(self, job_id: int) -> JobRecord:
        assert self.store is not None
        info = self.store.info(job_id)
        if info is None:
            raise JobNotFound(job_id)
        return self._with_reasons([info])[0]

    async def query(
        self, filters: JobFilter, page: Page, *, summary: bool = False
    ) -> list[JobRecord]:
        assert self.store is not None
        records = self.store.query(filters, page, SUMMARY_COLUMNS if summary else INFO_COLUMNS)
        return self._with_reasons(records)

    def revision(self) -> int | None:
        return self._revision

    async def query_ids(self, filters: JobFilter, page: Page) -> list[int]:
        assert self.store is not None
        return self.store.ids(filters, page)

    def row_revisions(self, ids: Sequence[int], *, summary: bool = False) -> list[int | None]:
        # Every change of a job's row is applied with a bump of the revision (_apply_records);
        # a job that left ``active`` is inactive for good.
        active = self.active
        return [active[i].revision if i in active else INACTIVE_REVISION for i in ids]

    async def count(self, filters: JobFilter) -> int:
        assert self.store is not None
        return self.store.count(filters)

    async def nodes(self) -> list[NodeInfo]:
        return self.cluster.node_info()
