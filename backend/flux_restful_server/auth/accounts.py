"""System accounts for multi-user mode: map an API user onto a uid, gid, groups and home."""

from __future__ import annotations

import time

from ..domain.owner import Owner, system_account

_CACHE_SECONDS = 30.0


class AccountRefused(Exception):
    """The name is not a system account, or its uid is below ``FLUX_MIN_UID``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not an allowed system account on this server.")
        self.name = name


class AccountResolver:
    """Resolves API user names to system accounts, caching lookups briefly (NSS may be slow)."""

    def __init__(self, min_uid: int) -> None:
        """Refuse accounts whose uid is below ``min_uid``."""
        self.min_uid = min_uid
        self._cache: dict[str, tuple[float, Owner | None]] = {}

    def owner(self, name: str) -> Owner:
        """Return how jobs of ``name`` run.

        Raises:
            AccountRefused: No such account, or its uid is below the minimum.
        """
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached is None or cached[0] < now:
            if len(self._cache) > 4096:
                self._cache.clear()
            cached = (now + _CACHE_SECONDS, self._lookup(name))
            self._cache[name] = cached
        if cached[1] is None:
            raise AccountRefused(name)
        return cached[1]

    def forget(self) -> None:
        """Drop cached lookups (after accounts changed)."""
        self._cache.clear()

    def _lookup(self, name: str) -> Owner | None:
        owner = system_account(name)
        if owner is None or owner.uid is None or owner.uid < self.min_uid:
            return None
        return owner
