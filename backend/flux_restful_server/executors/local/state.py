"""The state the local executor's parts share, and the steps they take from each other.

``LocalExecutor`` (``executor.py``) is assembled from parts, one idea each, as Sanic's app is
assembled from mixins: ``ingest`` (the log to the store and the hub), ``recording`` (new jobs),
``dependents``, ``running``, ``recovery``, ``reasons`` (pending reasons) and ``reading``
(histories). Every part is a subclass of :class:`ExecutorState`, which declares the state they
share and, as abstract methods, the steps one part takes from another, so each part reads and
type-checks alone.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...domain.request import Dependency, JobRequest
from ...settings import Settings
from ..hub import Hub
from .joblog import Cursor
from .link import SupervisorLink
from .pacing import Pacer
from .reducer import Progress
from .resources import Cluster
from .scheduler import JobQueue
from .store import EventHook, Store

log = logging.getLogger("flux_restful.local")


@dataclass(slots=True, kw_only=True)
class ActiveJob(Progress):
    """What the server keeps in memory for a job that is not inactive."""

    cursor: Cursor
    """How far the job's log has been ingested."""
    user: str | None
    """The API user who owns the job."""
    request: JobRequest | None = None
    """What the job asks for, while it is known without reading the store."""
    searchable: dict[str, Any] = field(default_factory=dict)
    """The job's fields that ``search_text`` reads, kept current as events are applied."""
    spec: dict[str, Any] | None = None
    """What the supervisor needs to run the job (argv, env, cwd, owner), while it waits."""
    revision: int = 0
    """The executor's revision when the job's record last changed (its ``row_revisions`` entry)."""
    waiting: list[Dependency] = field(default_factory=list)
    """Dependencies not met yet, while the job is in ``DEPEND``."""
    announced: str = ""
    """The kind of wait last announced in the feed (``reasons.wait_kind``), if any."""


class ExecutorState(ABC):
    """The state every part of the local executor reads and writes (set in ``__init__``)."""

    settings: Settings
    """Server settings."""
    hub: Hub
    """Where log entries and feed events are published to subscribers."""
    jobs_dir: Path
    """Where the jobs' log files are."""
    _log_prefix: str
    """``jobs_dir`` and a separator, for :meth:`_log_path`."""
    cluster: Cluster
    """The emulated nodes and what is free on them."""
    active: dict[int, ActiveJob]
    """Every job that is not inactive, by id."""
    store: Store | None
    """The job store, while the executor runs."""
    link: SupervisorLink
    """The connection to the job supervisor."""
    pacer: Pacer
    """Paces followed jobs' ingestion to their followers."""
    queue: JobQueue
    """Jobs waiting for resources."""
    event_hook: EventHook | None
    """Run inside the transaction that records each batch of a job's events (webhooks'
    outbox); set before ``start``."""
    _revision: int
    """Bumped by every applied change of a job's record (``revision()``)."""
    _dependents: dict[int, set[int]]
    """Job id -> the jobs in ``DEPEND`` with a dependency on it."""
    _stopping: bool
    """Set when the executor stops: nothing more is scheduled."""

    def _log_path(self, job_id: int) -> str:
        return f"{self._log_prefix}{job_id}.log"  # a format, not pathlib: a few calls per job

    # -- steps one part takes from another ---------------------------------------------------
    @abstractmethod
    def _append(self, job_id: int, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Append server-decided events to a job's log and ingest them at once (``ingest``)."""

    @abstractmethod
    def _ingest(self, job_id: int, *, whole: bool = False) -> None:
        """Apply a job's new log records to the store and the hub (``ingest``)."""

    @abstractmethod
    def _finish_cleanup(self, job_id: int) -> None:
        """Write the events that end a job that never ran (``ingest``)."""

    @abstractmethod
    def _schedule(self) -> None:
        """Start the queued jobs that fit now (``running``)."""

    @abstractmethod
    def _request(self, job_id: int) -> JobRequest:
        """What an active job asks for (``running``)."""

    @abstractmethod
    def _launch(self, job_id: int, job: ActiveJob) -> None:
        """Ask the supervisor to run an allocated job (``running``)."""

    @abstractmethod
    def _queue_resolve(self, target: int) -> None:
        """Judge again the dependencies on ``target``, which started or ended (``dependents``)."""

    @abstractmethod
    def _judge_dependencies(
        self, job_id: int, dependencies: tuple[Dependency, ...]
    ) -> list[Dependency]:
        """The dependencies of a new job not met yet (``dependents``)."""

    @abstractmethod
    def _recover_running(self, job_id: int, job: ActiveJob) -> None:
        """Re-attach, relaunch or fail a job that was running (``recovery``)."""

    @abstractmethod
    def _announce_waits(self, seen: set[int]) -> set[int]:
        """Tell the feed why jobs wait for resources (``reasons``)."""

    @abstractmethod
    def _clean_up_after(self, job_id: int, job: ActiveJob) -> None:
        """End a job left in ``CLEANUP`` whose ending was never written (``recovery``)."""
