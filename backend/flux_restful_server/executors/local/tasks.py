"""Starting one task of a job: its environment and the process, as the job's user if it has one.

Each task runs in its own process group, stdin on ``/dev/null`` and stdout and stderr on the
pipes the supervisor reads, with every signal at its default disposition: an ignored signal
survives ``exec``, and the supervisor ignores ``SIGPIPE``, ``SIGINT`` and ``SIGHUP`` (and whatever
the shell that started the server ignored, such as ``SIGINT`` for a background job); a job must
inherit none of that. A job of the
server's own account is started with ``posix_spawnp`` (``vfork``+``exec`` without ``subprocess``'s
bookkeeping: a third of the supervisor's time per job went there; and the C library's search of
``PATH``, which took a fifth of what was left when done here in Python), in the job's directory,
which the supervisor changes to first; a job of another user (multi-user mode) goes through
``subprocess``, the only standard way to switch user, group and supplementary groups, and changes
directory after switching, so that the directory is checked with that user's rights. Standard
library only: it runs inside the supervisor process.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Any


def ignored_signals() -> frozenset[int]:
    """The signals this process ignores: what a task would inherit through ``exec``."""
    fixed = (signal.SIGKILL, signal.SIGSTOP)
    return frozenset(
        s
        for s in signal.valid_signals()
        if s not in fixed and signal.getsignal(s) == signal.SIG_IGN
    )


class TaskStartFailed(Exception):
    """A task could not be started; the job records ``note`` and the task exits with ``code``."""

    def __init__(self, note: str, code: int) -> None:
        super().__init__(note)
        self.note = note
        """What failed, as Flux's shell words it (``task 0 (node): start failed: ...``)."""
        self.code = code
        """The task's exit code: 126 (cannot run) or 127 (not found)."""


@dataclass(slots=True)
class Task:
    """A started task: its process id, and the ``Popen`` that started it, if one did."""

    pid: int
    popen: subprocess.Popen[bytes] | None = None

    def reaped(self, raw_status: int) -> None:
        """Record that the supervisor collected the task's exit status ``raw_status``."""
        if self.popen is not None:  # so that subprocess never waits for it itself
            self.popen.returncode = os.waitstatus_to_exitcode(raw_status)


def task_environment(spec: dict[str, Any], rank: int) -> dict[str, str]:
    """The job's environment plus the task's Flux and PMI variables."""
    nodes: list[int] = spec["ranks_nodes"]
    node = nodes[rank]
    env = dict(spec["env"])
    env.update(
        FLUX_JOB_ID=spec["job_id_f58"],
        FLUX_JOB_SIZE=str(len(nodes)),
        FLUX_JOB_NNODES=str(len(set(nodes))),
        FLUX_TASK_RANK=str(rank),
        FLUX_TASK_LOCAL_ID=str(nodes[:rank].count(node)),
        PMI_RANK=str(rank),
        PMI_SIZE=str(len(nodes)),
    )
    return env


class Spawner:
    """Starts tasks; holds ``/dev/null`` open for their stdin.

    Args:
        reset: The signals to set back to their defaults in every task (the ignored ones).
    """

    def __init__(self, reset: frozenset[int]) -> None:
        self._reset = reset
        self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def start(self, spec: dict[str, Any], rank: int, stdout: int, stderr: int) -> Task:
        """Start task ``rank`` of the job ``spec`` describes, its output on these descriptors.

        Raises:
            TaskStartFailed: The program or the directory could not be used, with the reason.
        """
        env = task_environment(spec, rank)
        try:
            if spec.get("uid") is None:
                return self._spawn(spec, env, stdout, stderr)
            return self._popen(spec, env, stdout, stderr)
        except (OSError, subprocess.SubprocessError) as exc:
            if isinstance(exc, OSError):
                reason = exc.strerror or str(exc)
                code = 126 if exc.errno == errno.EACCES else 127
            else:
                reason = f"cannot change to directory {spec['cwd']!r} as uid {spec['uid']}"
                code = 126
            where = spec["node_names"][spec["ranks_nodes"][rank]]
            note = f"task {rank} ({where}): start failed: {spec['argv'][0]}: {reason}"
            raise TaskStartFailed(note, code) from None

    def _spawn(self, spec: dict[str, Any], env: dict[str, str], stdout: int, stderr: int) -> Task:
        # Every time, even to the same path: it may have been removed and made again since.
        os.chdir(spec["cwd"])
        argv = spec["argv"]
        # posix_spawnp searches the PATH of this process's environment, as execvp does (without
        # one, the C library's default): make it the job's. This process runs one job at a time.
        path = env.get("PATH")
        if path is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = path
        pid = os.posix_spawnp(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, self._devnull, 0),
                (os.POSIX_SPAWN_DUP2, stdout, 1),
                (os.POSIX_SPAWN_DUP2, stderr, 2),
            ],
            setpgroup=0,
            setsigdef=self._reset,
        )
        return Task(pid)

    def _popen(self, spec: dict[str, Any], env: dict[str, str], stdout: int, stderr: int) -> Task:
        proc = subprocess.Popen(
            spec["argv"],
            stdin=self._devnull,
            stdout=stdout,
            stderr=stderr,
            # subprocess changes directory before it switches user: change it afterwards, so
            # the directory is checked with that user's rights.
            preexec_fn=_Preexec(spec["cwd"], self._reset),
            env=env,
            process_group=0,
            user=spec["uid"],
            group=spec.get("gid"),
            extra_groups=spec.get("groups"),
            close_fds=True,
        )
        return Task(proc.pid, proc)


@dataclass(frozen=True, slots=True)
class _Preexec:
    """What a task of another user does before ``exec``: change directory, reset signals."""

    cwd: str
    reset: frozenset[int]

    def __call__(self) -> None:
        for signum in self.reset:
            signal.signal(signum, signal.SIG_DFL)
        os.chdir(self.cwd)
