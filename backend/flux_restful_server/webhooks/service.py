"""The webhook service: matches job events to subscriptions, and runs the deliveries.

Two ways in, one way out. With the local executor, :meth:`WebhookService.write_outbox` runs
inside the executor's transaction that records a batch of job events and adds their deliveries
to the same database (at least once, crash-safe). With the flux executor, events come from
Flux's job-manager journal through the executor's feed: they are written with a cursor, in one
transaction per batch, so a restarted server resumes after the last batch it recorded (and a
batch seen twice adds nothing: deliveries are unique per subscription and event).

Out: a dispatcher sends the oldest pending delivery of each subscription (one at a time per
subscription, so each receiver gets its events in order) on a bounded pool of workers, retries
with exponential backoff, and pauses a subscription that has failed for too long. Its memory
holds the subscriptions and the deliveries in flight, never the backlog, which stays on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..database import transaction
from ..domain.errors import JobNotFound, SubscriberLagged
from ..domain.events import JobEvent
from ..executors.local import LocalExecutor
from .config import WebhookSettings
from .delivery import DONE, RETRY, AttemptResult, Sender, Transport, backoff, classify
from .events import describe, event_key, matches, payload
from .signing import sign_headers
from .store import (
    DELIVERED,
    FAILED,
    HOOKS_VERSION,
    PENDING,
    Delivery,
    Hook,
    WebhookStore,
    insert_deliveries,
    set_meta,
    updated,
)

if TYPE_CHECKING:
    from ..auth import Principal
    from ..executors.base import Executor

__all__ = ["WebhookService"]

log = logging.getLogger("flux_restful.webhooks")

FLUX_CURSOR = "flux_feed_cursor"
"""``webhook_meta`` key: the last flux feed position whose deliveries are recorded."""

RecordFn = Callable[[], Mapping[str, Any] | None]

BUSY_LAG = 0.005
"""Seconds the event loop may lag behind a 50 ms heartbeat before deliveries make way."""
BUSY_GAP = 0.1
"""While the loop is busy, at most one delivery is started per this many seconds."""


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
        self._transport = transport
        self.store: WebhookStore | None = None
        self.sender: Sender | None = None
        self.hooks: dict[str, Hook] = {}
        """Every subscription by id (what matching reads; the store is the truth)."""
        self._general: dict[str, Hook] = {}
        self._by_job: dict[int, dict[str, Hook]] = {}
        self._inflight: set[str] = set()
        self._lock_fd = -1
        self._version: str | None = None
        self._held: set[str] = set()
        """Subscriptions whose earlier events are still being added (not sent meanwhile)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._lag = 0.0
        """How late the last heartbeat was (seconds): how busy the event loop is."""
        self._last_busy_start = 0.0
        self.counts: dict[str, int] = {"delivered": 0, "retried": 0, "failed": 0, "queued": 0}
        """Attempt outcomes since start (``/metrics``)."""

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self, executor: Executor) -> None:
        """Open the tables, load the subscriptions, and hook into the local executor's writes.

        Called before the executor starts, so the events it recovers make deliveries too.
        """
        self.db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = WebhookStore(self.db_path)
        self.refresh()
        if self.settings.enabled and isinstance(executor, LocalExecutor):
            executor.event_hook = self.write_outbox

    async def start(self, executor: Executor) -> None:
        """Start the dispatcher, and with the flux executor the feed consumer.

        With no ``FLUX_WEBHOOK_ALLOW`` nothing starts: subscriptions can be listed and deleted,
        and their pending deliveries wait for an operator to allow targets again.
        """
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if not self.settings.enabled:
            return
        self._dispatcher = self._loop.create_task(self._lead(executor))

    async def _lead(self, executor: Executor) -> None:
        """Send (and with Flux, record) deliveries in the one process holding the lock.

        With ``--workers N`` (flux executor) every worker serves the API, but only one sends:
        the others wait for the lock, so a worker that dies hands over to another.
        """
        while not self._take_lock():
            await asyncio.sleep(2.0)
        assert self._loop is not None
        self._heartbeat = self._loop.create_task(self._beat())
        if not isinstance(executor, LocalExecutor):
            self._feeder = self._loop.create_task(self._consume_feed(executor))
        await self._dispatch()

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
        tasks = [self._feeder, self._dispatcher, self._heartbeat, *self._tasks]
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks.clear()
        if self.sender is not None:
            await self.sender.aclose()
            self.sender = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def wake(self) -> None:
        """Make the dispatcher look for due deliveries now."""
        if self._wake is not None:
            self._wake.set()

    # -- subscriptions --------------------------------------------------------------------------
    def _index(self, hook: Hook) -> None:
        self._unindex(hook.id)
        self.hooks[hook.id] = hook
        if hook.job_ids is None:
            self._general[hook.id] = hook
        else:
            for job_id in hook.job_ids:
                self._by_job.setdefault(job_id, {})[hook.id] = hook

    def _unindex(self, hook_id: str) -> None:
        old = self.hooks.pop(hook_id, None)
        if old is None:
            return
        self._general.pop(hook_id, None)
        for job_id in old.job_ids or ():
            hooks = self._by_job.get(job_id)
            if hooks is not None:
                hooks.pop(hook_id, None)
                if not hooks:
                    del self._by_job[job_id]

    def save(self, hook: Hook) -> None:
        """Store a new or changed subscription and use it from the next event on."""
        assert self.store is not None
        self._version = self.store.save(hook)
        self._index(hook)
        self.wake()

    def delete(self, hook_id: str) -> None:
        assert self.store is not None
        self._version = self.store.delete(hook_id)
        self._unindex(hook_id)

    def refresh(self) -> None:
        """Reload the subscriptions if another process (``--workers N``) changed them."""
        if self.store is None:
            return
        version = self.store.meta(HOOKS_VERSION)
        if version == self._version:
            return
        self._version = version
        self.hooks.clear()
        self._general.clear()
        self._by_job.clear()
        for hook in self.store.hooks():
            self._index(hook)

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

    def candidates(self, job_id: int) -> list[Hook]:
        """Subscriptions that may want events of ``job_id`` (before the job filters)."""
        hooks = list(self._general.values())
        specific = self._by_job.get(job_id)
        if specific:
            hooks += specific.values()
        return hooks

    # -- in: events -> outbox -------------------------------------------------------------------
    def rows_for(
        self, events: list[JobEvent], record: RecordFn
    ) -> list[tuple[str, int, int, int, str, bytes]]:
        """The deliveries a batch of one job's events makes."""
        if not events:
            return []
        hooks = self.candidates(events[0].job_id)
        if not hooks:
            return []
        rows: list[tuple[str, int, int, int, str, bytes]] = []
        info: Mapping[str, Any] | None = None
        for event in events:
            if event.name not in ("submit", "start", "exception", "clean"):
                continue
            if info is None:
                info = record()
                if info is None:
                    return rows
            described = describe(event, info)
            if described is None:
                continue
            kind, result = described
            body: bytes | None = None
            for hook in hooks:
                if not (matches(hook.events, kind, result) and hook.wants_job(info)):
                    continue
                if body is None:
                    body = orjson.dumps(payload(event, info, kind))
                key = event_key(event)
                rows.append((hook.id, event.job_id, key, event.feed_seq, f"job.{kind}", body))
        return rows

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
        self._held.add(hook.id)
        try:
            self.save(hook)
            try:
                events = await executor.eventlog(job_id)
                record = await executor.info(job_id)
            except JobNotFound:
                return
            rows = [row for row in self.rows_for(events, lambda: record) if row[0] == hook.id]
            if rows and self.store is not None:
                self.counts["queued"] += insert_deliveries(self.store.db, rows, time.time())
        finally:
            self._held.discard(hook.id)
            self.wake()

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
        rows: list[tuple[str, int, int, int, str, bytes]] = []
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

    # -- out: the dispatcher and its workers ----------------------------------------------------
    async def _dispatch(self) -> None:
        assert self._wake is not None
        # Made here, not in start(): loading the CA bundle costs a moment the start-up need not.
        self.sender = Sender(self.settings, self._transport)
        while True:
            delay = self._start_due()
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def _beat(self) -> None:
        """Measure how busy the event loop is, so deliveries make way for job ingestion."""
        assert self._loop is not None
        while True:
            started = self._loop.time()
            await asyncio.sleep(0.05)
            self._lag = self._loop.time() - started - 0.05

    def _start_due(self) -> float:
        """Start every due head delivery a worker can take; return seconds until the next one.

        While the event loop is busy (jobs arriving and being recorded), deliveries make way:
        at most one is in flight and one starts per :data:`BUSY_GAP`, so they never starve and
        never slow ingestion; they catch up at full speed once the loop is idle again.
        """
        store = self.store
        if store is None:
            return 1.0
        now = time.time()
        soonest = 60.0
        room = self.settings.workers - len(self._inflight)
        if self._lag > BUSY_LAG:
            if self._inflight or now - self._last_busy_start < BUSY_GAP:
                return BUSY_GAP / 2
            room = 1
            self._last_busy_start = now
        if room <= 0:
            return soonest
        for delivery_id, hook_id, next_at in store.heads():
            if hook_id in self._inflight or hook_id in self._held or hook_id not in self.hooks:
                continue
            wait = (next_at or 0) - now
            if wait > 0:
                soonest = min(soonest, wait)
                continue
            if room <= 0:
                break
            room -= 1
            self._inflight.add(hook_id)
            assert self._loop is not None
            task = self._loop.create_task(self._deliver(delivery_id, hook_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return soonest

    async def _deliver(self, delivery_id: int, hook_id: str) -> None:
        try:
            await self._attempt(delivery_id, hook_id)
        except Exception:
            log.exception("webhooks: delivery %d failed unexpectedly", delivery_id)
        finally:
            self._inflight.discard(hook_id)
            self.wake()

    async def _attempt(self, delivery_id: int, hook_id: str) -> None:
        store, sender = self.store, self.sender
        hook = self.hooks.get(hook_id)
        if store is None or sender is None or hook is None:
            return
        delivery = store.delivery(delivery_id)
        if delivery is None or delivery.status != PENDING:
            return
        body = store.payload(delivery_id)
        now = time.time()
        headers = sign_headers(delivery.msg_id, body, hook.signing_secrets(now), now)
        result = await sender.send(hook.url, headers, body)
        if self.store is None:
            return  # stopped meanwhile
        outcome = classify(result)
        t = time.time()
        error = result.error
        next_at: float | None = None
        status = DELIVERED
        if outcome == DONE:
            self.counts["delivered"] += 1
        elif outcome == RETRY:
            wait = backoff(delivery.attempts + 1, self.settings, result.retry_after)
            if t + wait - delivery.created > self.settings.max_age:
                status = FAILED
                error = (
                    f"{_describe(result)}; gave up after {delivery.attempts + 1} attempt(s): "
                    f"older than FLUX_WEBHOOK_MAX_AGE ({self.settings.max_age:g} s)"
                )
                self.counts["failed"] += 1
            else:
                status, next_at = PENDING, t + wait
                error = _describe(result)
                self.counts["retried"] += 1
        else:
            status = FAILED
            error = f"{_describe(result)}; not retried"
            self.counts["failed"] += 1
        store.record_attempt(
            delivery,
            t=t,
            status=result.status,
            error=error,
            latency=round(result.latency, 6),
            outcome=status,
            next_at=next_at,
        )
        self._note_health(hook_id, outcome == DONE, error, t)

    def _note_health(self, hook_id: str, ok: bool, error: str | None, now: float) -> None:
        """Track how long a subscription has been failing; pause it past the limit."""
        hook = self.hooks.get(hook_id)
        if hook is None or self.store is None:
            return
        if ok:
            if hook.failing_since is not None:
                self.save(updated(hook, failing_since=None))
            return
        if hook.failing_since is None:
            self.save(updated(hook, failing_since=now))
        elif now - hook.failing_since >= self.settings.pause_after and not hook.paused:
            reason = (
                f"paused by the server after failing for {now - hook.failing_since:.0f} s "
                f"(FLUX_WEBHOOK_PAUSE_AFTER={self.settings.pause_after:g}); last error: {error}"
            )
            log.warning("webhook %s: %s", hook_id, reason)
            self.save(updated(hook, paused=True, pause_reason=reason))


def _describe(result: AttemptResult) -> str:
    if result.status is None:
        return result.error or "no answer"
    text = f"answered {result.status}"
    return f"{text} ({result.error})" if result.error else text


def flux_record(executor: Executor, job_id: int) -> Mapping[str, Any] | None:
    """A job-list-like record of a Flux job from the executor's journal index."""
    from ..executors.flux import FluxExecutor

    if not isinstance(executor, FluxExecutor):
        return None
    summary = executor.index.jobs.get(job_id)
    if summary is None:
        return None
    return {
        "id": job_id,
        "user": summary.user,
        "name": summary.name,
        "state": int(summary.state),
        "result": int(summary.result) if summary.result is not None else None,
        "t_submit": summary.t_submit,
        "t_run": None,
        "waitstatus": summary.status,
        "exception_type": summary.exception_type,
    }
