"""The local executor: a durable job store, a scheduler over emulated nodes, and a supervisor.

The server process owns the store (SQLite) and the scheduler; one supervisor process per state
dir (``supervisor.py``) runs every job's tasks and outlives the server. A job's log file is the
single source of its events and output: the server appends the events it decides (submit ...
alloc, then release, free, clean), the supervisor appends the ones it sees (start, output,
exception, finish), and the server *ingests* every record from the file into the store and the
hub. Because ingestion is the only path from an event to the store, a restart just ingests what
it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import heapq
import logging
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from ...domain.environment import job_environment
from ...domain.errors import ExecutorUnavailable, JobInactive, JobNotFound, SubmitRefused
from ...domain.events import JobEvent, LogEntry, OutputLine
from ...domain.ids import FluidGenerator, f58
from ...domain.owner import Owner, system_account
from ...domain.query import JobFilter, Page
from ...domain.record import JobRecord, search_text
from ...domain.request import JobRequest
from ...domain.resources import NodeInfo, ResourceLimits
from ...domain.states import STATE_AFTER, JobResult, JobState
from ...settings import Settings, SettingsError
from ..base import OUTPUT_BATCH_BYTES
from ..hub import Hub
from .joblog import Cursor, event_record, is_event, iter_records, parse_record, read_new
from .resources import Allocation, Cluster, hostlist, idset
from .spares import SpareFiles
from .store import INFO_COLUMNS, SUMMARY_COLUMNS, Store
from .supervisor import has_start, log_locked, socket_address, spawn_supervisor

log = logging.getLogger("flux_restful.local")

INGEST_SLICE = 1 << 18
"""Bytes of a followed job's log ingested per turn of the event loop."""

INGEST_CHUNK = 1 << 22
"""Bytes of a job's log read at a time when nobody follows it."""

INGEST_WAIT = 0.002
"""Seconds between checks for room while the followers of a job catch up."""

INGEST_GRACE = 0.5
"""Seconds a followed job's ingestion waits for a follower that takes nothing before going on
(which cuts that follower off with a ``lagged`` frame)."""

HISTORY_BATCH = 1000
"""Entries per batch when replaying history."""

SAFETY_POLL = 1.0
"""Seconds between catch-up reads of every running job's log (a safety net for notifications)."""

CONNECT_TIMEOUT = 15.0
"""Seconds to wait for a supervisor to answer before giving up (at start-up: refusing to start)."""

HANDSHAKE_TIMEOUT = 5.0
"""Seconds a supervisor that accepted a connection has to answer ``hello``."""
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


