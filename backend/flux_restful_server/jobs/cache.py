"""Encoded responses and rows, kept while the jobs they show cannot have changed.

Two layers, all bounded (least recently used entries go first):

* whole listings, kept with the executor's revision (a counter of applied events); any job
  event makes them stale. An idle server (dashboards and scripts polling it) answers from memory.
* one encoded row per job, kept with that job's own revision (``Executor.row_revisions``): a
  listing whose revision moved (jobs churning) takes its page of ids from the index and
  assembles the body from the rows of the jobs that did not change, so it encodes only the
  jobs that did. A job's full info is kept the same way, with its ticking ``runtime`` left out
  and written in per answer; an inactive job's is final.

Executors that cannot tell (``None`` revisions) are not cached, but for inactive jobs' info.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from ..executors.base import INACTIVE_REVISION

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small least-recently-used mapping."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        """Return the value for ``key`` (marking it recently used), or ``None``."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Store ``value``, dropping the least recently used entry when full."""
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class EncodedInfo:
    """One job's full info, encoded but for a running job's ``runtime`` (see ``jobs.rows``)."""

    revision: int
    """The job's row revision when it was read (:data:`INACTIVE_REVISION`: final)."""
    owner: str | None
    """The job's API user, to check visibility without reading the job."""
    head: bytes
    """The whole encoded info, or (while ``runtime`` ticks) what precedes its value."""
    tail: bytes = b""
    """What follows the ``runtime`` value (empty when it does not tick)."""
    t_run: float = 0.0
    """When the job started, for ``runtime``."""

    def render(self, now: float) -> bytes:
        """The encoded info as of ``now``."""
        if not self.tail:
            return self.head
        # As jobs.info.runtime() while running; a float's JSON does not depend on the options.
        return self.head + orjson.dumps(round(max(0.0, now - self.t_run), 6)) + self.tail


class Rows:
    """Encoded rows by job id, each with the row revision it was read at.

    Bounded: the row kept longest ago goes first (a lookup does not reorder, as listings look up
    every row of a page in their hot loop, reading :attr:`rows` directly).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self.rows: dict[int, tuple[int, bytes]] = {}
        """Job id -> (row revision, encoded row), oldest first."""

    def __len__(self) -> int:
        return len(self.rows)

    def put(self, job_id: int, revision: int, encoded: bytes) -> None:
        """Keep a row read at ``revision``, replacing the job's older one."""
        self.rows.pop(job_id, None)
        self.rows[job_id] = (revision, encoded)
        if len(self.rows) > self._size:
            del self.rows[next(iter(self.rows))]


class ResponseCache:
    """The encoded responses of one application."""

    def __init__(self, infos: int = 10_000, listings: int = 256, rows: int = 10_000) -> None:
        self.queries: LRU[tuple[str | None, str, str], Any] = LRU(listings)
        """(caller scope, route, query string) -> what the route parsed from it (immutable):
        a dashboard polls with the same query, and parsing it cost as much as the listing."""
        self.infos: LRU[int, EncodedInfo] = LRU(infos)
        """Job id -> encoded full info (shared by ``GET /v1/jobs/{id}`` and detailed listings)."""
        self.listings: LRU[tuple[str | None, str, str], tuple[int, bytes]] = LRU(listings)
        """(caller scope, route, query string) -> (revision, encoded body)."""
        self.summaries = Rows(rows)
        """The summary rows of ``GET /v1/jobs``."""

    def info(self, job_id: int, revision: int | None) -> EncodedInfo | None:
        """The kept info of a job whose row revision is ``revision`` now, or ``None``."""
        hit = self.infos.get(job_id)
        if hit is None or hit.revision not in (INACTIVE_REVISION, revision):
            return None
        return hit
