"""Rate limits per caller: submits, expensive reads, and concurrent streams.

Each authenticated user (each client address when anonymous: auth off, or before a login) has:

- a token bucket of submits and one of expensive reads (listings, searches, output). A rate is
  written in the ``limits`` package's notation, ``50/second;1000/minute``: the shortest window
  gives the bucket's size (a burst of 50), the longest its refill rate (1000 a minute). ``limits``
  parses it; its strategies (fixed, sliding and moving windows) are not used for the counting, as
  they cost tens of microseconds per request on this machine where a bucket costs one (see
  ``bench/bench_core.py``, "listing with rate limits");
- a cap on the streams (websocket or SSE) it may hold open at once.

Past a limit the request is answered 429 with ``Retry-After`` (seconds until the bucket holds a
token again) and a JSON reason; nothing is queued. The defaults are far above what a person, the
dashboard or a CI job does; they stop a runaway script from taking the server for itself. The
counts live in this process (with ``--workers N`` each worker counts its own share).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many

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


def _describe(items: Sequence[RateLimitItem]) -> str:
    """``50 per 1 second and 1000 per 1 minute``."""
    return " and ".join(str(item) for item in items)


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket's shape: how many requests at once, and how fast they come back."""

    size: float
    """Tokens it holds when full: the burst."""
    rate: float
    """Tokens added per second: the sustained rate."""

    @classmethod
    def from_items(cls, items: Sequence[RateLimitItem]) -> Bucket | None:
        """The bucket of ``50/second;1000/minute`` (``None`` for no limit)."""
        if not items:
            return None
        by_window = sorted(items, key=lambda item: item.get_expiry())
        burst, sustained = by_window[0], by_window[-1]
        return cls(float(burst.amount), sustained.amount / sustained.get_expiry())


_MAX_CALLERS = 100_000
"""Buckets kept before full ones are forgotten (a full bucket is the same as none)."""


class RateLimits:
    """The buckets of every caller, and their open streams."""

    def __init__(
        self,
        submit: Sequence[RateLimitItem],
        read: Sequence[RateLimitItem],
        max_streams: int,
    ) -> None:
        """Set the limits; empty rates and ``max_streams=0`` mean no limit."""
        self._shapes = {"submit": Bucket.from_items(submit), "read": Bucket.from_items(read)}
        self._specs = {"submit": _describe(submit), "read": _describe(read)}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.max_streams = max_streams
        """Streams one caller may hold open at once (0: no cap)."""
        self._streams: dict[str, int] = {}

    def admit(self, route: str, key: str) -> None:
        """Take a token from ``key``'s bucket for ``route`` (if the route has a budget).

        Raises:
            RateLimited: The bucket is empty (429 with ``Retry-After``).
        """
        kind = ROUTE_KINDS.get(route)
        if kind is None:
            return
        shape = self._shapes[kind]
        if shape is None:
            return
        now = time.monotonic()
        tokens, then = self._buckets.get((kind, key), (shape.size, now))
        tokens = min(shape.size, tokens + (now - then) * shape.rate)
        if tokens < 1.0:
            self._buckets[(kind, key)] = (tokens, now)
            wait = max(1, math.ceil((1.0 - tokens) / shape.rate))
            what = "submits" if kind == "submit" else "listings, searches and output reads"
            raise RateLimited(
                f"Too many {what}: at most {self._specs[kind]} per caller; try again in {wait} s.",
                reason=kind,
                retry_after=wait,
            )
        if len(self._buckets) >= _MAX_CALLERS:
            self._forget_full(now)
        self._buckets[(kind, key)] = (tokens - 1.0, now)

    def _forget_full(self, now: float) -> None:
        for bucket_key, (tokens, then) in list(self._buckets.items()):
            shape = self._shapes[bucket_key[0]]
            if shape is None or tokens + (now - then) * shape.rate >= shape.size:
                del self._buckets[bucket_key]

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
