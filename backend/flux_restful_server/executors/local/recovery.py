"""Recovery: re-attaching the jobs a previous server (or a lost supervisor) left active.

At start every job that is not inactive is rebuilt from its row and then from its log (the
records it missed are ingested); a running job is left to its supervisor if its log is locked,
asked for again if it never started (the supervisor runs a job at most once), and failed as
``lost`` if it started and its supervisor is gone.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...domain.states import JobState
from .depend import outstanding
from .exactly_once import has_start, log_locked
from .joblog import Cursor, ending_events
from .resources import Allocation
from .state import ActiveJob, ExecutorState, log


class Recovery(ExecutorState):
    """The executor's part that recovers active jobs; see the module docstring."""

    def _recover(self) -> None:
        """Re-attach every job that was not inactive when the last server stopped."""
        assert self.store is not None
        for row in self.store.active_jobs():
            try:
                self._recover_job(row)
            except Exception:  # one damaged job must not keep the server (and the rest) down
                log.exception(
                    "recovering job %d failed; it stays as its last good record left it", row["id"]
                )
        # Jobs depended on may have started or ended while no server was watching.
        for target in list(self._dependents):
            self._queue_resolve(target)
        log.info("recovered %d active jobs", len(self.active))

    def _recover_job(self, row: dict[str, Any]) -> None:
        assert self.store is not None
        job_id = row["id"]
        job = ActiveJob(
            JobState(row["state"]),
            row["priority"] if row["priority"] is not None else row["urgency"],
            cursor=Cursor(row["log_offset"], row["log_seq"]),
            user=row["user"],
            exception=bool(row["exception_occurred"]),
            exception_type=row["exception_type"] or "",
            waitstatus=row["waitstatus"],
            urgency=row["urgency"],
        )
        if row["alloc"]:
            job.alloc = Allocation.from_json(orjson.loads(row["alloc"]))
            self.cluster.take(job.alloc)
        self.active[job_id] = job
        if job.state is JobState.SCHED:
            self.queue.push(job_id, job.priority)
        self._ingest(job_id)
        if job_id not in self.active:
            return
        if job.state is JobState.RUN and not job.finished:
            self._recover_running(job_id, job)
        elif job.state is JobState.CLEANUP:
            self._clean_up_after(job_id, job)
        elif job.state is JobState.DEPEND:
            events = [(name, ctx) for _, _, name, _, ctx in self.store.events(job_id)]
            job.waiting = outstanding(events)
            for dependency in job.waiting:
                self._dependents.setdefault(dependency.job_id, set()).add(job_id)

    def _recover_running(self, job_id: int, job: ActiveJob) -> None:
        path = self._log_path(job_id)
        if log_locked(path):
            return  # still running: the supervisor names it to us as it writes
        if not has_start(path):
            # Allocated but never started: the server stopped before the supervisor got the
            # request, or the supervisor refused it because it found the log locked (for an
            # instant, by log_locked above, from the safety poll): ask again. The supervisor
            # runs a job at most once.
            self._launch(job_id, job)
            return
        self._check_lost(job_id, job)

    def _reattach(self) -> None:
        """After a lost supervisor was replaced: re-attach, relaunch or fail the running jobs."""
        for job_id, job in list(self.active.items()):
            if job.state is JobState.RUN and not job.finished:
                try:
                    self._recover_running(job_id, job)
                except Exception:
                    log.exception("re-attaching job %d failed", job_id)

    def _check_lost(self, job_id: int, job: ActiveJob) -> None:
        """Fail a job whose tasks began but whose supervisor died before it finished."""
        path = self._log_path(job_id)
        if log_locked(path) or not has_start(path):
            return  # running, or not started yet
        # The lock was free, and finish is written before the lock is released: whatever the
        # log holds now is all it will ever hold.
        self._ingest(job_id, whole=True)
        if job_id in self.active and not job.finished:
            note = "the job supervisor exited before the job finished"
            self._append(job_id, [
                ("exception", {"type": "lost", "severity": 0, "userid": -1, "note": note}),
                ("finish", {"status": 9}),
                *ending_events(job.alloc is not None),
            ])  # fmt: skip

    def _clean_up_after(self, job_id: int, job: ActiveJob) -> None:
        """End a job left in ``CLEANUP`` with no ``clean``: its ending was never written.

        After a job it ran, the supervisor writes ``finish`` and the events that end the job
        in one write before it releases the log's lock; a job whose log is unlocked and holds
        no ``clean`` after a whole read was left by a server that stopped before it ended a job
        that never ran (or by a supervisor of an earlier release): the server ends it now.
        """
        if log_locked(self._log_path(job_id)):
            return  # its supervisor is writing the end this instant
        self._ingest(job_id, whole=True)
        if job_id in self.active and job.state is JobState.CLEANUP:
            self._finish_cleanup(job_id)
