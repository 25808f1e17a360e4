"""The webhook service: matches job events to subscriptions, and runs the deliveries.

Two ways in, one way out. With the local executor, :meth:`WebhookService.write_outbox` runs
inside the executor's transaction that records a batch of job events and adds their deliveries
to the same database (at least once, crash-safe). With the flux executor, events come from
Flux's job-manager journal through the executor's feed: they are written with a cursor, in one
transaction per batch, so a restarted server resumes after the last batch it recorded (and a
batch seen twice adds nothing: deliveries are unique per subscription and event).

Out: one process (the holder of ``webhooks.lock``) runs the dispatcher (``dispatch``). The
parts: ``registry`` (the subscriptions in memory), ``outbox`` (the deliveries a batch of events
makes), ``dispatch`` (sending), ``store`` and ``records`` (SQLite and what it holds).
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..database import transaction
from ..domain.errors import JobNotFound, SubscriberLagged
from ..domain.events import JobEvent
from ..executors.local import LocalExecutor
from .config import WebhookSettings
from .delivery import Sender, Transport
from .dispatch import Dispatcher, cancel_all
from .outbox import RecordFn, Row, flux_record, rows_for
from .records import Delivery, Hook
from .registry import Subscriptions
from .store import HOOKS_VERSION, WebhookStore, insert_deliveries, set_meta

if TYPE_CHECKING:
    from ..auth import Principal
    from ..executors.base import Executor

__all__ = ["WebhookService"]

log = logging.getLogger("flux_restful.webhooks")

FLUX_CURSOR = "flux_feed_cursor"
"""``webhook_meta`` key: the last flux feed position whose deliveries are recorded."""


class WebhookService:
    """Subscriptions in memory (for matching), deliveries on disk, a pool of senders."""

    def __init__(
        self,
        settings: WebhookSettings,
        db_path: Path,
        transport: Transport | None = None,
    ) -> None:
        self.settings = settings
        self.db_path = db_path
        self.store: WebhookStore | None = None
        self.subscriptions = Subscriptions()
        self.hooks: dict[str, Hook] = self.subscriptions.hooks
        """Every subscription by id (what matching reads; the store is the truth)."""
        self.counts: dict[str, int] = {"delivered": 0, "retried": 0, "failed": 0, "queued": 0}
        """Attempt outcomes since start (``/metrics``)."""
        self.dispatcher = Dispatcher(
            settings, transport, self.subscriptions, self.counts, self.save
        )
        self._lock_fd = -1
        self._leader: asyncio.Task[None] | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def sender(self) -> Sender | None:
        """The HTTP client deliveries go out on (once this process sends)."""
        return self.dispatcher.sender

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self, executor: Executor) -> None:
        """Open the tables, load the subscriptions, and hook into the local executor's writes.

        Called before the executor starts, so the events it recovers make deliveries too.
        """
        self.db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = self.dispatcher.store = WebhookStore(self.db_path)
        self.refresh()
        if self.settings.enabled and isinstance(executor, LocalExecutor):
            executor.event_hook = self.write_outbox

    async def start(self, executor: Executor) -> None:
        """Start the dispatcher, and with the flux executor the feed consumer.

        With no ``FLUX_WEBHOOK_ALLOW`` nothing starts: subscriptions can be listed and deleted,
        and their pending deliveries wait for an operator to allow targets again.
        """
        self._loop = asyncio.get_running_loop()
        self.dispatcher.prepare(self._loop)
        if not self.settings.enabled:
            return
        self._leader = self._loop.create_task(self._lead(executor))

    async def _lead(self, executor: Executor) -> None:
        """Send (and with Flux, record) deliveries in the one process holding the lock.

        With ``--workers N`` (flux executor) every worker serves the API, but only one sends:
        the others wait for the lock, so a worker that dies hands over to another.
        """
        while not self._take_lock():
            await asyncio.sleep(2.0)
        assert self._loop is not None
        if not isinstance(executor, LocalExecutor):
            self._feeder = self._loop.create_task(self._consume_feed(executor))
        await self.dispatcher.run()

    def _take_lock(self) -> bool:
        if self._lock_fd < 0:
            path = self.db_path.parent / "webhooks.lock"
            self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    async def stop(self) -> None:
        """Stop sending (deliveries in flight are tried again at the next start)."""
        await cancel_all([self._feeder, self._leader])
        await self.dispatcher.stop()
        if self.store is not None:
            self.store.close()
            self.store = self.dispatcher.store = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def wake(self) -> None:
        """Make the dispatcher look for due deliveries now."""
        self.dispatcher.wake()

    # -- subscriptions --------------------------------------------------------------------------
    def save(self, hook: Hook) -> None:
        """Store a new or changed subscription and use it from the next event on."""
        assert self.store is not None
        self.subscriptions.version = self.store.save(hook)
        self.subscriptions.put(hook)
        self.wake()

    def delete(self, hook_id: str) -> None:
        assert self.store is not None
        self.subscriptions.version = self.store.delete(hook_id)
        self.subscriptions.remove(hook_id)

    def refresh(self) -> None:
        """Reload the subscriptions if another process (``--workers N``) changed them."""
        if self.store is None:
            return
        version = self.store.meta(HOOKS_VERSION)
        if version != self.subscriptions.version:
            self.subscriptions.load(version, self.store.hooks())

    def job_deliveries(self, principal: Principal, job_id: int) -> list[Delivery]:
        """A job's deliveries to the subscriptions ``principal`` may see, oldest first."""
        if self.store is None:
            return []
        found = [
            d
            for d in self.store.deliveries(job_id=job_id, limit=200)
            if d.hook_id in self.hooks
            and (principal.sees_all or self.hooks[d.hook_id].owner == principal.name)
        ]
        return found[::-1]

    # -- in: events -> outbox -------------------------------------------------------------------
    def rows_for(self, events: list[JobEvent], record: RecordFn) -> list[Row]:
        """The deliveries a batch of one job's events makes."""
        if not events:
            return []
        return rows_for(self.subscriptions.candidates(events[0].job_id), events, record)

    def write_outbox(
        self, db: sqlite3.Connection, events: list[JobEvent], record: RecordFn
    ) -> None:
        """The local executor's hook: add a batch's deliveries inside its open transaction."""
        try:
            rows = self.rows_for(events, record)
            if rows:
                self.counts["queued"] += insert_deliveries(db, rows, time.time())
                if self._loop is not None:
                    self._loop.call_soon(self.wake)  # after the executor commits
        except sqlite3.Error:
            # Never lose the job's own event over a webhook: log it and let the event commit.
            log.exception("webhooks: could not record deliveries for job %d", events[0].job_id)

    async def add_for_job(self, executor: Executor, hook: Hook, job_id: int) -> None:
        """Save a per-job subscription, with the deliveries of the job's events so far.

        It matches new events at once, but is held (nothing sent) until the earlier events are
        added, so its receiver still gets them in order.
        """
        with self.dispatcher.hold(hook.id):
            self.save(hook)
            try:
                events = await executor.eventlog(job_id)
                record = await executor.info(job_id)
            except JobNotFound:
                return
            rows = [row for row in self.rows_for(events, lambda: record) if row[0] == hook.id]
            if rows and self.store is not None:
                self.counts["queued"] += insert_deliveries(self.store.db, rows, time.time())

    async def _consume_feed(self, executor: Executor) -> None:
        """Flux: turn the executor's feed into deliveries, saving the cursor with each batch."""
        assert self.store is not None
        saved = self.store.meta(FLUX_CURSOR)
        # First start with webhooks: from now on (the feed's positions are microsecond times).
        cursor = int(saved) if saved is not None else int(time.time() * 1_000_000)
        while True:
            try:
                async for batch in executor.feed(since=cursor):
                    cursor = self._record_feed_batch(executor, batch, cursor)
                return
            except SubscriberLagged as exc:
                log.warning("webhooks: the feed cut us off; resuming after %d", exc.resume_seq)

    def _record_feed_batch(self, executor: Executor, batch: list[JobEvent], cursor: int) -> int:
        store = self.store
        if store is None:
            return cursor
        self.refresh()  # another worker may have made a subscription
        by_job: dict[int, list[JobEvent]] = {}
        for event in batch:
            by_job.setdefault(event.job_id, []).append(event)
        rows: list[Row] = []
        for job_id, events in by_job.items():
            rows += self.rows_for(events, functools.partial(flux_record, executor, job_id))
        last = max(cursor, batch[-1].feed_seq) if batch else cursor
        with transaction(store.db):
            if rows:
                self.counts["queued"] += insert_deliveries(store.db, rows, time.time())
            set_meta(store.db, FLUX_CURSOR, str(last))
        if rows:
            self.wake()
        return last
