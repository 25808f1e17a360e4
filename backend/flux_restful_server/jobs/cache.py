"""Encoded responses kept while the jobs they show cannot have changed.

Two caches, both bounded (least recently used entries go first):

* finished jobs' info: an inactive job never changes again, so its encoded info is kept by id;
* listings: kept with the executor's revision (a counter of applied events); any job event
  makes them stale. Executors that cannot tell (``revision()`` returns ``None``) are not cached.

An idle server (the common case for dashboards and scripts that poll) then answers from memory.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small least-recently-used mapping."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

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


class ResponseCache:
    """The encoded responses of one application."""

    def __init__(self, infos: int = 10_000, listings: int = 256) -> None:
        self.infos: LRU[int, tuple[str | None, bytes]] = LRU(infos)
        """Finished job id -> (owner, encoded info)."""
        self.listings: LRU[tuple[str | None, str, str], tuple[int, bytes]] = LRU(listings)
        """(caller scope, route, query string) -> (revision, encoded body)."""
