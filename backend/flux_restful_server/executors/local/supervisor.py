"""The job supervisor: one long-lived process that runs every job's tasks and writes their logs.

The server starts one supervisor per state dir and talks to it over a Unix socket. The supervisor
lives in its own session, so it (and every job) survives a server restart or ``kill -9``; a new
server reconnects to it. For each job it spawns the tasks (``posix_spawn``, argv only, each
task in its own process group; ``subprocess`` with setuid/setgid/setgroups for multi-user jobs:
:mod:`.tasks`), labels every line with stream, rank and time (:mod:`.output`),
enforces the time limit, handles cancellation (SIGTERM to every task's group, SIGKILL after a
grace period), and appends ``start``, ``exception`` and ``finish`` events to the job's log
(and, with ``finish``, the ``release``, ``free`` and ``clean`` that end the job), and delivers
the signals the server asks for (``flux job kill``) to every task's process group. After
each batch of records it sends the job id to the server, which then ingests the log (a ``start``
record waits up to ``START_NOTICE`` for the job's next record, so a job that ends at once is read
once); without a server it just keeps writing. It leaves once it has had no job and no server for
a while.

Exactly-once: the supervisor holds an exclusive lock on a job's log for as long as it runs the job,
and writes ``start`` before any task exists. A run request for a job that is locked or already
has a ``start`` record is ignored, so a job never runs twice, however often it is requested
(:mod:`.exactly_once`).

This module is the whole program of the supervisor process
(``python -m flux_restful_server.executors.local.supervisor STATE_DIR``; the server starts it with
:mod:`.launch`), so it and its siblings here (``exactly_once``, ``launch``, ``output``,
``tasks``) import only the standard library, ``joblog`` and ``hardening``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from ...hardening import forbid_tracing
from .exactly_once import start_recorded
from .joblog import ending_events, event_record, output_record
from .launch import socket_address
from .output import READ_SIZE, label
from .tasks import Spawner, Task, TaskStartFailed, ignored_signals

IDLE_EXIT = 10.0
"""Seconds without jobs and without a server after which the supervisor exits."""
START_NOTICE = 0.01
"""Seconds the server may wait to be told of a job's ``start`` record, unless the job writes
something else first: a job that ends sooner (``true``) is then read once, start and finish
together, instead of twice (a read and a store transaction each)."""


@dataclass(slots=True)
class _Job:
    """One job being run."""

    job_id: int
    spec: dict[str, Any]
    log_fd: int
    """The job's log, open for appending; its exclusive lock is held while the job runs."""
    pending: list[bytes] = field(default_factory=list)
    tasks: dict[int, Task] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    partial: dict[int, bytes] = field(default_factory=dict)
    labels: dict[int, tuple[bytes, bytes, int]] = field(default_factory=dict)
    terminating: bool = False
    kill_at: float = 0.0
    drain_deadline: float = 0.0
    notice_at: float = 0.0
    """When to tell the server of records written without telling it (0: none waiting)."""

    @property
    def ntasks(self) -> int:
        return len(self.spec["ranks_nodes"])

    def event(self, name: str, context: dict[str, Any]) -> None:
        self.pending.append(event_record(name, context, time.time()))