def lock_state_dir(state_dir: Path) -> int:
    """Create ``state_dir`` if needed and take its lock; return the locked descriptor.

    Raises:
        SettingsError: The directory is unusable, or another server holds it (with its pid).
    """
    try:
        # Only the server's account may look inside: it holds the signing key, the user store
        # and every job's output. (An existing directory keeps its mode unless --job-user asks.)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (state_dir / "jobs").mkdir(exist_ok=True, mode=0o700)
        probe = state_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise SettingsError(f"cannot use state dir {state_dir}: {exc.strerror or exc}") from None
    fd = os.open(state_dir / "server.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SettingsError(
            f"state dir {state_dir} is in use by another server (pid {holder}); "
            "stop it or choose another --state-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@dataclass(slots=True)
class _Active:
    """What the server keeps in memory for a job that is not inactive."""

    cursor: Cursor
    state: JobState
    priority: int
    user: str | None
    alloc: Allocation | None = None
    request: JobRequest | None = None
    finished: bool = False
    searchable: dict[str, Any] = field(default_factory=dict)
    """The job's fields that ``search_text`` reads, kept current as events are applied."""
    spec: dict[str, Any] | None = None
    """What the supervisor needs to run the job (argv, env, cwd, owner), while it waits."""
    expiration: float = 0.0
    """Absolute time limit set by the alloc event; 0 for none."""


class LocalExecutor:
    """Runs jobs as local processes; see the module docstring for the design."""

    name = "local"

    def __init__(self, settings: Settings, hub: Hub | None = None) -> None:
        self.settings = settings
        self.hub = hub or Hub()
        self.state_dir = Path(settings.state_dir)
        self.jobs_dir = self.state_dir / "jobs"
        self.cluster = Cluster(settings.nodes, settings.cores_per_node, settings.gpus_per_node)
        self.active: dict[int, _Active] = {}
        self.store: Store | None = None
        self.ids: FluidGenerator | None = None
        self._lock_fd = -1
        self._supervisor: asyncio.StreamWriter | None = None
        self._supervisor_proc: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._cancels: set[int] = set()
        self._spares = SpareFiles(None)
        self._revision = 0
        self._queue: list[tuple[int, int]] = []
        """Jobs waiting for resources: a heap of (-priority, id), cleaned lazily."""
        self._poller: asyncio.Task[None] | None = None
        self._stopping = False
        self._unready: str | None = "the executor has not started"
        self._server_env = job_environment(os.environ, {}, Owner(), settings.env_passthrough)
        self._job_account = job_account(settings.job_user) if settings.job_user else None
        """The system account every job runs as (``--job-user``), or ``None``."""

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._open_state_dir()
        self._check_isolation()
        self._spares = SpareFiles(self.jobs_dir)
        store = self.store = Store(self.settings.db_path)
        epoch = store.meta("epoch")
        if epoch is None:
            epoch = repr(time.time())
            store.set_meta("epoch", epoch)
        self.epoch = float(epoch)
        self.ids = FluidGenerator(self.epoch, store.max_job_id())
        await self._connect_supervisor()
        self._recover()
        self._schedule()
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        self._stopping = True
        if self._poller:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self.hub.close()
        self._spares.close()
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._supervisor is not None:
            self._supervisor.close()  # the supervisor keeps running the jobs
            self._supervisor = None
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
        return self._unready

    async def probe(self) -> str | None:
        # The supervisor link already says when it is lost (EOF on its socket) or not answering.
        return self.readiness()

    async def _connect_supervisor(self) -> None:
        """Connect to this state dir's supervisor at start-up, starting one if none is running.

        Raises:
            SettingsError: No supervisor answered within :data:`CONNECT_TIMEOUT` seconds.
        """
        try:
            reader = await self._connect(time.monotonic() + CONNECT_TIMEOUT)
        except ExecutorUnavailable as exc:
            raise SettingsError(str(exc)) from None
        self._reader = asyncio.get_running_loop().create_task(self._supervise(reader))

    async def _connect(self, deadline: float) -> asyncio.StreamReader:
        """Connect to a supervisor that answers, spawning one whenever none listens.

        A connection is only taken once the supervisor answers a ``hello``: a supervisor that
        is being killed can still accept a connection (its listening socket outlives its other
        descriptors for a moment), and would reset it at once.

        Raises:
            ExecutorUnavailable: None answered before ``deadline`` (monotonic seconds).
        """
        address = socket_address(str(self.state_dir))
        loop = asyncio.get_running_loop()
        why = "no supervisor answered"
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            sock.setblocking(False)
            try:
                # Abstract addresses go through a plain socket: uvloop takes only paths.
                await loop.sock_connect(sock, address)
            except (ConnectionRefusedError, FileNotFoundError):
                sock.close()
                proc = self._supervisor_proc
                # Start one unless the one we started is still starting (or still dying); one
                # that found the address taken by a dying supervisor has exited: start again.
                if proc is None or proc.poll() is not None:
                    self._supervisor_proc = spawn_supervisor(str(self.state_dir))
            except OSError as exc:
                sock.close()
                why = exc.strerror or str(exc)
            else:
                reader, writer = await asyncio.open_unix_connection(sock=sock)
                try:
                    early = await self._handshake(reader, writer)
                except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError) as exc:
                    writer.close()
                    why = f"a supervisor accepted but did not answer ({exc or type(exc).__name__})"
                else:
                    self._supervisor = writer
                    self._unready = None
                    for job_id in self._cancels:
                        self._send({"op": "cancel", "id": job_id})
                    self._cancels.clear()
                    self._ingest_named(early)
                    return reader
            if time.monotonic() > deadline:
                raise ExecutorUnavailable(
                    f"the job supervisor did not start ({why}); see {self.state_dir}/supervisor.log"
                )
            await asyncio.sleep(0.02)

    @staticmethod
    async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        """Say hello and wait for ``ready``; return the job ids named before it."""
        writer.write(b'{"op":"hello"}\n')
        await writer.drain()
        early = b""
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    raise EOFError("connection closed")
                if line.startswith(b"ready"):
                    return early
                early += line  # a job named before our hello was read

    async def _supervise(self, reader: asyncio.StreamReader) -> None:
        """Read the supervisor's notifications; when it goes away, reconnect, for ever.

        Every way a connection can end (EOF, reset, any other error) means "the supervisor is
        gone". While none is reachable the executor is not ready: submits are refused (503).
        """
        while True:
            try:
                await self._read_supervisor(reader)
                why = "it closed the connection"
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
            except Exception as exc:  # never let the reconnect path die silently
                log.exception("reading from the job supervisor failed")
                why = str(exc) or type(exc).__name__
            if self._supervisor is not None:
                self._supervisor.close()
                self._supervisor = None
            if self._stopping:
                return
            self._unready = f"the job supervisor went away ({why}); a new one is starting"
            log.warning("the job supervisor went away (%s); starting a new one", why)
            reader = await self._reconnect()
            log.info("connected to a job supervisor again")
            for job_id, job in list(self.active.items()):
                if job.state is JobState.RUN and not job.finished:
                    try:
                        self._recover_running(job_id, job)
                    except Exception:
                        log.exception("re-attaching job %d failed", job_id)

    async def _reconnect(self) -> asyncio.StreamReader:
        """Connect again, retrying (with a growing pause) until it works."""
        pause = 0.1
        while True:
            try:
                return await self._connect(time.monotonic() + CONNECT_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._unready = str(exc)
                log.error("%s; trying again in %.1f s", exc, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def _read_supervisor(self, reader: asyncio.StreamReader) -> None:
        """Ingest the logs of the jobs the supervisor names, until the connection ends."""
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            while not data.endswith(b"\n"):
                more = await reader.read(1 << 16)
                if not more:
                    return
                data += more
            if self.store is None:
                return
            self._ingest_named(data)

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

    def _send(self, message: dict[str, Any]) -> bool:
        if self._supervisor is None or self._supervisor.is_closing():
            return False
        self._supervisor.write(orjson.dumps(message) + b"\n")
        return True

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
                    pacing = self.hub.deferred(job_id)
                    if job_id in self.active and not job.finished and not pacing:
                        self._check_lost(job_id, job)
                except Exception:  # one job's trouble must not stop the safety net for all
                    log.exception("checking job %d failed", job_id)
            if self._supervisor_proc is not None:
                self._supervisor_proc.poll()  # reap it if it exited

    # -- paths ----------------------------------------------------------------------------------
    def _log_path(self, job_id: int) -> str:
        return str(self.jobs_dir / f"{job_id}.log")

    # -- the Executor interface -----------------------------------------------------------------
    def limits(self) -> ResourceLimits:
        return self.cluster.limits()

    async def submit(self, request: JobRequest, owner: Owner) -> int:
        assert self.store is not None and self.ids is not None
        unready = self.readiness()
        if unready is not None:
            raise ExecutorUnavailable(f"jobs cannot be run right now: {unready}")
        self.cluster.limits().check(request)
        chown = owner.uid is not None  # multi-user: the job's output is that user's alone
        if owner.uid is None and self._job_account is not None:
            owner = replace(self._job_account, user=owner.user)
        cwd = request.workdir or owner.home or os.getcwd()
        if not os.path.isdir(cwd):
            raise SubmitRefused(f"workdir {cwd!r} does not exist or is not a directory")
        job_id = self.ids.next()
        now = time.time()
        env = job_environment(
            self._server_env, request.envars, owner, self.settings.env_passthrough
        )
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
        records = [
            event_record(
                "submit",
                {"userid": userid, "urgency": request.urgency, "flags": 0, "version": 1},
                now,
            ),
            event_record("validate", {}, now),
            event_record("depend", {}, now),
            event_record("priority", {"priority": priority}, now),
        ]
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
            os.write(fd, b"".join(records))
        finally:
            os.close(fd)
        searchable = {k: row[k] for k in ("id", "name", "user", "cwd", "state")}
        self.active[job_id] = _Active(
            Cursor(),
            JobState.NEW,
            priority,
            owner.user,
            request=request,
            searchable=searchable,
            spec=spec,
        )
        with self.store.transaction():  # one commit: the job, its first events, its start
            self.store.insert_job(row)
            self._ingest(job_id)
            self._schedule()
        return job_id

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
            if not self._send({"op": "cancel", "id": job_id}):
                self._cancels.add(job_id)

    async def info(self, job_id: int) -> JobRecord:
        assert self.store is not None
        info = self.store.info(job_id)
        if info is None:
            raise JobNotFound(job_id)
        return info

    async def query(
        self, filters: JobFilter, page: Page, *, summary: bool = False
    ) -> list[JobRecord]:
        assert self.store is not None
        return self.store.query(filters, page, SUMMARY_COLUMNS if summary else INFO_COLUMNS)

    def revision(self) -> int | None:
        return self._revision

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

    async def log(self, job_id: int, since: int = 0) -> AsyncIterator[list[LogEntry]]:
        assert self.store is not None
        if job_id not in self.active and self.store.info(job_id) is None:
            raise JobNotFound(job_id)
        with self.hub.job(job_id) as sub:
            job = self.active.get(job_id)
            stop = None if job is None else job.cursor.offset
            seq = since
            batch: list[LogEntry] = []
            for raw in iter_records(self._log_path(job_id), since, stop):
                seq += 1
                batch.append(parse_record(job_id, seq, raw))
                if len(batch) >= HISTORY_BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch
            if job is None:
                return
            while True:
                # Live batches are shared by every follower (yielded as is, never changed).
                live = await sub.get_batch()
                if not live:
                    return
                if live[0].seq <= seq:
                    live = [entry for entry in live if entry.seq > seq]
                    if not live:
                        continue
                seq = live[-1].seq
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
        data = b"".join(event_record(name, ctx, now) for name, ctx in events)
        job = self.active.get(job_id)
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
            first_seq = job.cursor.seq
            records = data[:-1].split(b"\n")
            job.cursor.offset += len(data)
            job.cursor.seq += len(records)
            self._apply_records(job_id, job, first_seq, records)
        else:
            self._ingest(job_id, whole=True)

    def _ingest(self, job_id: int, *, whole: bool = False) -> None:
        """Apply a job's new log records to the store and the hub.

        While someone follows the job, a fast writer's output is taken in slices of at most half
        the hub's per-follower limit, and the next slice waits until every follower has room for
        it (the log file is the buffer), so followers that keep up are never cut off by a burst.
        A follower that takes nothing for :data:`INGEST_GRACE` seconds no longer holds the job
        back (it is cut off). ``whole`` reads everything now (for decisions that need the
        complete log).
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
            while job_id in self.active:
                first_seq = job.cursor.seq
                records = read_new(path, job.cursor, INGEST_CHUNK)
                if not records:
                    return
                self._apply_records(job_id, job, first_seq, records)
            return
        else:
            if self.hub.deferred(job_id):
                return  # the next slice is already scheduled
            count = max(1, self.hub.limit // 2)
            full = self.hub.room(job_id) < count
            if full and self.hub.waited(job_id, True) < INGEST_GRACE:
                self.hub.defer(job_id, INGEST_WAIT, self._ingest)
                return
            self.hub.waited(job_id, False)
            records = read_new(path, job.cursor, INGEST_SLICE, count)
            if records and os.stat(path).st_size > job.cursor.offset:
                self.hub.defer(job_id, 0, self._ingest)
        if records:
            self._apply_records(job_id, job, first_seq, records)

    def _apply_records(
        self, job_id: int, job: _Active, first_seq: int, records: list[bytes]
    ) -> None:
        """Apply records just read (numbered from ``first_seq + 1``) to the store and the hub."""
        assert self.store is not None
        follow = self.hub.has_job_subscribers(job_id)
        published: list[LogEntry] = []
        changes: dict[str, Any] = {}
        after_clean: list[str] = []
        with self.store.transaction():
            for index, raw in enumerate(records):
                seq = first_seq + index + 1
                if not is_event(raw):
                    if follow:
                        published.append(parse_record(job_id, seq, raw))
                    continue
                entry = parse_record(job_id, seq, raw)
                if not isinstance(entry, JobEvent):  # a record cut short by a killed writer
                    log.warning("job %d: damaged log record %d kept as output", job_id, seq)
                    if follow:
                        published.append(entry)
                    continue
                self._apply(job_id, job, entry, changes, after_clean)
                feed_seq = self.store.add_event(
                    job_id, seq, entry.name, entry.timestamp, entry.context
                )
                published.append(
                    JobEvent(
                        job_id,
                        seq,
                        entry.name,
                        entry.timestamp,
                        entry.context,
                        feed_seq,
                        job.user,
                        STATE_AFTER.get(entry.name),
                    )
                )
            if changes:
                self._revision += 1
            changes["log_offset"] = job.cursor.offset
            changes["log_seq"] = job.cursor.seq
            self.store.update_job(job_id, changes)
            if "state" in changes:
                if not job.searchable:  # recovered job: read its row once
                    job.searchable = dict(self.store.job_row(job_id) or {})
                job.searchable.update(changes)
                self.store.update_job(job_id, {"search_text": search_text(job.searchable)})
        self.hub.publish_many(published)
        if job.state is JobState.INACTIVE:
            del self.active[job_id]
        for action in after_clean:
            if action == "cleanup":
                self._finish_cleanup(job_id)
            elif action == "schedule":
                self._schedule()

    def _apply(
        self,
        job_id: int,
        job: _Active,
        ev: JobEvent,
        changes: dict[str, Any],
        actions: list[str],
    ) -> None:
        """Apply one event to the job's record, as Flux's job manager and job-list do."""
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
            if job.state < JobState.SCHED:
                job.state = JobState.SCHED
                heapq.heappush(self._queue, (-job.priority, job_id))
            changes.update(state=int(job.state), priority=job.priority)
        elif name == "alloc":
            job.state = JobState.RUN
            alloc = Allocation.from_json(ctx["alloc"])
            if job.alloc is None:
                # Taken here, not where the event is written: a server that wrote the event
                # and died before ingesting it takes the allocation when it recovers the job.
                self.cluster.take(alloc)
            job.alloc = alloc
            names = [self.cluster.names[i] for i in alloc.nodes]
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
        elif name == "exception":
            severity = int(ctx.get("severity", 0))
            if "exception_occurred" not in changes and not self._has_exception(job_id):
                changes.update(
                    exception_occurred=1,
                    exception_severity=severity,
                    exception_type=str(ctx.get("type", "")),
                    exception_note=str(ctx.get("note", "")),
                )
            if severity == 0 and job.state < JobState.RUN:
                job.state = JobState.CLEANUP
                changes.update(state=int(job.state), t_cleanup=t)
        elif name == "finish":
            job.finished = True
            job.state = JobState.CLEANUP
            changes.update(state=int(job.state), t_cleanup=t, waitstatus=int(ctx["status"]))
            actions.append("cleanup")
        elif name == "clean":
            job.state = JobState.INACTIVE
            changes.update(state=int(job.state), t_inactive=t)
            changes.update(self._result(job_id, changes))
        elif name == "free":
            if job.alloc is not None:
                self.cluster.release(job.alloc)
                job.alloc = None
                actions.append("schedule")

    def _has_exception(self, job_id: int) -> bool:
        assert self.store is not None
        info = self.store.info(job_id)
        return bool(info and info["exception_occurred"])

    def _result(self, job_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        assert self.store is not None
        info = self.store.info(job_id)
        merged: dict[str, Any] = dict(info or {})
        merged.update(changes)
        waitstatus = merged.get("waitstatus")
        if merged.get("exception_occurred") and merged.get("exception_type") == "cancel":
            result = JobResult.CANCELED
        elif merged.get("exception_occurred") and merged.get("exception_type") == "timeout":
            result = JobResult.TIMEOUT
        elif not merged.get("exception_occurred") and waitstatus == 0:
            result = JobResult.COMPLETED
        else:
            result = JobResult.FAILED
        return {"result": int(result), "success": int(result is JobResult.COMPLETED)}

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
        queue = self._queue
        while queue:
            job_id = queue[0][1]
            job = self.active.get(job_id)
            if job is None or job.state is not JobState.SCHED:
                heapq.heappop(queue)  # cancelled, or already started
                continue
            if job.priority == 0:
                break  # held (urgency 0), as in Flux; held jobs sort last
            request = self._request(job_id)
            alloc = self.cluster.try_allocate(request)
            if alloc is None:
                break  # first come, first served: nothing overtakes the head of the queue
            heapq.heappop(queue)
            self._start(job_id, job, request, alloc)

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
        self._send({"op": "run", "spec": {
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
                Cursor(row["log_offset"], row["log_seq"]),
                JobState(row["state"]),
                row["priority"] if row["priority"] is not None else row["urgency"],
                row["user"],
            )
            if row["alloc"]:
                job.alloc = Allocation.from_json(orjson.loads(row["alloc"]))
                self.cluster.take(job.alloc)
            self.active[job_id] = job
            if job.state is JobState.SCHED:
                heapq.heappush(self._queue, (-job.priority, job_id))
            self._ingest(job_id)
            if job_id not in self.active:
                continue
            if job.state is JobState.RUN and not job.finished:
                self._recover_running(job_id, job)
            elif job.state is JobState.CLEANUP:
                self._finish_cleanup(job_id)
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
