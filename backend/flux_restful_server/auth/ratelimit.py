"""Rate limits per caller: submits, expensive reads, and concurrent streams.

Each authenticated user (each client address when anonymous: auth off, or before a login) has:

- a budget of submits and one of expensive reads (listings, searches, output), each a burst and a
  sustained rate (``50/second;1000/minute``) counted by the ``limits`` package in moving windows:
  together they behave like a token bucket that holds the burst and refills at the sustained
  rate;
- a cap on the streams (websocket or SSE) it may hold open at once.

Past a limit the request is answered 429 with ``Retry-After`` (seconds until the window lets the
next one through) and a JSON reason; nothing is queued. The defaults are far above what a person,
the dashboard or a CI job does; they stop a runaway script from taking the server for itself. The
counts live in this process (with ``--workers N`` each worker counts its own share).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from .errors import AuthLayerError

__all__ = ["ROUTE_KINDS", "RateLimited", "RateLimits", "parse_rates"]

ROUTE_KINDS = {
    "jobs.submit": "submit",
    "web.submit": "submit",
    "jobs.list_jobs": "read",
    "jobs.search": "read",
    "jobs.output": "read",
    "web.jobs": "read",
    "web.job_page": "read",
}
"""Route (blueprint.handler) → the budget it draws on; other routes are cheap and not counted."""
OFF = ("", "0", "off", "none", "unlimited")
"""Values that turn a rate limit off."""


class RateLimited(AuthLayerError):
    """429: the caller is over a rate limit; ``Retry-After`` says when to try again."""

    status_code = 429
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(self, message: str, *, reason: str, retry_after: int) -> None:
        """Create the refusal (``reason``: ``submit``, ``read`` or ``streams``)."""
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.body = {"detail": message, "reason": reason, "retry_after": retry_after}


def parse_rates(text: str, name: str) -> tuple[RateLimitItem, ...]:
    """Parse ``50/second;1000/minute`` (``limits`` notation), or ``off``, into limit items.

    Raises:
        ValueError: Not in that notation; the message names the setting and an example.
    """
    if text.strip().lower() in OFF:
        return ()
    try:
        return tuple(parse_many(text))
    except ValueError:
        raise ValueError(
            f"{name} must be rates like '50/second;1000/minute' (or 'off'), not {text!r}"
        ) from None


class RateLimits:
    """The budgets of every caller, and their open streams."""

    def __init__(
        self,
        submit: Sequence[RateLimitItem],
        read: Sequence[RateLimitItem],
        max_streams: int,
    ) -> None:
        """Set the limits; empty rates and ``max_streams=0`` mean no limit."""
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._rates = {"submit": tuple(submit), "read": tuple(read)}
        self.max_streams = max_streams
        """Streams one caller may hold open at once (0: no cap)."""
        self._streams: dict[str, int] = {}

    def admit(self, route: str, key: str) -> None:
        """Count a request to ``route`` by ``key`` against its budget (if the route has one).

        Raises:
            RateLimited: Over a limit (429 with ``Retry-After``); the request was not counted.
        """
        kind = ROUTE_KINDS.get(route)
        if kind is None:
            return
        items = self._rates[kind]
        for item in items:
            if not self._limiter.test(item, kind, key):
                reset = self._limiter.get_window_stats(item, kind, key).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                what = "submits" if kind == "submit" else "listings, searches and output reads"
                raise RateLimited(
                    f"Too many {what}: at most {item} per caller; try again in {wait} s.",
                    reason=kind,
                    retry_after=wait,
                )
        for item in items:
            self._limiter.hit(item, kind, key)

    @contextlib.contextmanager
    def stream(self, key: str) -> Iterator[None]:
        """Hold one of ``key``'s stream slots while the stream runs.

        Raises:
            RateLimited: ``key`` already holds :attr:`max_streams` streams (429).
        """
        held = self._streams.get(key, 0)
        if self.max_streams and held >= self.max_streams:
            raise RateLimited(
                f"Too many open streams: at most {self.max_streams} per caller at once; close "
                "one (or wait for a job to end) and try again.",
                reason="streams",
                retry_after=5,
            )
        self._streams[key] = held + 1
        try:
            yield
        finally:
            left = self._streams[key] - 1
            if left:
                self._streams[key] = left
            else:
                del self._streams[key]
