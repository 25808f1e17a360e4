"""The local executor: a durable job store, a scheduler over emulated nodes, and a supervisor.

The server process owns the store (SQLite) and the scheduler; one supervisor process per state
dir (``supervisor.py``) runs every job's tasks and outlives the server. A job's log file is the
single source of its events and output: the server appends the events it decides (submit ...
alloc, then release, free, clean), the supervisor appends the ones it sees (start, output,
exception, finish), and the server *ingests* every record from the file into the store and the
hub. Because ingestion is the only path from an event to the store, a restart just ingests what
it missed.

This module wires the pieces, each in a module of its own: the state-dir lock (``statedir``),
the supervisor link (``link``), the state reducer (``reducer``: events to record changes), the
scheduler (``scheduler``), pacing of followed jobs (``pacing``), the job log format
(``joblog``), the resource model (``resources``) and the store (``store``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from ...domain.environment import job_environment
from ...domain.errors import (
    ExecutorUnavailable,
    JobInactive,
    JobNotFound,
    JobStateConflict,
    SubmitRefused,
)
from ...domain.events import JobEvent, OutputLine, StreamEntry, entries_after, last_seq
from ...domain.ids import FluidGenerator, f58
from ...domain.owner import Owner, system_account
from ...domain.query import JobFilter, Page
from ...domain.record import JobRecord, search_text
from ...domain.request import Dependency, JobRequest, SubmitKey, Submitted
from ...domain.resources import NodeInfo, ResourceLimits
from ...domain.states import STATE_AFTER, JobState
from ...settings import Settings, SettingsError
from ..base import INACTIVE_REVISION, OUTPUT_BATCH_BYTES
from ..hub import Hub
from .depend import Verdict, describe, judge, never_note, outstanding, waiting_reason
from .joblog import (
    Cursor,
    event_record,
    is_event,
    iter_records,
    iter_slices,
    parse_entries,
    parse_events,
    parse_record,
    read_slice,
    read_some,
)
from .link import SupervisorLink
from .pacing import INGEST_CHUNK, INGEST_SLICE, Pacer
from .reducer import Progress, apply_event
from .resources import Allocation, Cluster, shortfall
from .scheduler import JobQueue
from .spares import SpareFiles
from .statedir import lock_state_dir
from .store import INFO_COLUMNS, SUMMARY_COLUMNS, EventHook, Store
from .supervisor import has_start, log_locked

log = logging.getLogger("flux_restful.local")

HISTORY_BATCH = 1000
"""Feed events per batch when replaying history."""

HISTORY_BYTES = 1 << 18
"""Bytes of a job's log per batch when replaying its history."""

SAFETY_POLL = 1.0
"""Seconds between catch-up reads of every running job's log (a safety net for notifications)."""


def job_account(name: str) -> Owner:
    """The account of ``--job-user``: its identity, and ``/`` as home when it has none.

    Raises:
        SettingsError: No such account.
    """
    account = system_account(name)
    if account is None or account.uid is None:
        raise SettingsError(f"--job-user {name!r} is not a system account on this machine")
    if not account.home or not os.path.isdir(account.home):
        account = replace(account, home="/")  # nobody's home is often /nonexistent
    return account


