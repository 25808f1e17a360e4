"""Starting one task of a job: its environment and the process, as the job's user if it has one.

Each task is ``vfork``+``exec`` through ``subprocess`` (argv only), in its own process group,
with stdout and stderr on pipes for the supervisor to read; multi-user jobs switch user, group
and supplementary groups. Standard library only: it runs inside the supervisor process.
"""

from __future__ import annotations

import errno
import functools
import os
import subprocess
from typing import Any


class TaskStartFailed(Exception):
    """A task could not be started; the job records ``note`` and the task exits with ``code``."""

    def __init__(self, note: str, code: int) -> None:
        super().__init__(note)
        self.note = note
        """What failed, as Flux's shell words it (``task 0 (node): start failed: ...``)."""
        self.code = code
        """The task's exit code: 126 (cannot run) or 127 (not found)."""


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


def start_task(spec: dict[str, Any], rank: int) -> subprocess.Popen[bytes]:
    """Start task ``rank`` of the job ``spec`` describes.

    Raises:
        TaskStartFailed: The program or the directory could not be used, with the reason.
    """
    uid = spec.get("uid")
    cwd = spec["cwd"]
    try:
        return subprocess.Popen(
            spec["argv"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # subprocess changes directory before it switches user: for another user's job,
            # change it afterwards, so the directory is checked with that user's rights.
            cwd=cwd if uid is None else None,
            preexec_fn=None if uid is None else functools.partial(os.chdir, cwd),
            env=task_environment(spec, rank),
            process_group=0,
            user=uid,
            group=spec.get("gid") if uid is not None else None,
            extra_groups=spec.get("groups") if uid is not None else None,
            close_fds=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            code = 126 if exc.errno == errno.EACCES else 127
        else:
            reason = f"cannot change to directory {cwd!r} as uid {uid}"
            code = 126
        where = spec["node_names"][spec["ranks_nodes"][rank]]
        note = f"task {rank} ({where}): start failed: {spec['argv'][0]}: {reason}"
        raise TaskStartFailed(note, code) from None
