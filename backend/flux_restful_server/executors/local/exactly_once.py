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


START = b' @ - {"name":"start"'
"""How a ``start`` record begins (``joblog.event_record``)."""
CHUNK = 1 << 16


def has_start(log_path: str) -> bool:
    """Whether the job's log has a ``start`` record (so its tasks were, or are being, run)."""
    try:
        fd = os.open(log_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        return start_recorded(fd)
    finally:
        os.close(fd)


def start_recorded(fd: int) -> bool:
    """:func:`has_start` for a log open for reading as ``fd``, read a chunk at a time.

    The record comes before any output, so the search ends early in a long log, and costs one
    chunk of memory however long the log is.
    """
    offset = 0
    tail = b""
    while True:
        chunk = os.pread(fd, CHUNK, offset)
        if not chunk:
            return False
        if START in tail + chunk:
            return True
        offset += len(chunk)
        tail = chunk[-len(START) :]
