"""Login throttling: password checks are slow on purpose, so bound who may ask for them.

An argon2 verification costs tens of milliseconds of CPU, on purpose. Without limits, a hundred
concurrent wrong passwords queued every real login behind them (0.12 s became 7.7 s). Now:

- verifications run in their own small thread pool (:data:`HASH_THREADS`), never on the event
  loop, and at most :data:`MAX_QUEUED` may wait for it: beyond that the server is busy (503);
- one client address may have :data:`IN_FLIGHT_PER_ADDRESS` verifications under way at once;
  more are refused at once (429), so a burst from one address cannot fill the queue;
- failures are counted with the ``limits`` package in a moving window, per address
  (:data:`FAILURES_PER_ADDRESS`) and per address and user name (:data:`FAILURES_PER_USER`);
  past either, that address is refused (429, ``Retry-After``) without hashing until the window
  moves on. Counting per address rather than per user name keeps an attacker from locking a user
  out from everywhere; behind a proxy, set Sanic's forwarded-address variables
  (``SANIC_PROXIES_COUNT``, ``SANIC_FORWARDED_SECRET``) so that the address is the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from .errors import LoginBusy, LoginThrottled

T = TypeVar("T")

HASH_THREADS = 2
"""Threads that verify passwords (each verification keeps one core busy)."""
MAX_QUEUED = 32
"""Verifications that may wait for a thread; more answer 503 at once."""
IN_FLIGHT_PER_ADDRESS = 2
"""Verifications one client address may have under way (running or waiting)."""
FAILURES_PER_ADDRESS = parse("30/minute")
"""Failed sign-ins from one address before it is refused for a while."""
FAILURES_PER_USER = parse("10/minute")
"""Failed sign-ins for one user name from one address before they are refused for a while."""


class LoginThrottle:
    """Admission for password verifications, and the failure counts behind it."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._pool: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._in_flight: dict[str, int] = {}
        self._queued = 0

    def admit(self, address: str, name: str) -> None:
        """Refuse an address (and user name) that failed too often lately.

        Raises:
            LoginThrottled: Too many recent failures (429 with ``Retry-After``).
        """
        for limit, keys in (
            (FAILURES_PER_ADDRESS, ("address", address)),
            (FAILURES_PER_USER, ("user", address, name)),
        ):
            if not self._limiter.test(limit, *keys):
                reset = self._limiter.get_window_stats(limit, *keys).reset_time
                raise LoginThrottled(retry_after=max(1, math.ceil(reset - time.time())))

    def failed(self, address: str, name: str) -> None:
        """Count a failed sign-in of ``name`` from ``address``."""
        self._limiter.hit(FAILURES_PER_ADDRESS, "address", address)
        self._limiter.hit(FAILURES_PER_USER, "user", address, name)

    @contextlib.asynccontextmanager
    async def slot(self, address: str) -> AsyncIterator[None]:
        """Hold one of ``address``'s verification slots.

        Raises:
            LoginThrottled: The address already has its share under way (429).
            LoginBusy: Too many verifications are waiting already (503).
        """
        if self._in_flight.get(address, 0) >= IN_FLIGHT_PER_ADDRESS:
            raise LoginThrottled(
                "Too many sign-ins from your address are being checked; try again shortly.",
                retry_after=1,
            )
        if self._queued >= MAX_QUEUED:
            raise LoginBusy()
        self._in_flight[address] = self._in_flight.get(address, 0) + 1
        try:
            yield
        finally:
            left = self._in_flight[address] - 1
            if left:
                self._in_flight[address] = left
            else:
                del self._in_flight[address]

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Run a verification in the password pool, waiting at most behind :data:`MAX_QUEUED`."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="password")
            self._slots = asyncio.Semaphore(HASH_THREADS)
        assert self._slots is not None
        self._queued += 1
        try:
            async with self._slots:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._pool, function, *args)
        finally:
            self._queued -= 1

    def close(self) -> None:
        """Stop the pool's threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self._slots = None
