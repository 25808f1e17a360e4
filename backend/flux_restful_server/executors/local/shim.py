"""The job shim: the process that runs one job's tasks and writes its log.

The server forks one shim per job. The shim leaves the server's session, so it (and the job)
survive a server restart or ``kill -9``. It spawns the tasks, labels every line they write with
stream, rank and time, enforces the time limit, handles cancellation (``SIGUSR1``: SIGTERM to each
task's process group, SIGKILL after a grace period), and writes ``start``, ``exception`` and
``finish`` events. After each batch of records it rings the server's doorbell (a FIFO in the state
dir) with its job id; when no server is listening it just keeps writing, and a restarted server
catches up from the file. The ``finish`` record is its last act.

Everything here runs in a forked child of the server: no asyncio, no logging, only ``os`` calls,
and the process always leaves with ``os._exit``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from typing import NoReturn

from .joblog import event_record, output_record

READ_SIZE = 1 << 16


@dataclass(slots=True)
class ShimSpec:
    """Everything a shim needs to run a job, prepared by the server before forking."""

    job_id: int
    """The job."""
    job_id_f58: str
    """The job id as Flux prints it (``FLUX_JOB_ID``)."""
    argv: list[str]
    """Command to run in every task."""
    env: dict[str, str]
    """Environment common to every task."""
    cwd: str
    """Working directory."""
    ranks_nodes: list[int]
    """For each task rank, the index of the node it runs on."""
    node_names: list[str]
    """Node names by node index (for messages)."""
    log_path: str
    """The job's log file."""
    doorbell_path: str
    """The server's doorbell FIFO."""
    lock_fd: int = -1
    """The locked descriptor of the job's log, held for the shim's whole life."""
    expiration: float = 0.0
    """Absolute time limit (epoch seconds); 0 for none."""
    kill_timeout: float = 5.0
    """Seconds between SIGTERM and SIGKILL."""
    uid: int | None = None
    """Run the tasks as this uid (multi-user mode)."""
    gid: int | None = None
    """Primary gid for ``uid``."""
    groups: list[int] = field(default_factory=list)
    """Supplementary groups for ``uid``."""


