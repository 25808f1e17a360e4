"""Keep the server's secrets out of reach of the jobs it runs (standard library only).

Jobs that run as the server's own account can read that account's ``/proc/<pid>/environ`` and,
with ptrace allowed, its memory. Two measures narrow that down (docs/auth.md says what remains):

* :func:`scrub_environment` removes the secret variables from the process environment once the
  settings have been read, *including* the bytes the kernel shows in ``/proc/<pid>/environ``
  (which is the start-up environment block, not ``os.environ``).
* :func:`forbid_tracing` marks the process not dumpable: its ``/proc/<pid>`` files then belong
  to root and other processes of the same uid can neither read them nor attach a debugger.

This module is imported by the job supervisor too, so it must stay light.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

SECRET_VARIABLES = ("FLUX_TOKEN", "FLUX_SECRET_KEY", "FLUX_TOKEN_SIGNING_KEY")
"""Variables that hold secrets; removed from the server's environment after start-up."""

_PR_SET_DUMPABLE = 4


def scrub_environment(names: Iterable[str] = SECRET_VARIABLES) -> list[str]:
    """Remove ``names`` from the environment and blank them in ``/proc/self/environ``.

    Returns the names that were present. On systems without ``/proc`` only ``os.environ`` (and
    so every child started later) is cleaned.
    """
    wanted = {name.encode() for name in names}
    present = [name.decode() for name in wanted if name.decode() in os.environ]
    for name in wanted:
        os.environ.pop(name.decode(), None)  # unsetenv: the C environment drops its pointer too
    if present:
        _blank_startup_environment(wanted)
    return sorted(present)


def _blank_startup_environment(wanted: set[bytes]) -> None:
    """Overwrite ``NAME=value`` entries of the start-up environment block with NUL bytes."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        # Fields after "(comm)": the 3rd field of the file is the first here; env_start and
        # env_end are fields 50 and 51 (proc(5)).
        fields = stat[stat.rindex(b")") + 2 :].split()
        start, end = int(fields[47]), int(fields[48])
        with open("/proc/self/environ", "rb") as f:
            block = f.read()
    except (OSError, ValueError, IndexError):
        return
    if not start or len(block) != end - start:
        return
    try:
        mem = os.open("/proc/self/mem", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return
    try:
        offset = 0
        for entry in block.split(b"\0"):
            if entry.partition(b"=")[0] in wanted:
                # /proc/self/mem fails with EIO instead of crashing on a bad address.
                os.pwrite(mem, b"\0" * len(entry), start + offset)
            offset += len(entry) + 1
    except OSError:
        pass
    finally:
        os.close(mem)


def forbid_tracing() -> bool:
    """Make this process non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``); return whether it worked.

    Other processes of the same uid can then no longer read its ``/proc/<pid>/environ`` or
    ``mem``, nor ptrace it. Root still can. Children get the normal setting back when they exec.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library is already loaded
        return int(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
