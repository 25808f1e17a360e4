"""The dashboard's in-memory view of the jobs: rows, filters, sorting and counts (IO-free)."""

from __future__ import annotations

import bisect
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flux_restful_client import Event, JobInfo

__all__ = [
    "PENDING_STATES",
    "QUICK_FILTERS",
    "RUNNING_STATES",
    "Activity",
    "JobFilter",
    "JobStore",
    "compile_filter",
    "format_runtime",
    "merge_event",
]

PENDING_STATES = frozenset({"NEW", "DEPEND", "PRIORITY", "SCHED"})
"""States of a job waiting for resources."""
RUNNING_STATES = frozenset({"RUN", "CLEANUP"})
"""States of a job holding resources."""

QUICK_FILTERS: Mapping[str, Callable[[JobInfo], bool]] = {
    "all": lambda job: True,
    "pending": lambda job: job.state in PENDING_STATES,
    "running": lambda job: job.state in RUNNING_STATES,
    "done": lambda job: job.is_done,
    "failed": lambda job: job.is_done and job.result not in ("", "COMPLETED"),
}
"""The quick state filters, by name (keys 1 to 5 in the jobs view)."""

SORT_KEYS: Mapping[str, Callable[[JobInfo], Any]] = {
    "id": lambda job: job.id,
    "name": lambda job: job.name.lower(),
    "user": lambda job: job.user or "",
    "state": lambda job: job.state,
    "result": lambda job: job.result,
    "rc": lambda job: -(10**9) if job.returncode is None else job.returncode,
    "tasks": lambda job: _int(job.raw.get("ntasks")),
    "runtime": lambda job: job.runtime or 0.0,
    "submitted": lambda job: job.t_submit or 0.0,
}
"""How each column sorts."""


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class JobFilter:
    """What the jobs table shows: a text pattern, a quick state filter and an owner."""

    pattern: str = ""
    """Regex typed after ``/``; a leading ``!`` inverts it."""
    quick: str = "all"
    """Name of a quick filter (see ``QUICK_FILTERS``)."""
    user: str | None = None
    """Only this user's jobs ("mine"), or everyone's."""


def compile_filter(pattern: str) -> tuple[re.Pattern[str] | None, bool]:
    """Compile a ``/`` filter: a case-insensitive regex, inverted by a leading ``!``.

    Raises:
        re.error: The pattern is not a valid regex.
    """
    invert = pattern.startswith("!")
    text = pattern[1:] if invert else pattern
    if not text:
        return None, False
    return re.compile(text, re.IGNORECASE), invert


def _haystack(job: JobInfo) -> str:
    return f"{job.id} {job.name} {job.user or ''} {job.state} {job.result}"


def format_runtime(seconds: float | None) -> str:
    """Seconds as ``1:02:03`` / ``2:03`` / ``4.5s``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


_EVENT_FIELDS = ("name", "user", "result", "returncode", "runtime", "t_submit", "ntasks", "nnodes")


def merge_event(job: JobInfo | None, event: Event) -> JobInfo:
    """Apply one feed event to a job's row (the event may carry any job-info field)."""
    raw: dict[str, Any] = dict(job.raw) if job is not None else {"id": event.id}
    for key in _EVENT_FIELDS:
        if key in event.raw:
            raw[key] = event.raw[key]
    reason = event.raw.get("reason")
    if isinstance(reason, str):
        raw["pending_reason"] = reason
    elif event.state in ("RUN", "CLEANUP", "INACTIVE") and not str(
        raw.get("pending_reason") or ""
    ).startswith("can never run"):
        raw["pending_reason"] = ""
    context = event.raw.get("context")
    if event.event == "urgency" and isinstance(context, dict) and "urgency" in context:
        raw["urgency"] = context["urgency"]
    if event.state:
        raw["state"] = event.state
        if event.state == "RUN" and event.t is not None and not raw.get("t_run"):
            raw["t_run"] = event.t
        if event.state == "INACTIVE" and event.t is not None and not raw.get("t_inactive"):
            raw["t_inactive"] = event.t
    if job is None and event.event == "submit" and event.t is not None:
        raw.setdefault("t_submit", event.t)
    return JobInfo.from_json(raw)


