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


@dataclass(frozen=True, slots=True)
class OutputRun:
    """Consecutive complete lines of one task's stream, read at one moment: ``count`` entries.

    The local executor hands a followed job's output to the hub this way, one object per read
    of the task's pipe rather than one per line, so that a follower that asks for batches can
    have them encoded in bulk (``streams.wire.encode_run``); any other reader takes
    :meth:`lines`, the same entries one by one.
    """

    job_id: int
    """The job that wrote them."""
    seq: int
    """The first line's position in the job's log; the others follow it without a gap."""
    count: int
    """How many lines (entries) the run holds: at least 2."""
    timestamp: float
    """When the lines were read, seconds since the epoch (the same for every line)."""
    stream: str
    """``"stdout"`` or ``"stderr"``."""
    rank: int
    """Task rank that wrote them."""
    data: bytes
    """The lines' raw bytes, each ending with its newline."""

    @property
    def last(self) -> int:
        """The last line's seq."""
        return self.seq + self.count - 1

    def lines(self) -> list[OutputLine]:
        """The run's entries, one :class:`OutputLine` per line."""
        job, t, stream, rank = self.job_id, self.timestamp, self.stream, self.rank
        return [
            OutputLine(job, seq, t, stream, rank, line + b"\n")
            for seq, line in enumerate(self.data[:-1].split(b"\n"), self.seq)
        ]

    def after(self, seq: int) -> OutputRun | OutputLine | None:
        """The part of the run with seqs above ``seq`` (``None`` when nothing is)."""
        skip = seq - self.seq + 1
        if skip <= 0:
            return self
        if skip >= self.count:
            return None
        data = self.data.split(b"\n", skip)[-1]
        if skip == self.count - 1:
            return OutputLine(self.job_id, self.last, self.timestamp, self.stream, self.rank, data)
        return OutputRun(
            self.job_id, seq + 1, self.count - skip, self.timestamp, self.stream, self.rank, data
        )


StreamEntry = LogEntry | OutputRun
"""What a job's stream carries: log entries, and runs of output lines (each a run of entries)."""


def entry_count(entry: StreamEntry) -> int:
    """How many log entries ``entry`` stands for."""
    return entry.count if isinstance(entry, OutputRun) else 1


def last_seq(entry: StreamEntry) -> int:
    """The seq of the last log entry ``entry`` stands for."""
    return entry.last if isinstance(entry, OutputRun) else entry.seq


def entries_after(entries: list[StreamEntry], seq: int) -> list[StreamEntry]:
    """The part of ``entries`` with seqs above ``seq`` (runs cut where needed)."""
    out: list[StreamEntry] = []
    for entry in entries:
        if isinstance(entry, OutputRun):
            rest = entry.after(seq)
            if rest is not None:
                out.append(rest)
        elif entry.seq > seq:
            out.append(entry)
    return out
