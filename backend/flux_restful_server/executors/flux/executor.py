"""The flux executor: drives a real Flux instance through its Python bindings.

All Flux calls run in one reactor thread with its own handle (``_reactor``, reached through
``_connect``); the event loop only awaits their results, so concurrent HTTP submits are
pipelined in Flux. This class wires the parts, one idea each, and implements ``Executor``:

- ``_submit``: requests to jobspecs and ``submit_async``, a batch in flight at once;
- ``_control``: cancel (``flux.job.cancel``), urgency, signals;
- ``_records``: info and listings from job-list, a page selected on the index first;
- ``_journal``: the job-manager journal, into the index (``_index``) and the event feed;
- ``_logs``: a job's log, its eventlog merged with ``guest.output`` (``_joblog``).

Nodes come from ``flux.resource``. The ``flux`` package is imported lazily (``_connect``), so
the server runs without it when the local executor is chosen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ...domain.errors import SubmitRefused
from ...domain.events import JobEvent, LogEntry, OutputLine
from ...domain.owner import Owner
from ...domain.query import JobFilter, Page
from ...domain.record import JobRecord
from ...domain.request import JobRequest, SubmitKey, Submitted
from ...domain.resources import NodeInfo, ResourceLimits
from ...settings import Settings
from ..base import submit_one
from ..hub import Hub
from ._connect import Connection, FluxUnavailable, reason, where
from ._control import Control
from ._index import JobIndex
from ._journal import Journal
from ._logs import JobLogs
from ._parse import node_info
from ._records import Records
from ._submit import Submitter

__all__ = ["FluxExecutor"]

_log = logging.getLogger("flux_restful.flux")

PROBE_TIMEOUT = 2.0
"""Seconds the readiness probe waits for the broker."""


class FluxExecutor:
    """Runs jobs in a Flux instance; see the module docstring.

    Args:
        settings: Server settings (shell options, environment passthrough).
        hub: Where feed events are published for live subscribers.
        uri: Instance to drive; ``None`` uses ``FLUX_URI`` or the enclosing instance.
    """

    name = "flux"

    def __init__(self, settings: Settings, hub: Hub | None = None, uri: str | None = None) -> None:
        self.settings = settings
        self.hub = hub or Hub()
        self.uri = uri
        self.index = JobIndex()
        self._conn = Connection(uri)
        self._submitter = Submitter(self._conn, settings, self.index)
        self._records = Records(self._conn, self.index, self.nodes)
        self._control = Control(self._conn, self._records.info)
        self._journal = Journal(self._conn, self.index, self.hub)
        self._logs = JobLogs(self._conn, self._records.info)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, learn the resources, and replay the journal into the index and feed.

        Raises:
            FluxUnavailable: No bindings, or no instance answers (with what to do).
        """
        reactor = await self._conn.open()
        try:
            await asyncio.wait_for(self.nodes(), 30)
            config = await asyncio.wait_for(
                reactor.request(lambda h: h.rpc("config.get"), lambda f: f.get()), 30
            )
            queues = config.get("queues") if isinstance(config, dict) else None
            self._submitter.queues = tuple(sorted(queues)) if isinstance(queues, dict) else ()
            await self._journal.start(120)
        except (OSError, TimeoutError) as exc:
            await self._conn.close()
            raise FluxUnavailable(
                f"the Flux instance at {where()} does not answer: {exc}"
            ) from None
        limits = self._submitter.limits
        _log.info("flux executor: %d jobs known, limits %s", len(self.index.jobs), limits)

    async def stop(self) -> None:
        self._conn.stopping = True
        if self._conn.reactor is None:
            return
        self._journal.stop()
        self._logs.close_followers()
        self.hub.close()
        await self._conn.close()

    # -- the Executor interface -----------------------------------------------------------------
    def readiness(self) -> str | None:
        return "the server is shutting down" if self._conn.stopping else None

    async def probe(self) -> str | None:
        unready = self.readiness()
        reactor = self._conn.reactor
        if unready is not None or reactor is None:
            return unready or "the flux executor is not running"
        try:
            await asyncio.wait_for(
                reactor.request(lambda h: h.rpc("job-list.job-stats"), lambda f: f.get()),
                PROBE_TIMEOUT,
            )
        except TimeoutError:
            return f"the Flux instance at {where()} did not answer within {PROBE_TIMEOUT:g} s"
        except OSError as exc:
            return f"the Flux instance at {where()} does not answer: {reason(exc)}"
        return None

    def limits(self) -> ResourceLimits:
        return self._submitter.limits

    def queues(self) -> tuple[str, ...]:
        return self._submitter.queues or ("default",)

    async def nodes(self) -> list[NodeInfo]:
        flux = self._conn.flux
        nodes: list[NodeInfo] = await self._conn.request(
            lambda h: flux.resource.list.resource_list(h), lambda f: node_info(f.get())
        )
        if nodes:
            self._submitter.limits = ResourceLimits(
                len(nodes), max(n.cores for n in nodes), max(n.gpus for n in nodes)
            )
        return nodes

    # Submits (``_submit``).
    async def dry_run(self, request: JobRequest, owner: Owner) -> dict[str, Any] | None:
        return await self._submitter.dry_run(request, owner)

    async def submit(self, request: JobRequest, owner: Owner) -> int:
        return await submit_one(self, request, owner)

    async def submit_many(
        self,
        requests: Sequence[tuple[int, JobRequest]],
        owner: Owner,
        key: SubmitKey | None = None,
    ) -> list[int | SubmitRefused]:
        return await self._submitter.submit_many(requests, owner, key)

    async def submitted(self, user: str | None, key: str) -> Submitted | None:
        return self.index.submitted(user, key)

    # Control (``_control``).
    async def cancel(self, job_id: int) -> None:
        await self._control.cancel(job_id)

    async def set_urgency(self, job_id: int, urgency: int) -> int:
        return await self._control.set_urgency(job_id, urgency)

    async def signal(self, job_id: int, signum: int) -> None:
        await self._control.signal(job_id, signum)

    # Info and listings (``_records``).
    async def info(self, job_id: int) -> JobRecord:
        return await self._records.info(job_id)

    async def query(
        self, filters: JobFilter, page: Page, *, summary: bool = False
    ) -> list[JobRecord]:
        return await self._records.query(filters, page, summary=summary)

    async def query_ids(self, filters: JobFilter, page: Page) -> list[int]:
        return await self._records.query_ids(filters, page)

    def revision(self) -> int | None:
        # Jobs change inside Flux between journal events we may not have read yet.
        return None

    def row_revisions(self, ids: Sequence[int], *, summary: bool = False) -> list[int | None]:
        return self._records.row_revisions(ids, summary=summary)

    async def count(self, filters: JobFilter) -> int:
        return await self._records.count(filters)

    # Logs and the feed (``_logs``, ``_journal``).
    async def eventlog(self, job_id: int) -> list[JobEvent]:
        return await self._logs.eventlog(job_id)

    async def output(self, job_id: int) -> list[OutputLine]:
        return await self._logs.output(job_id)

    def output_batches(self, job_id: int) -> AsyncIterator[list[OutputLine]]:
        return self._logs.output_batches(job_id)

    def log(self, job_id: int, since: int = 0) -> AsyncIterator[list[LogEntry]]:
        return self._logs.log(job_id, since)

    def feed(self, since: int = 0) -> AsyncIterator[list[JobEvent]]:
        return self._journal.feed(since)
