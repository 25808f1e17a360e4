"""A job's log: eventlog events and output lines, which share one sequence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .states import JobState


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One eventlog event of one job (``submit``, ``alloc``, ``start``, ``finish``, ...)."""

    job_id: int
    """The job the event belongs to."""
    seq: int
    """Position of this entry in the job's log, from 1 (events and output share one sequence)."""
    name: str
    """Flux eventlog event name."""
    timestamp: float
    """Seconds since the epoch."""
    context: Mapping[str, Any]
    """Event context as in Flux (for example ``{"status": 0}`` for ``finish``)."""
    feed_seq: int = 0
    """Position in the server-wide event feed (``/v1/events``); 0 when not yet assigned."""
    user: str | None = None
    """The API user who owns the job (for filtering the feed by who may see it)."""
    state: JobState | None = None
    """The job's state after this event."""


@dataclass(frozen=True, slots=True)
class OutputLine:
    """One line (or the final partial line) of a task's stdout or stderr."""

    job_id: int
    """The job that wrote it."""
    seq: int
    """Position of this entry in the job's log, from 1."""
    timestamp: float
    """When the line was read, seconds since the epoch."""
    stream: str
    """``"stdout"`` or ``"stderr"``."""
    rank: int
    """Task rank that wrote it."""
    data: bytes
    """The raw bytes, including the trailing newline when there was one."""


LogEntry = JobEvent | OutputLine
"""An entry of a job's log, as streamed by ``/v1/jobs/{id}/stream``."""
