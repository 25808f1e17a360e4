"""Pending reasons: why each job in ``DEPEND`` or ``SCHED`` waits, in plain words.

Job info and listings compute them when asked. The event feed hears of a wait for resources as
Flux's journal does, from an ``annotations`` event carrying ``sched.reason_pending``: posted by
the once-a-second poll for a job that is still waiting at its second look (a batch whose jobs
all start within a second costs nothing), once for each kind of wait (behind another job, or
short of resources), at most :data:`ANNOUNCE_MOST` a poll.
"""

from __future__ import annotations

from typing import Any

from ...domain.ids import f58
from ...domain.record import HELD, JobRecord
from ...domain.states import JobState
from .depend import waiting_reason
from .resources import shortfall
from .state import ExecutorState

ANNOUNCE_MOST = 256
"""Waits announced in one poll at most (each is a log append): a long queue is told over time."""
ANNOUNCE_QUEUE_MOST = 20_000
"""Past this many active jobs no wait is announced: working out every reason each second would
hold the event loop (job info and listings still give each job's reason)."""
NEXT = "about to start"


def wait_kind(reason: str) -> str:
    """What kind of wait ``reason`` is: ``queued`` (behind another job), ``short`` or ``""``."""
    if reason.startswith("queued behind"):
        return "queued"
    if reason in (HELD, NEXT) or reason.startswith("waiting on"):
        return ""  # holds and dependencies have feed events of their own
    return "short"


def sched_annotations(reason: str) -> dict[str, Any]:
    """A wait for resources as Flux's scheduler annotates it (the feed's event, job info)."""
    return {"sched": {"reason_pending": reason}}


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
                    reasons[job_id] = HELD
                else:
                    queued.append((-job.priority, job_id))
        head: int | None = None
        for _, job_id in sorted(queued):
            request = self._request(job_id)
            short = shortfall(self.cluster, request)
            if head is None:
                head = job_id
                reasons[job_id] = short or NEXT
            elif short is None:
                reasons[job_id] = (
                    f"queued behind job {f58(head)} (first come, first served: nothing "
                    "overtakes the head of the queue)"
                )
            else:
                reasons[job_id] = short
        self._reasons = (self._revision, reasons)
        return reasons

    def _announce_waits(self, seen: set[int]) -> set[int]:
        """Post an ``annotations`` event for each job that waits for resources since ``seen``.

        Args:
            seen: The jobs found waiting for resources at the last poll.

        Returns:
            The jobs waiting for resources now (the next poll's ``seen``).
        """
        waiting: set[int] = set()
        if len(self.active) > ANNOUNCE_QUEUE_MOST:
            return waiting
        posted = 0
        for job_id, reason in self._pending_reasons().items():
            job = self.active.get(job_id)
            kind = wait_kind(reason)
            if job is None or job.state is not JobState.SCHED or not kind:
                continue
            waiting.add(job_id)
            if job_id in seen and job.announced != kind and posted < ANNOUNCE_MOST:
                job.announced = kind
                posted += 1
                annotations = sched_annotations(reason)
                self._append(job_id, [("annotations", {"annotations": annotations})])
        return waiting

    def _with_reasons(self, records: list[JobRecord]) -> list[JobRecord]:
        """Give the waiting jobs among ``records`` their pending reason.

        A wait for resources is also the job's ``sched.reason_pending`` annotation, as Flux's
        job-list shows a scheduler's (holds and dependencies are not the scheduler's to say).
        """
        pending = [r for r in records if r["state"] in (JobState.DEPEND, JobState.SCHED)]
        if pending:
            reasons = self._pending_reasons()
            for record in pending:
                reason = reasons.get(record["id"])
                if reason is not None:
                    record["pending_reason"] = reason
                    if record["state"] == JobState.SCHED and wait_kind(reason):
                        record["annotations"] = sched_annotations(reason)
        return records
