"""Dependencies between jobs as they happen: judged at submit, and again when a target moves.

The rules are ``depend``'s (pure, as Flux's dependency-after plugin); this part keeps which jobs
wait on which (``_dependents``), writes ``dependency-remove``, ``depend`` and the ``dependency``
exception into the waiting jobs' logs, and resolves a chain in a loop rather than recursively.
"""

from __future__ import annotations

import collections
from typing import Any

from ...domain.errors import (
    SubmitRefused,
)
from ...domain.request import Dependency
from ...domain.states import JobState
from .depend import Verdict, describe, judge, never_note
from .state import ExecutorState


class Dependents(ExecutorState):
    """The executor's part that resolves dependencies; see the module docstring."""

    _to_resolve: collections.deque[int]
    """Jobs that started or ended whose dependents are still to be judged."""
    _resolving: bool
    """Whether the loop of ``_queue_resolve`` is running."""

    def _judge_dependencies(
        self, job_id: int, dependencies: tuple[Dependency, ...]
    ) -> list[Dependency]:
        """The dependencies not met yet.

        Raises:
            SubmitRefused: A dependency on the job itself, on a job that does not exist, or one
                that can never be met (``afterok`` on a job that failed), as Flux refuses them.
        """
        assert self.store is not None
        waiting: list[Dependency] = []
        for dependency in dependencies:
            if dependency.job_id == job_id:
                raise SubmitRefused(
                    f"dependency {describe(dependency)}: a job cannot depend on itself"
                )
            record = self.store.info(dependency.job_id)
            if record is None:
                raise SubmitRefused(f"dependency {describe(dependency)}: no such job")
            verdict, why = judge(dependency, record)
            if verdict is Verdict.NEVER:
                raise SubmitRefused(never_note(dependency, why))
            if verdict is Verdict.WAITING:
                waiting.append(dependency)
        return waiting

    def _resolve_dependents(self, target: int) -> None:
        """Judge again the dependencies on ``target`` (it started or ended)."""
        assert self.store is not None
        waiters = self._dependents.pop(target, set())
        record = self.store.info(target)
        for job_id in sorted(waiters):
            job = self.active.get(job_id)
            if job is None or job.state is not JobState.DEPEND:
                continue  # cancelled meanwhile
            events: list[tuple[str, dict[str, Any]]] = []
            never: dict[str, Any] | None = None
            for dependency in [d for d in job.waiting if d.job_id == target]:
                verdict, why = judge(dependency, record)
                if verdict is Verdict.MET:
                    job.waiting.remove(dependency)
                    events.append(("dependency-remove", {"description": describe(dependency)}))
                elif verdict is Verdict.NEVER:
                    never = {"type": "dependency", "severity": 0, "userid": -1,
                             "note": never_note(dependency, why)}  # fmt: skip
                    break
                else:
                    self._dependents.setdefault(target, set()).add(job_id)
            if never is not None:
                self._append(job_id, [*events, ("exception", never)])
                self._finish_cleanup(job_id)
                continue
            if not job.waiting:
                events += [("depend", {}), ("priority", {"priority": job.urgency})]
            if events:
                self._append(job_id, events)
        self._schedule()

    def _queue_resolve(self, target: int) -> None:
        """Resolve the dependents of ``target``, in a loop rather than recursively.

        A failure that ends a long chain of ``afterok`` jobs ends them one after the other.
        """
        self._to_resolve.append(target)
        if self._resolving:
            return
        self._resolving = True
        try:
            while self._to_resolve:
                self._resolve_dependents(self._to_resolve.popleft())
        finally:
            self._resolving = False
