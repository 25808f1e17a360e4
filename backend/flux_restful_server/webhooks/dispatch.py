"""Out: the dispatcher, which sends the oldest pending delivery of each subscription.

One delivery at a time per subscription (so each receiver gets its events in order), on a
bounded pool of workers; retries with exponential backoff; a subscription that has failed for
too long is paused. Its memory holds the deliveries in flight, never the backlog, which stays
on disk. While the event loop is busy recording jobs, deliveries make way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator

from .config import WebhookSettings
from .delivery import DONE, RETRY, AttemptResult, Sender, Transport, backoff, classify
from .records import DELIVERED, FAILED, PENDING, Hook, updated
from .registry import Subscriptions
from .signing import sign_headers
from .store import WebhookStore

__all__ = ["BUSY_GAP", "BUSY_LAG", "Dispatcher", "cancel_all"]

log = logging.getLogger("flux_restful.webhooks")

BUSY_LAG = 0.005
"""Seconds the event loop may lag behind a 50 ms heartbeat before deliveries make way."""
BUSY_GAP = 0.1
"""While the loop is busy, at most one delivery is started per this many seconds."""


class Dispatcher:
    """Sends due deliveries; see the module docstring.

    Args:
        settings: The webhook settings (workers, backoff, age and pause limits).
        transport: An httpx transport for tests; ``None`` for the real network.
        subscriptions: The subscriptions (a delivery whose subscription is gone waits).
        counts: Attempt outcomes, counted here (``/metrics``).
        save: Stores a changed subscription (failing since, paused).
    """

    def __init__(
        self,
        settings: WebhookSettings,
        transport: Transport | None,
        subscriptions: Subscriptions,
        counts: dict[str, int],
        save: Callable[[Hook], None],
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._subs = subscriptions
        self.counts = counts
        self._save = save
        self.store: WebhookStore | None = None
        """The tables; ``None`` once stopped (an attempt answered meanwhile is dropped)."""
        self.sender: Sender | None = None
        self._held: set[str] = set()
        """Subscriptions whose earlier events are still being added (not sent meanwhile)."""
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._lag = 0.0
        """How late the last heartbeat was (seconds): how busy the event loop is."""
        self._last_busy_start = 0.0

    def prepare(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the server's event loop (before :meth:`run`; :meth:`wake` works from now)."""
        self._loop = loop
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due deliveries now."""
        if self._wake is not None:
            self._wake.set()

    @contextlib.contextmanager
    def hold(self, hook_id: str) -> Iterator[None]:
        """Send nothing to ``hook_id`` inside the block (its earlier events are being added)."""
        self._held.add(hook_id)
        try:
            yield
        finally:
            self._held.discard(hook_id)
            self.wake()

    async def run(self) -> None:
        """Send due deliveries until cancelled."""
        assert self._loop is not None and self._wake is not None
        self._heartbeat = self._loop.create_task(self._beat())
        # Made here, not at start: loading the CA bundle costs a moment the start-up need not.
        self.sender = Sender(self.settings, self._transport)
        while True:
            delay = self._start_due()
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def stop(self) -> None:
        """Cancel the heartbeat and the attempts in flight (tried again at the next start)."""
        await cancel_all([self._heartbeat, *self._tasks])
        self._tasks.clear()
        if self.sender is not None:
            await self.sender.aclose()
            self.sender = None

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
        hooks = self._subs.hooks
        for delivery_id, hook_id, next_at in store.heads():
            if hook_id in self._inflight or hook_id in self._held or hook_id not in hooks:
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
        hook = self._subs.hooks.get(hook_id)
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
        hook = self._subs.hooks.get(hook_id)
        if hook is None or self.store is None:
            return
        if ok:
            if hook.failing_since is not None:
                self._save(updated(hook, failing_since=None))
            return
        if hook.failing_since is None:
            self._save(updated(hook, failing_since=now))
        elif now - hook.failing_since >= self.settings.pause_after and not hook.paused:
            reason = (
                f"paused by the server after failing for {now - hook.failing_since:.0f} s "
                f"(FLUX_WEBHOOK_PAUSE_AFTER={self.settings.pause_after:g}); last error: {error}"
            )
            log.warning("webhook %s: %s", hook_id, reason)
            self._save(updated(hook, paused=True, pause_reason=reason))


async def cancel_all(tasks: Iterable[asyncio.Task[None] | None]) -> None:
    """Cancel ``tasks`` and wait until each has ended (whatever it raised)."""
    started = [task for task in tasks if task is not None]
    for task in started:
        task.cancel()
    for task in started:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _describe(result: AttemptResult) -> str:
    if result.status is None:
        return result.error or "no answer"
    text = f"answered {result.status}"
    return f"{text} ({result.error})" if result.error else text