def shim_alive(log_path: str) -> bool:
    """Whether a job's shim is running: it holds a lock on the job's log for its whole life.

    The server takes the lock before forking and the shim inherits it, so there is no moment
    where a starting shim could be mistaken for a dead one.
    """
    try:
        fd = os.open(log_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def take_lock(log_path: str) -> int:
    """Lock a job's log; return the descriptor for the shim to inherit.

    Raises:
        BlockingIOError: A shim for this job is already running.
    """
    fd = os.open(log_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


SHIM_SIGNALS = {signal.SIGUSR1, signal.SIGTERM}
"""Signals the server blocks around ``fork`` so a new shim gets them only once it handles them."""


def run_shim(spec: ShimSpec) -> NoReturn:
    """Run the job to completion in this (forked) process, then exit."""
    code = 1
    try:
        code = _Shim(spec).run()
    finally:
        os._exit(code)


class _Shim:
    def __init__(self, spec: ShimSpec) -> None:
        self.spec = spec
        self.doorbell_fd = -1
        self.pending: list[bytes] = []
        self.log_fd = -1
        self.terminating_at = 0.0
        self.kill_at = 0.0
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.status: dict[int, int] = {}
        self.host = socket.gethostname()

    # -- process set-up ---------------------------------------------------------------------
    def detach(self) -> int:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        os.setsid()
        top = min(os.sysconf("SC_OPEN_MAX"), 65536)
        lock = self.spec.lock_fd
        os.closerange(3, lock)
        os.closerange(lock + 1, top)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        if devnull > 2:
            os.close(devnull)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGUSR1, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: None)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        # The server blocked these around fork: a cancel sent before now is delivered here.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SHIM_SIGNALS)
        self.log_fd = os.open(self.spec.log_path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        return wake_r

    # -- log writing ----------------------------------------------------------------------------
    def event(self, name: str, context: dict[str, object]) -> None:
        self.pending.append(event_record(name, context, time.time()))

    def flush(self) -> None:
        if self.pending:
            data = b"".join(self.pending)
            self.pending.clear()
            view = memoryview(data)
            while view:
                written = os.write(self.log_fd, view)
                view = view[written:]
            self.ring()

    def ring(self) -> None:
        if self.doorbell_fd < 0:
            try:
                self.doorbell_fd = os.open(
                    self.spec.doorbell_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC
                )
            except OSError:
                return  # no server listening: it will catch up from the file
        try:
            os.write(self.doorbell_fd, struct.pack("=Q", self.spec.job_id))
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                os.close(self.doorbell_fd)
                self.doorbell_fd = -1

    # -- the job --------------------------------------------------------------------------------
    def spawn(self, rank: int) -> subprocess.Popen[bytes] | None:
        spec = self.spec
        env = dict(spec.env)
        node = spec.ranks_nodes[rank]
        local_id = spec.ranks_nodes[:rank].count(node)
        env.update(
            FLUX_JOB_ID=spec.job_id_f58,
            FLUX_JOB_SIZE=str(len(spec.ranks_nodes)),
            FLUX_JOB_NNODES=str(len(set(spec.ranks_nodes))),
            FLUX_TASK_RANK=str(rank),
            FLUX_TASK_LOCAL_ID=str(local_id),
            PMI_RANK=str(rank),
            PMI_SIZE=str(len(spec.ranks_nodes)),
        )
        try:
            return subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=spec.cwd,
                env=env,
                process_group=0,
                user=spec.uid,
                group=spec.gid,
                extra_groups=spec.groups if spec.uid is not None else None,
                close_fds=True,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            note = f"task {rank} ({spec.node_names[node]}): start failed: {spec.argv[0]}: {reason}"
            self.pending.append(
                output_record(
                    b"e", rank, f"flux-shell[{rank}]: ERROR: {note}".encode(), time.time()
                )
            )
            self.event("exception", {"type": "exec", "severity": 0, "note": note, "userid": -1})
            self.status[rank] = (126 if exc.errno == errno.EACCES else 127) << 8
            return None

    def signal_tasks(self, sig: int) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, sig)
                except OSError:
                    pass

    def terminate(self, kind: str, note: str) -> None:
        if self.terminating_at:
            return
        self.event("exception", {"type": kind, "severity": 0, "note": note, "userid": -1})
        self.flush()
        self.terminating_at = time.time()
        self.kill_at = self.terminating_at + self.spec.kill_timeout
        self.signal_tasks(signal.SIGTERM)

    def run(self) -> int:
        wake_r = self.detach()
        spec = self.spec
        sel = selectors.DefaultSelector()
        sel.register(wake_r, selectors.EVENT_READ, None)
        # Written before any task exists: a server that finds no start record knows nothing ran.
        # An exec failure follows it, as flux-shell reports one after start.
        self.event("start", {"shim": os.getpid()})
        self.flush()
        partial: dict[int, bytes] = {}
        labels: dict[int, tuple[bytes, bytes, int]] = {}
        for rank in range(len(spec.ranks_nodes)):
            proc = self.spawn(rank)
            if proc is None:
                continue
            self.procs[rank] = proc
            assert proc.stdout is not None and proc.stderr is not None
            for pipe, kinds in ((proc.stdout, (b"o", b"O")), (proc.stderr, (b"e", b"E"))):
                fd = pipe.fileno()
                os.set_blocking(fd, False)
                labels[fd] = (kinds[0], kinds[1], rank)
                partial[fd] = b""
                sel.register(fd, selectors.EVENT_READ, fd)
        self.flush()
        open_fds = set(labels)
        drain_deadline = 0.0
        while True:
            now = time.time()
            timeout = 0.5
            if spec.expiration and not self.terminating_at:
                if now >= spec.expiration:
                    self.terminate("timeout", "resource allocation expired")
                else:
                    timeout = min(timeout, spec.expiration - now)
            if self.kill_at:
                if now >= self.kill_at:
                    self.signal_tasks(signal.SIGKILL)
                    self.kill_at = 0.0
                else:
                    timeout = min(timeout, self.kill_at - now)
            if drain_deadline:
                timeout = min(timeout, max(0.0, drain_deadline - now))
            for key, _ in sel.select(max(timeout, 0.0)):
                fd = key.data
                if fd is None:
                    self.on_signals(wake_r)
                    continue
                try:
                    chunk = os.read(fd, READ_SIZE)
                except BlockingIOError:
                    continue
                full, part, rank = labels[fd]
                t = time.time()
                if not chunk:
                    if partial[fd]:
                        self.pending.append(output_record(part, rank, partial[fd], t))
                        partial[fd] = b""
                    sel.unregister(fd)
                    open_fds.discard(fd)
                    continue
                data = partial[fd] + chunk
                lines = data.split(b"\n")
                partial[fd] = lines.pop()
                self.pending.extend(output_record(full, rank, line, t) for line in lines)
            self.flush()
            self.reap()
            if len(self.status) == len(spec.ranks_nodes):
                if not open_fds:
                    break
                # Tasks are gone but something they started still holds the pipes: give the
                # stragglers a moment to flush, then stop reading.
                if not drain_deadline:
                    drain_deadline = time.time() + 1.0
                elif time.time() >= drain_deadline:
                    for fd in open_fds:
                        if partial[fd]:
                            full, part, rank = labels[fd]
                            self.pending.append(output_record(part, rank, partial[fd], time.time()))
                    break
        status = max(self.status.values(), default=0)
        self.event("finish", {"status": status})
        self.flush()
        os.close(self.log_fd)
        return 0

    def on_signals(self, wake_r: int) -> None:
        try:
            signums = os.read(wake_r, 512)
        except BlockingIOError:
            return
        for signum in signums:
            if signum in (signal.SIGUSR1, signal.SIGTERM):
                self.terminate("cancel", "")

    def reap(self) -> None:
        for rank, proc in self.procs.items():
            if rank in self.status:
                continue
            try:
                pid, raw = os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                pid, raw = proc.pid, 0
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(raw)
                self.status[rank] = raw


def write_json(path: str, obj: object) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)