def _encode(
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


@dataclass(slots=True, kw_only=True)
class _Active(Progress):
    """What the server keeps in memory for a job that is not inactive."""

    cursor: Cursor
    """How far the job's log has been ingested."""
    user: str | None
    """The API user who owns the job."""
    request: JobRequest | None = None
    """What the job asks for, while it is known without reading the store."""
    searchable: dict[str, Any] = field(default_factory=dict)
    """The job's fields that ``search_text`` reads, kept current as events are applied."""
    spec: dict[str, Any] | None = None
    """What the supervisor needs to run the job (argv, env, cwd, owner), while it waits."""
    revision: int = 0
    """The executor's revision when the job's record last changed (its ``row_revisions`` entry)."""
    waiting: list[Dependency] = field(default_factory=list)
    """Dependencies not met yet, while the job is in ``DEPEND``."""


class LocalExecutor:
    """Runs jobs as local processes; see the module docstring for the design."""

    name = "local"

    def __init__(self, settings: Settings, hub: Hub | None = None) -> None:
        self.settings = settings
        self.hub = hub or Hub()
        self.state_dir = Path(settings.state_dir)
        self.jobs_dir = self.state_dir / "jobs"
        self._log_prefix = f"{self.jobs_dir}{os.sep}"
        self.cluster = Cluster(settings.nodes, settings.cores_per_node, settings.gpus_per_node)
        self.active: dict[int, _Active] = {}
        self.store: Store | None = None
        self.ids: FluidGenerator | None = None
        self._lock_fd = -1
        self.link = SupervisorLink(
            self.state_dir, on_named=self._ingest_named, on_reconnected=self._reattach
        )
        self.pacer = Pacer(self.hub, self._ingest)
        self._spares = SpareFiles(None)
        self._revision = 0
        self.queue = JobQueue()
        """Jobs waiting for resources."""
        self._dependents: dict[int, set[int]] = {}
        """Job id -> the jobs in ``DEPEND`` with a dependency on it."""
        self._reasons: tuple[int, dict[int, str]] = (-1, {})
        """Pending reasons of queued jobs, and the revision they were computed at."""
        self._to_resolve: collections.deque[int] = collections.deque()
        self._resolving = False
        self._poller: asyncio.Task[None] | None = None
        self._stopping = False
        self._server_env = job_environment(os.environ, {}, Owner(), settings.env_passthrough)
        self._environments: dict[Owner, dict[str, str]] = {}
        """The server's part of the job environment, by owner (see ``_environment``)."""
        self._job_account = job_account(settings.job_user) if settings.job_user else None
        """The system account every job runs as (``--job-user``), or ``None``."""
        self.event_hook: EventHook | None = None
        """Run inside the transaction that records each batch of a job's events (webhooks'
        outbox); set before :meth:`start`."""

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._open_state_dir()
        self._check_isolation()
        self._spares = SpareFiles(self.jobs_dir, most=self.settings.max_batch)
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

    def _reattach(self) -> None:
        """After a lost supervisor was replaced: re-attach, relaunch or fail the running jobs."""
        for job_id, job in list(self.active.items()):
            if job.state is JobState.RUN and not job.finished:
                try:
                    self._recover_running(job_id, job)
                except Exception:
                    log.exception("re-attaching job %d failed", job_id)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(SAFETY_POLL)
            for job_id, job in list(self.active.items()):
                if job.state is not JobState.RUN:
                    continue
                try:
                    self._ingest(job_id)
                    # A paced read for followers is still under way: judge the job once the
                    # log is read (reading it whole now would flood the followers).
                    pacing = self.pacer.pending(job_id)
                    if job_id in self.active and not job.finished and not pacing:
                        self._check_lost(job_id, job)
                except Exception:  # one job's trouble must not stop the safety net for all
                    log.exception("checking job %d failed", job_id)
            self.link.reap()

    # -- paths ----------------------------------------------------------------------------------
    def _log_path(self, job_id: int) -> str:
        return f"{self._log_prefix}{job_id}.log"  # a format, not pathlib: a few calls per job

    # -- the Executor interface -----------------------------------------------------------------
    def limits(self) -> ResourceLimits:
        return self.cluster.limits()

    def queues(self) -> tuple[str, ...]:
        return ("default",)

    async def submit(self, request: JobRequest, owner: Owner) -> int:
        (outcome,) = await self.submit_many([(0, request)], owner)
        if isinstance(outcome, SubmitRefused):
            raise outcome
        return outcome

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
        accepted: list[tuple[int, int, dict[str, Any], _Active, list[JobEvent]]] = []
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

    def _prepare(self, request: JobRequest, owner: Owner) -> tuple[Owner, str]:
        """Check that ``request`` can run here; return the account it runs as and its cwd.

        Raises:
            SubmitRefused: It cannot, with the reason (``UnsatisfiableRequest``: never fits).
        """
        if request.unsupported:
            raise SubmitRefused(
                "The local executor cannot run this jobspec: it uses "
                + "; ".join(request.unsupported)
                + " (the flux executor can)"
            )
        self.cluster.limits().check(request)
        if owner.uid is None and self._job_account is not None:
            owner = replace(self._job_account, user=owner.user)
        cwd = request.workdir or owner.home or os.getcwd()
        if not os.path.isdir(cwd):
            raise SubmitRefused(f"workdir {cwd!r} does not exist or is not a directory")
        return owner, cwd

    def _record(
        self, job_id: int, request: JobRequest, owner: Owner, cwd: str, chown: bool, now: float
    ) -> tuple[dict[str, Any], _Active, list[JobEvent]]:
        """Write the job's log (its first events); return its store row, memory record and events.

        The memory record's cursor is past the events written, which are returned to be applied.

        Raises:
            ExecutorUnavailable: The log cannot be created.
        """
        env = self._environment(request, owner)
        spec = {
            "argv": list(request.command),
            "env": env,
            "cwd": cwd,
            "options": dict(request.option_flags),
            "is_launcher": request.is_launcher,
            "num_nodes": request.num_nodes,
            "exclusive": request.exclusive,
            "num_tasks": request.num_tasks,
            "cores_per_task": request.cores_per_task,
            "gpus_per_task": request.gpus_per_task,
            "owner": {
                "uid": owner.uid,
                "gid": owner.gid,
                "groups": list(owner.groups),
                "home": owner.home,
                "login": owner.login,
            },
        }
        userid = owner.uid if owner.uid is not None else os.getuid()
        row = {
            "id": job_id,
            "user": owner.user,
            "userid": userid,
            "name": request.job_name,
            "state": int(JobState.NEW),
            "urgency": request.urgency,
            "t_submit": now,
            "ntasks": request.num_tasks,
            "ncores": request.num_tasks * request.cores_per_task,
            "ngpus": request.num_tasks * request.gpus_per_task,
            "duration": request.runtime,
            "cwd": cwd,
            "spec": orjson.dumps(spec).decode(),
        }
        priority = request.urgency  # Flux's default priority plugin: priority = urgency
        events: list[tuple[str, dict[str, Any]]] = [
            ("submit", {"userid": userid, "urgency": request.urgency, "flags": 0, "version": 1}),
            ("validate", {}),
        ]
        waiting = self._judge_dependencies(job_id, request.dependencies)
        if waiting:
            events += [("dependency-add", {"description": describe(d)}) for d in waiting]
        else:
            events += [("depend", {}), ("priority", {"priority": priority})]
        data, first = _encode(job_id, 0, events, now)
        path = self._log_path(job_id)
        try:
            fd = self._spares.create(path)
        except OSError as exc:
            raise ExecutorUnavailable(
                f"cannot record the job in {self.jobs_dir}: {exc.strerror}"
            ) from None
        try:
            if chown and owner.uid is not None:
                os.fchown(fd, owner.uid, owner.gid if owner.gid is not None else -1)
            os.write(fd, data)
        finally:
            os.close(fd)
        searchable = {k: row[k] for k in ("id", "name", "user", "cwd", "state")}
        job = _Active(
            JobState.NEW,
            priority,
            cursor=Cursor(len(data), len(first)),
            user=owner.user,
            request=request,
            searchable=searchable,
            spec=spec,
            urgency=request.urgency,
            waiting=waiting,
        )
        for dependency in waiting:
            self._dependents.setdefault(dependency.job_id, set()).add(job_id)
        return row, job, first

    def _environment(self, request: JobRequest, owner: Owner) -> dict[str, str]:
        """The job's environment (``job_environment``), its server part computed once per owner."""
        base = self._environments.get(owner)
        if base is None:
            if len(self._environments) >= 1024:
                self._environments.clear()
            base = self._environments[owner] = job_environment(
                self._server_env, {}, owner, self.settings.env_passthrough
            )
        # Filtering is idempotent and the user's variables are applied last, so this is
        # job_environment(server_env, request.envars, owner, ...) without matching the
        # allowlist's patterns again for every job.
        env = dict(base)
        env.update({str(k): str(v) for k, v in request.envars.items()})
        return env

    def _judge_dependencies(
        self, job_id: int, dependencies: tuple[Dependency, ...]
    ) -> list[Dependency]:
        """The dependencies not met yet.

        Raises:
            SubmitRefused: A dependency on the job itself, on a job that does not exist, or one
                that can never be met (``afterok`` on a job that failed), as Flux refuses them.
        """
        assert self.store is not None
        waiting: list[Dependency] = []
        for dependency in dependencies:
            if dependency.job_id == job_id:
                raise SubmitRefused(
                    f"dependency {describe(dependency)}: a job cannot depend on itself"
                )
            record = self.store.info(dependency.job_id)
            if record is None:
                raise SubmitRefused(f"dependency {describe(dependency)}: no such job")
            verdict, why = judge(dependency, record)
            if verdict is Verdict.NEVER:
                raise SubmitRefused(never_note(dependency, why))
            if verdict is Verdict.WAITING:
                waiting.append(dependency)
        return waiting

    def _resolve_dependents(self, target: int) -> None:
        """Judge again the dependencies on ``target`` (it started or ended)."""
        assert self.store is not None
        waiters = self._dependents.pop(target, set())
        record = self.store.info(target)
        for job_id in sorted(waiters):
            job = self.active.get(job_id)
            if job is None or job.state is not JobState.DEPEND:
                continue  # cancelled meanwhile
            events: list[tuple[str, dict[str, Any]]] = []
            never: dict[str, Any] | None = None
            for dependency in [d for d in job.waiting if d.job_id == target]:
                verdict, why = judge(dependency, record)
                if verdict is Verdict.MET:
                    job.waiting.remove(dependency)
                    events.append(("dependency-remove", {"description": describe(dependency)}))
                elif verdict is Verdict.NEVER:
                    never = {"type": "dependency", "severity": 0, "userid": -1,
                             "note": never_note(dependency, why)}  # fmt: skip
                    break
                else:
                    self._dependents.setdefault(target, set()).add(job_id)
            if never is not None:
                self._append(job_id, [*events, ("exception", never)])
                self._finish_cleanup(job_id)
                continue
            if not job.waiting:
                events += [("depend", {}), ("priority", {"priority": job.urgency})]
            if events:
                self._append(job_id, events)
        self._schedule()

    async def cancel(self, job_id: int) -> None:
        assert self.store is not None
        job = self.active.get(job_id)
        if job is None:
            if self.store.info(job_id) is None:
                raise JobNotFound(job_id)
            raise JobInactive("job is inactive")
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

    def _active_job(self, job_id: int) -> _Active:
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

    def _pending_reasons(self) -> dict[int, str]:
        """The pending reason of every job waiting in ``DEPEND`` or ``SCHED``, by id.

        Computed once per revision (any event that can change a reason changes the revision):
        the queue in order, each job's wait explained by what it needs or who is ahead.
        """
        revision, reasons = self._reasons
        if revision == self._revision:
            return reasons
        reasons = {}
        queued: list[tuple[int, int]] = []
        for job_id, job in self.active.items():
            if job.state is JobState.DEPEND and job.waiting:
                reasons[job_id] = waiting_reason(job.waiting)
            elif job.state is JobState.SCHED:
                if job.priority == 0:
                    reasons[job_id] = "held (urgency 0)"
                else:
                    queued.append((-job.priority, job_id))
        head: int | None = None
        for _, job_id in sorted(queued):
            request = self._request(job_id)
            short = shortfall(self.cluster, request)
            if head is None:
                head = job_id
                reasons[job_id] = short or "about to start"
            elif short is None:
                reasons[job_id] = (
                    f"queued behind job {f58(head)} (first come, first served: nothing "
                    "overtakes the head of the queue)"
                )
            else:
                reasons[job_id] = short
        self._reasons = (self._revision, reasons)
        return reasons

    def _with_reasons(self, records: list[JobRecord]) -> list[JobRecord]:
        pending = [r for r in records if r["state"] in (JobState.DEPEND, JobState.SCHED)]
        if pending:
            reasons = self._pending_reasons()
            for record in pending:
                reason = reasons.get(record["id"])
                if reason is not None:
                    record["pending_reason"] = reason
        return records

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

    # -- ingestion: the log file is the truth ----------------------------------------------------
    def _append(self, job_id: int, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Append server-decided events to a job's log and ingest them at once."""
        now = time.time()
        job = self.active.get(job_id)
        data, entries = _encode(job_id, job.cursor.seq if job is not None else 0, events, now)
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

    def _apply_records(self, job_id: int, job: _Active, first_seq: int, records: bytes) -> None:
        """Apply records just read (numbered from ``first_seq + 1``) to the store and the hub.

        Only followed jobs' output is parsed, a run of lines at a time (``joblog.parse_entries``).
        """
        follow = self.hub.has_job_subscribers(job_id)
        found = (parse_entries if follow else parse_events)(job_id, first_seq + 1, records)
        self._apply(job_id, job, found, follow)

    def _apply(
        self, job_id: int, job: _Active, found: Sequence[StreamEntry], follow: bool = False
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
                if effect.cleanup:
                    after_clean.append("cleanup")
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
            if action == "cleanup":
                self._finish_cleanup(job_id)
            elif action == "schedule":
                self._schedule()
            elif action == "dependents":
                self._queue_resolve(job_id)

    def _queue_resolve(self, target: int) -> None:
        """Resolve the dependents of ``target``, in a loop rather than recursively.

        A failure that ends a long chain of ``afterok`` jobs ends them one after the other.
        """
        self._to_resolve.append(target)
        if self._resolving:
            return
        self._resolving = True
        try:
            while self._to_resolve:
                self._resolve_dependents(self._to_resolve.popleft())
        finally:
            self._resolving = False

    def _finish_cleanup(self, job_id: int) -> None:
        """Write the events that end a job once its tasks are gone (or it never ran)."""
        job = self.active.get(job_id)
        if job is None:
            return
        events: list[tuple[str, dict[str, Any]]] = []
        if job.alloc is not None:
            events += [("release", {"ranks": "all", "final": True}), ("free", {})]
        events.append(("clean", {}))
        self._append(job_id, events)

    # -- scheduling and running ------------------------------------------------------------------
    def _schedule(self) -> None:
        if self._stopping:
            return
        for job_id, request, alloc in self.queue.starts(self.cluster, self._waiting, self._request):
            self._start(job_id, self.active[job_id], request, alloc)

    def _waiting(self, job_id: int) -> int | None:
        """The priority of a job that waits for resources; ``None`` for any other."""
        job = self.active.get(job_id)
        if job is None or job.state is not JobState.SCHED:
            return None
        return job.priority

    def _request(self, job_id: int) -> JobRequest:
        cached = self.active[job_id].request
        if cached is not None:
            return cached
        assert self.store is not None
        row = self.store.job_row(job_id)
        assert row is not None
        spec = orjson.loads(row["spec"])
        return JobRequest(
            command=tuple(spec["argv"]),
            num_tasks=spec["num_tasks"],
            cores_per_task=spec["cores_per_task"],
            gpus_per_task=spec["gpus_per_task"],
            num_nodes=spec["num_nodes"],
            exclusive=spec["exclusive"],
            runtime=row["duration"],
        )

    def _start(self, job_id: int, job: _Active, request: JobRequest, alloc: Allocation) -> None:
        assert self.store is not None
        # try_allocate took the resources; ingesting the alloc event takes them again, and the
        # event, not this call, is what holds them (so that a recovering server takes them too).
        self.cluster.release(alloc)
        self._append(job_id, [("alloc", {"alloc": alloc.to_json(), "duration": request.runtime})])
        self._launch(job_id, job)

    def _launch(self, job_id: int, job: _Active) -> None:
        """Ask the supervisor to run the job (again after a reconnect: it runs a job once)."""
        assert self.store is not None and job.alloc is not None
        spec = job.spec
        if spec is None:  # a recovered job: its spec is in the store
            row = self.store.job_row(job_id)
            assert row is not None
            spec = orjson.loads(row["spec"])
            job.expiration = row["expiration"] or 0.0
        job.spec = None  # needed once: the supervisor has it now
        owner = spec["owner"]
        self.link.send({"op": "run", "spec": {
            "job_id": job_id, "job_id_f58": f58(job_id), "argv": spec["argv"],
            "env": spec["env"], "cwd": spec["cwd"], "ranks_nodes": job.alloc.ranks_nodes,
            "node_names": self.cluster.names, "log_path": self._log_path(job_id),
            "expiration": job.expiration, "kill_timeout": self.settings.kill_timeout,
            "uid": owner["uid"], "gid": owner["gid"], "groups": owner["groups"],
        }})  # fmt: skip

    def _check_lost(self, job_id: int, job: _Active) -> None:
        """Fail a job whose tasks began but whose supervisor died before it finished."""
        path = self._log_path(job_id)
        if log_locked(path) or not has_start(path):
            return  # running, or not started yet
        # The lock was free, and finish is written before the lock is released: whatever the
        # log holds now is all it will ever hold.
        self._ingest(job_id, whole=True)
        if job_id in self.active and not job.finished:
            note = "the job supervisor exited before the job finished"
            self._append(job_id, [
                ("exception", {"type": "lost", "severity": 0, "userid": -1, "note": note}),
                ("finish", {"status": 9}),
            ])  # fmt: skip

    # -- recovery ----------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Re-attach every job that was not inactive when the last server stopped."""
        assert self.store is not None
        for row in self.store.active_jobs():
            job_id = row["id"]
            job = _Active(
                JobState(row["state"]),
                row["priority"] if row["priority"] is not None else row["urgency"],
                cursor=Cursor(row["log_offset"], row["log_seq"]),
                user=row["user"],
                exception=bool(row["exception_occurred"]),
                exception_type=row["exception_type"] or "",
                waitstatus=row["waitstatus"],
                urgency=row["urgency"],
            )
            if row["alloc"]:
                job.alloc = Allocation.from_json(orjson.loads(row["alloc"]))
                self.cluster.take(job.alloc)
            self.active[job_id] = job
            if job.state is JobState.SCHED:
                self.queue.push(job_id, job.priority)
            self._ingest(job_id)
            if job_id not in self.active:
                continue
            if job.state is JobState.RUN and not job.finished:
                self._recover_running(job_id, job)
            elif job.state is JobState.CLEANUP:
                self._finish_cleanup(job_id)
            elif job.state is JobState.DEPEND:
                events = [(name, ctx) for _, _, name, _, ctx in self.store.events(job_id)]
                job.waiting = outstanding(events)
                for dependency in job.waiting:
                    self._dependents.setdefault(dependency.job_id, set()).add(job_id)
        # Jobs depended on may have started or ended while no server was watching.
        for target in list(self._dependents):
            self._queue_resolve(target)
        log.info("recovered %d active jobs", len(self.active))

    def _recover_running(self, job_id: int, job: _Active) -> None:
        path = self._log_path(job_id)
        if log_locked(path):
            return  # still running: the supervisor names it to us as it writes
        if not has_start(path):
            # Allocated but never started (the server stopped before the supervisor got it):
            # ask again. The supervisor runs a job at most once.
            self._launch(job_id, job)
            return
        self._check_lost(job_id, job)
