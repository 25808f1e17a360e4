"""Which jobs a listing, count or search returns, and which window of them."""

from __future__ import annotations

from dataclasses import dataclass

from .states import JobResult, JobState


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs a listing or search returns."""

    owner: str | None = None
    """Only jobs whose API user is this; ``None`` for everyone's (superusers, auth off)."""
    states: frozenset[JobState] | None = None
    """Only jobs in one of these states."""
    results: frozenset[JobResult] | None = None
    """Only inactive jobs with one of these results."""
    user: str | None = None
    """Only jobs submitted by this API user (a filter the caller asked for)."""
    name: str | None = None
    """Only jobs whose name contains this (case-insensitive)."""
    since: float | None = None
    """Only jobs submitted at or after this time."""
    text: str | None = None
    """Case-insensitive substring over the job's displayed fields (``/v1/jobs/search``)."""
    regex: bool = False
    """Treat ``text`` as a regular expression."""
    ids: frozenset[int] | None = None
    """Only these job ids."""


@dataclass(frozen=True, slots=True)
class Page:
    """A window of a newest-first listing."""

    limit: int | None = None
    """At most this many jobs; ``None`` for all."""
    offset: int = 0
    """Skip this many matching jobs first."""
    after: int | None = None
    """Cursor: only jobs older than this job id (ids grow with submit time)."""
