"""Noticing that the dashboard's terminal is gone (a closed ssh session, a killed tmux pane).

A terminal that hangs up sends SIGHUP, which ends the process, but only when it reaches it: a
parent that takes it for itself (``just`` does, as does a shell that ignores HUP) leaves the
dashboard on a dead terminal, where Textual's input thread reads end-of-file over and over, half
a core for ever. A terminal that has hung up answers every request for its settings with EIO,
so the app asks once a second and, once it does, ends the process as SIGHUP would have
(Textual's own shutdown writes to the terminal to restore it, and blocks on a dead one).
"""

from __future__ import annotations

import os
import sys

try:
    import termios
except ImportError:  # Windows: no terminal hangs up there in this way
    termios = None  # type: ignore[assignment]

__all__ = ["HUNG_UP", "hung_up", "terminal_fd"]

HUNG_UP = 129
"""The dashboard's exit status when its terminal went away: 128 + SIGHUP, as a shell reports
a process that SIGHUP ended."""


def terminal_fd() -> int | None:
    """The descriptor of the terminal the dashboard reads keys from; ``None`` if not a terminal."""
    stream = sys.__stdin__
    if stream is None or termios is None:
        return None
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return None
    return fd if os.isatty(fd) else None


def hung_up(fd: int) -> bool:
    """Whether the terminal on ``fd`` has hung up (its settings cannot be read any more)."""
    assert termios is not None  # terminal_fd gave no descriptor without it
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError):  # termios.error is not an OSError
        return True
    return False
