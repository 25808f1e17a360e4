"""The subscriptions in memory, indexed for matching: general ones and per-job ones.

The store is the truth; this is what every job event is matched against, so a batch of events
looks at the subscriptions that may want its job, not at every subscription.
"""

from __future__ import annotations

from collections.abc import Iterable

from .records import Hook

__all__ = ["Subscriptions"]


class Subscriptions:
    """Every subscription by id, and the ones that may want each job."""

    def __init__(self) -> None:
        self.hooks: dict[str, Hook] = {}
        """Every subscription by id (the same dict for the service's life)."""
        self.version: str | None = None
        """The store's subscriptions version these were loaded at (or last changed to)."""
        self._general: dict[str, Hook] = {}
        self._by_job: dict[int, dict[str, Hook]] = {}

    def put(self, hook: Hook) -> None:
        """Add or replace a subscription."""
        self.remove(hook.id)
        self.hooks[hook.id] = hook
        if hook.job_ids is None:
            self._general[hook.id] = hook
        else:
            for job_id in hook.job_ids:
                self._by_job.setdefault(job_id, {})[hook.id] = hook

    def remove(self, hook_id: str) -> None:
        """Forget a subscription (nothing if unknown)."""
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

    def load(self, version: str | None, hooks: Iterable[Hook]) -> None:
        """Replace every subscription with ``hooks``, as of the store's ``version``."""
        self.version = version
        self.hooks.clear()
        self._general.clear()
        self._by_job.clear()
        for hook in hooks:
            self.put(hook)

    def candidates(self, job_id: int) -> list[Hook]:
        """Subscriptions that may want events of ``job_id`` (before the job filters)."""
        hooks = list(self._general.values())
        specific = self._by_job.get(job_id)
        if specific:
            hooks += specific.values()
        return hooks