@dataclass
class Activity:
    """Per-minute history for the nodes view's sparklines (bounded)."""

    minutes: int = 60
    """How many minutes are kept."""
    running: deque[int] = field(default_factory=deque)
    """Jobs running, sampled once per minute (the last entry is the current minute)."""
    completions: deque[int] = field(default_factory=deque)
    """Jobs that ended in each minute."""
    _minute: int | None = None

    def _roll(self, now: float, running: int) -> None:
        minute = int(now // 60)
        if self._minute is None:
            self._minute = minute
            self.running.append(running)
            self.completions.append(0)
        while self._minute < minute:
            self._minute += 1
            self.running.append(running)
            self.completions.append(0)
        while len(self.running) > self.minutes:
            self.running.popleft()
            self.completions.popleft()

    def sample(self, now: float, running: int) -> None:
        """Record how many jobs run now."""
        self._roll(now, running)
        self.running[-1] = max(self.running[-1], running)

    def completed(self, now: float, running: int, count: int = 1) -> None:
        """Record jobs that just ended."""
        self._roll(now, running)
        self.completions[-1] += count


class JobStore:
    """Every job the dashboard knows, kept filtered and sorted incrementally.

    The rows that pass the filter are held as a sorted list of ``(sort key, id)`` pairs: one
    job's change moves only that job (a bisect and a list insert), and only a change of filter
    or sort order sorts everything again. Counts by state are kept the same way.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.jobs: dict[int, JobInfo] = {}
        """Jobs by id."""
        self.clock = clock
        """Source of "now" (frozen in snapshot tests)."""
        self.filter = JobFilter()
        """The current filter."""
        self.sort_key = "id"
        """Column the rows are sorted by."""
        self.sort_reverse = True
        """Newest first by default."""
        self.activity = Activity()
        """Running/completed history."""
        self._regex: re.Pattern[str] | None = None
        self._invert = False
        self._order: list[tuple[Any, int]] = []
        self._keys: dict[int, tuple[Any, int]] = {}
        self._counts: Counter[str] = Counter()

    # -- content -----------------------------------------------------------------------------
    def replace_all(self, jobs: Iterable[JobInfo]) -> None:
        """Replace the content with a fresh listing."""
        self.jobs = {job.id: job for job in jobs}
        self._counts = Counter(job.state for job in self.jobs.values())
        self.resort()
        self.activity.sample(self.clock(), self.running_count())

    def upsert(self, job: JobInfo) -> tuple[JobInfo | None, JobInfo]:
        """Insert or update one job; return (before, after)."""
        before = self.jobs.get(job.id)
        self.jobs[job.id] = job
        if before is not None:
            self._counts[before.state] -= 1
            if not self._counts[before.state]:
                del self._counts[before.state]
        self._counts[job.state] += 1
        self._place(job)
        if job.is_done and before is not None and not before.is_done:
            self.activity.completed(self.clock(), self.running_count())
        return before, job

    def apply_event(self, event: Event) -> tuple[JobInfo | None, JobInfo]:
        """Apply a feed event; return (before, after)."""
        return self.upsert(merge_event(self.jobs.get(event.id), event))

    def remove_missing(self, ids: Iterable[int]) -> None:
        """Forget jobs not in ``ids``."""
        keep = set(ids)
        self.replace_all(v for k, v in self.jobs.items() if k in keep)

    # -- the ordered, filtered rows ------------------------------------------------------------
    def _sort_tuple(self, job: JobInfo) -> tuple[Any, int]:
        return (SORT_KEYS.get(self.sort_key, SORT_KEYS["id"])(job), job.id)

    def _unplace(self, job_id: int) -> None:
        old = self._keys.pop(job_id, None)
        if old is not None:
            index = bisect.bisect_left(self._order, old)
            if index < len(self._order) and self._order[index] == old:
                del self._order[index]

    def _place(self, job: JobInfo) -> None:
        self._unplace(job.id)
        if self.matches(job):
            key = self._sort_tuple(job)
            bisect.insort(self._order, key)
            self._keys[job.id] = key

    def resort(self) -> None:
        """Filter and sort every job again (after the filter or the sort order changed)."""
        self._keys = {
            job.id: self._sort_tuple(job) for job in self.jobs.values() if self.matches(job)
        }
        self._order = sorted(self._keys.values())

    def row_count(self) -> int:
        """Jobs that pass the filter."""
        return len(self._order)

    def row_id(self, index: int) -> int:
        """Id of the job shown at row ``index`` (in display order).

        Raises:
            IndexError: No such row.
        """
        if not 0 <= index < len(self._order):
            raise IndexError(index)
        return self._order[len(self._order) - 1 - index if self.sort_reverse else index][1]

    def row_index(self, job_id: int) -> int | None:
        """Row of ``job_id`` in display order, or ``None`` when it is filtered out."""
        key = self._keys.get(job_id)
        if key is None:
            return None
        index = bisect.bisect_left(self._order, key)
        return len(self._order) - 1 - index if self.sort_reverse else index

    def row_ids(self, start: int = 0, stop: int | None = None) -> list[int]:
        """Ids of rows ``start`` to ``stop`` in display order."""
        count = len(self._order)
        stop = count if stop is None else min(stop, count)
        return [self.row_id(i) for i in range(max(0, start), stop)]

    # -- derived -----------------------------------------------------------------------------
    def counts(self) -> Counter[str]:
        """Jobs per state."""
        return Counter(self._counts)

    def running_count(self) -> int:
        """Jobs holding resources."""
        return sum(self._counts.get(state, 0) for state in RUNNING_STATES)

    def set_filter(self, new: JobFilter) -> None:
        """Change the filter (and filter every job again).

        Raises:
            re.error: The pattern is not a valid regex (the old filter stays).
        """
        self._regex, self._invert = compile_filter(new.pattern)
        self.filter = new
        self.resort()

    def set_sort(self, key: str, reverse: bool) -> None:
        """Change the sort order (and sort every row again)."""
        self.sort_key = key if key in SORT_KEYS else "id"
        self.sort_reverse = reverse
        self.resort()

    def matches(self, job: JobInfo) -> bool:
        """Whether ``job`` passes the current filter."""
        if not QUICK_FILTERS.get(self.filter.quick, QUICK_FILTERS["all"])(job):
            return False
        if self.filter.user is not None and job.user != self.filter.user:
            return False
        if self._regex is None:
            return True
        return bool(self._regex.search(_haystack(job))) != self._invert

    def visible(self) -> list[JobInfo]:
        """Filtered and sorted rows."""
        return [self.jobs[job_id] for job_id in self.row_ids()]

    def runtime(self, job: JobInfo) -> float | None:
        """Runtime now: ticking while the job runs."""
        t_run = job.raw.get("t_run")
        if job.state in RUNNING_STATES and isinstance(t_run, int | float) and t_run > 0:
            return max(0.0, self.clock() - float(t_run))
        return job.runtime

    def with_runtime(self, job: JobInfo) -> JobInfo:
        """``job`` with its runtime brought up to now."""
        return replace(job, runtime=self.runtime(job))
