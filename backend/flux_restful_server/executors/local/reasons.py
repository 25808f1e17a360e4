"""Pending reasons: why each job in ``DEPEND`` or ``SCHED`` waits, in plain words."""

from __future__ import annotations

from ...domain.ids import f58
from ...domain.record import JobRecord
from ...domain.states import JobState
from .depend import waiting_reason
from .resources import shortfall
from .state import ExecutorState


class PendingReasons(ExecutorState):
    """The executor's part that explains waiting jobs; see the module docstring."""

    _reasons: tuple[int, dict[int, str]]
    """Pending reasons of queued jobs, and the revision they were computed at."""

    def _pending_reasons(self) -> dict[int, str]:
        """The pending reason of every job waiting in ``DEPEND`` or ``SCHED``, by id.

        Computed once per revision (any event that can change a reason changes the revision):
        the queue in order, each job's wait explained by what it needs or who is ahead.
        """
        revision, reasons = self._reasons
        if revision == self._revision:
            return reasons
        reasons = {}
        queued: list[tuple[int, int]] = []
        for job_id, job in self.active.items():
            if job.state is JobState.DEPEND and job.waiting:
                reasons[job_id] = waiting_reason(job.waiting)
            elif job.state is JobState.SCHED:
                if job.priority == 0:
                    reasons[job_id] = "held (urgency 0)"
                else:
                    queued.append((-job.priority, job_id))
        head: int | None = None
        for _, job_id in sorted(queued):
            request = self._request(job_id)
            short = shortfall(self.cluster, request)
            if head is None:
                head = job_id
                reasons[job_id] = short or "about to start"
            elif short is None:
                reasons[job_id] = (
                    f"queued behind job {f58(head)} (first come, first served: nothing "
                    "overtakes the head of the queue)"
                )
            else:
                reasons[job_id] = short
        self._reasons = (self._revision, reasons)
        return reasons

    def _with_reasons(self, records: list[JobRecord]) -> list[JobRecord]:
        pending = [r for r in records if r["state"] in (JobState.DEPEND, JobState.SCHED)]
        if pending:
            reasons = self._pending_reasons()
            for record in pending:
                reason = reasons.get(record["id"])
                if reason is not None:
                    record["pending_reason"] = reason
        return records
