"""The two checks that keep a job from running twice: its log is locked, or has ``start``.

The supervisor holds an exclusive ``flock`` on a job's log for as long as it runs the job and
writes ``start`` before any task exists; the server asks both questions before it requests a run
or decides a job was lost, and the supervisor asks again before it runs one. Standard library
only: it runs inside the supervisor process too.
"""

from __future__ import annotations

import fcntl
import os


def log_locked(log_path: str) -> bool:
    """Whether a supervisor is running the job: it locks the job's log for the job's whole life."""
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


def has_start(log_path: str) -> bool:
    """Whether the job's log has a ``start`` record (so its tasks were, or are being, run)."""
    try:
        with open(log_path, "rb") as f:
            return b' @ - {"name":"start"' in f.read()
    except FileNotFoundError:
        return False