class Supervisor:
    """Runs jobs for one state dir; see the module docstring."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.sel = selectors.DefaultSelector()
        self.jobs: dict[int, _Job] = {}
        self.by_pid: dict[int, tuple[_Job, int]] = {}
        self.fd_job: dict[int, _Job] = {}
        self.client: socket.socket | None = None
        self.inbuf = b""
        self.rings: set[int] = set()
        self.outbuf = b""
        """Notifications the server has not taken yet (its socket buffer was full)."""
        self.idle_since = time.monotonic()
        self.host = socket.gethostname()
        self.spawner: Spawner | None = None
        """Made once this process's signal dispositions are set (``run``)."""

    # -- set-up ---------------------------------------------------------------------------------
    def listen(self) -> socket.socket:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        srv.bind(socket_address(self.state_dir))  # fails if a supervisor already serves this dir
        srv.listen(4)
        srv.setblocking(False)
        return srv

    def run(self) -> int:
        try:
            srv = self.listen()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return 0  # another supervisor already serves this state dir
            raise
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: None)
        self.spawner = Spawner(ignored_signals())
        self.sel.register(srv, selectors.EVENT_READ, "listen")
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        stopping = False
        while True:
            requests = False
            for key, _ in self.sel.select(self.timeout()):
                what = key.data
                try:
                    if what == "listen":
                        self.accept(srv)
                    elif what == "wake":
                        signums = os.read(wake_r, 512)
                        if signal.SIGTERM in signums:
                            stopping = True
                    elif what == "client":
                        requests = True
                    else:
                        self.read_output(key.fd)
                except Exception:  # one bad event must not take every running job down
                    traceback.print_exc()
            # Jobs that ended are reported before new ones are started: the server starts the
            # next jobs on the cores these free, while this process spawns the ones it has.
            self.reap()
            self.tick()
            self.flush_all()
            if requests:
                try:
                    self.read_client()
                except Exception:
                    traceback.print_exc()
                self.tick()
                self.flush_all()
            if self.jobs or self.client is not None:
                self.idle_since = time.monotonic()
            elif stopping or time.monotonic() - self.idle_since > IDLE_EXIT:
                return 0

    def timeout(self) -> float:
        """Seconds until the next deadline of any job (at most one)."""
        now = time.time()
        timeout = 0.01 if self.outbuf else 1.0  # retry soon what the server could not take
        for job in self.jobs.values():
            expiration = 0.0 if job.terminating else job.spec.get("expiration") or 0.0
            for deadline in (expiration, job.kill_at, job.drain_deadline, job.notice_at):
                if deadline:
                    timeout = min(timeout, max(0.0, deadline - now))
        return timeout

    # -- the server connection ------------------------------------------------------------------
    def accept(self, srv: socket.socket) -> None:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            return
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid not in (0, os.getuid()):
            conn.close()  # only the server's own account (or root) may run jobs here
            return
        if self.client is not None:
            self.sel.unregister(self.client)
            self.client.close()
        conn.setblocking(False)
        self.client = conn
        self.inbuf = b""
        self.outbuf = b""
        self.sel.register(conn, selectors.EVENT_READ, "client")

    def drop_client(self) -> None:
        if self.client is not None:
            self.sel.unregister(self.client)
            self.client.close()
            self.client = None

    def read_client(self) -> None:
        assert self.client is not None
        try:
            data = self.client.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop_client()
            return
        self.inbuf += data
        *lines, self.inbuf = self.inbuf.split(b"\n")
        for line in lines:
            if line:
                self.handle(json.loads(line))

    def handle(self, msg: dict[str, Any]) -> None:
        if msg["op"] == "run":
            self.start(msg["spec"])
        elif msg["op"] == "cancel":
            job = self.jobs.get(int(msg["id"]))
            if job is not None:
                self.terminate(job, "cancel", "")
        elif msg["op"] == "signal":
            job = self.jobs.get(int(msg["id"]))
            if job is not None and not job.terminating:
                self.signal_tasks(job, int(msg["signum"]))
        elif msg["op"] == "hello":
            # The server takes a connection only once this arrives: proof that this
            # supervisor is alive, not one whose listening socket outlived it for a moment.
            # Queued behind whole lines only, never inside one that is half sent.
            self.outbuf += b"ready %d\n" % os.getpid()
            self.send_rings()

    def ring(self, job_id: int) -> None:
        self.rings.add(job_id)

    def send_rings(self) -> None:
        """Send the ids of the jobs whose logs grew.

        A full socket buffer is not a lost server (many small writes fill it while the server is
        busy): the rest waits for the next turn, and ids named meanwhile are merged, so what
        waits stays one id per job at most.
        """
        if self.client is None:
            self.rings.clear()
            return
        if not self.outbuf and self.rings:
            self.outbuf = b"".join(b"%d\n" % j for j in self.rings)
            self.rings.clear()
        if not self.outbuf:
            return
        try:
            sent = self.client.send(self.outbuf)
        except BlockingIOError:
            return
        except OSError:
            self.drop_client()  # the server is gone: it catches up from the logs when it returns
            return
        self.outbuf = self.outbuf[sent:]

    # -- running a job --------------------------------------------------------------------------
    def start(self, spec: dict[str, Any]) -> None:
        job_id = int(spec["job_id"])
        path = spec["log_path"]
        if job_id in self.jobs:
            return
        try:
            log_fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(log_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(log_fd)
            # Another supervisor runs it, or someone checks the lock this instant (the server
            # asks again while the job has not started).
            sys.stderr.write(f"job {job_id}: its log is locked; not started now\n")
            sys.stderr.flush()
            return
        if start_recorded(log_fd):
            os.close(log_fd)
            return  # it ran (or began to) before: never run a job twice
        job = _Job(job_id, spec, log_fd)
        self.jobs[job_id] = job
        # Written before any task exists: whoever finds no start record knows nothing ran.
        job.event("start", {})
        self.flush(job, notify=False)
        job.notice_at = time.time() + START_NOTICE
        for rank in range(job.ntasks):
            self.spawn(job, rank)
        self.flush(job)
        self.maybe_finish(job)

    def spawn(self, job: _Job, rank: int) -> None:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            assert self.spawner is not None
            task = self.spawner.start(job.spec, rank, out_w, err_w)
        except TaskStartFailed as exc:
            for fd in (out_r, err_r):
                os.close(fd)
            job.pending.append(
                output_record(
                    b"e", rank, f"flux-shell[{rank}]: ERROR: {exc.note}".encode(), time.time()
                )
            )
            job.event("exception", {"type": "exec", "severity": 0, "note": exc.note, "userid": -1})
            job.status[rank] = exc.code << 8
            return
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        job.tasks[rank] = task
        self.by_pid[task.pid] = (job, rank)
        for fd, kinds in ((out_r, (b"o", b"O")), (err_r, (b"e", b"E"))):
            os.set_blocking(fd, False)
            job.labels[fd] = (kinds[0], kinds[1], rank)
            job.partial[fd] = b""
            self.fd_job[fd] = job
            self.sel.register(fd, selectors.EVENT_READ, "output")

    def read_output(self, fd: int) -> None:
        job = self.fd_job.get(fd)
        if job is None:
            return
        try:
            chunk = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        full, part, rank = job.labels[fd]
        t = time.time()
        if not chunk:
            self.close_pipe(job, fd, t)
            return
        # partial is shorter than LINE_MAX, so each read copies O(LINE_MAX + READ_SIZE) bytes:
        # the cost is linear in the output, whatever its line lengths.
        job.partial[fd] = label(job.partial[fd] + chunk, full, part, rank, t, job.pending)

    def close_pipe(self, job: _Job, fd: int, t: float) -> None:
        full, part, rank = job.labels[fd]
        if job.partial.get(fd):
            job.pending.append(output_record(part, rank, job.partial[fd], t))
        job.partial.pop(fd, None)
        job.labels.pop(fd, None)
        self.fd_job.pop(fd, None)
        self.sel.unregister(fd)
        os.close(fd)

    def terminate(self, job: _Job, kind: str, note: str) -> None:
        if job.terminating:
            return
        job.terminating = True
        job.event("exception", {"type": kind, "severity": 0, "note": note, "userid": -1})
        self.flush(job)
        job.kill_at = time.time() + float(job.spec.get("kill_timeout", 5.0))
        self.signal_tasks(job, signal.SIGTERM)

    def signal_tasks(self, job: _Job, sig: int) -> None:
        for rank, task in job.tasks.items():
            if rank not in job.status:
                with contextlib.suppress(OSError):
                    os.killpg(task.pid, sig)

    def reap(self) -> None:
        while self.by_pid:
            try:
                pid, raw = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            owner = self.by_pid.pop(pid, None)
            if owner is not None:
                job, rank = owner
                job.tasks[rank].reaped(raw)
                job.status[rank] = raw

    def tick(self) -> None:
        now = time.time()
        for job in list(self.jobs.values()):
            expiration = job.spec.get("expiration") or 0.0
            if expiration and now >= expiration and not job.terminating:
                self.terminate(job, "timeout", "resource allocation expired")
            if job.kill_at and now >= job.kill_at:
                self.signal_tasks(job, signal.SIGKILL)
                job.kill_at = 0.0
            if job.notice_at and now >= job.notice_at:
                job.notice_at = 0.0
                self.ring(job.job_id)
            self.maybe_finish(job)

    def maybe_finish(self, job: _Job) -> None:
        if len(job.status) < job.ntasks:
            return
        if job.labels:
            # The tasks are gone but something they started still holds the pipes: give the
            # stragglers a moment to flush, then stop reading.
            if not job.drain_deadline:
                job.drain_deadline = time.time() + 1.0
                return
            if time.time() < job.drain_deadline:
                return
            for fd in list(job.labels):
                self.close_pipe(job, fd, time.time())
        job.event("finish", {"status": max(job.status.values(), default=0)})
        # The job manager's part, written here in the same write: a job that ends costs the
        # server one read and one store transaction, and no write of its own.
        for name, context in ending_events(allocated=True):
            job.event(name, context)
        self.flush(job)
        os.close(job.log_fd)  # releases the lock: the job is over
        del self.jobs[job.job_id]

    # -- writing ----------------------------------------------------------------------------
    def flush(self, job: _Job, *, notify: bool = True) -> None:
        """Write the job's pending records; tell the server, unless ``notify`` is false."""
        if job.pending:
            data = b"".join(job.pending)
            job.pending.clear()
            view = memoryview(data)
            while view:
                view = view[os.write(job.log_fd, view) :]
            if notify:
                job.notice_at = 0.0  # this notification covers the records written before
                self.ring(job.job_id)

    def flush_all(self) -> None:
        for job in self.jobs.values():
            self.flush(job)
        self.send_rings()


def main() -> None:
    """Entry point of the supervisor process."""
    forbid_tracing()  # its memory holds every running job's spec
    sys.exit(Supervisor(os.path.abspath(sys.argv[1])).run())


if __name__ == "__main__":
    main()
