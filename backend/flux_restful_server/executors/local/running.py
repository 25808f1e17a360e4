"""Running jobs: the scheduler's picks are allocated and sent to the supervisor.

``scheduler`` decides which queued jobs start; this part writes their ``alloc`` event (which,
ingested, is what holds the resources) and asks the supervisor to run them, and keeps the safety
net that reads every running job's log once a second in case a notification was missed.
"""

from __future__ import annotations

import asyncio

import orjson

from ...domain.ids import f58
from ...domain.request import JobRequest
from ...domain.states import JobState
from .resources import Allocation
from .state import ActiveJob, ExecutorState, log

SAFETY_POLL = 1.0
"""Seconds between catch-up reads of every running job's log (a safety net for notifications)."""


class Running(ExecutorState):
    """The executor's part that starts jobs; see the module docstring."""

    def _schedule(self) -> None:
        if self._stopping:
            return
        for job_id, request, alloc in self.queue.starts(self.cluster, self._waiting, self._request):
            self._start(job_id, self.active[job_id], request, alloc)

    def _waiting(self, job_id: int) -> int | None:
        """The priority of a job that waits for resources; ``None`` for any other."""
        job = self.active.get(job_id)
        if job is None or job.state is not JobState.SCHED:
            return None
        return job.priority

    def _request(self, job_id: int) -> JobRequest:
        cached = self.active[job_id].request
        if cached is not None:
            return cached
        assert self.store is not None
        row = self.store.job_row(job_id)
        assert row is not None
        spec = orjson.loads(row["spec"])
        return JobRequest(
            command=tuple(spec["argv"]),
            num_tasks=spec["num_tasks"],
            cores_per_task=spec["cores_per_task"],
            gpus_per_task=spec["gpus_per_task"],
            num_nodes=spec["num_nodes"],
            exclusive=spec["exclusive"],
            runtime=row["duration"],
        )

    def _start(self, job_id: int, job: ActiveJob, request: JobRequest, alloc: Allocation) -> None:
        assert self.store is not None
        # try_allocate took the resources; ingesting the alloc event takes them again, and the
        # event, not this call, is what holds them (so that a recovering server takes them too).
        self.cluster.release(alloc)
        self._append(job_id, [("alloc", {"alloc": alloc.to_json(), "duration": request.runtime})])
        self._launch(job_id, job)

    def _launch(self, job_id: int, job: ActiveJob) -> None:
        """Ask the supervisor to run the job (again after a reconnect: it runs a job once)."""
        assert self.store is not None and job.alloc is not None
        spec = job.spec
        if spec is None:  # a recovered job: its spec is in the store
            row = self.store.job_row(job_id)
            assert row is not None
            spec = orjson.loads(row["spec"])
            job.expiration = row["expiration"] or 0.0
        job.spec = None  # needed once: the supervisor has it now
        owner = spec["owner"]
        self.link.send({"op": "run", "spec": {
            "job_id": job_id, "job_id_f58": f58(job_id), "argv": spec["argv"],
            "env": spec["env"], "cwd": spec["cwd"], "ranks_nodes": job.alloc.ranks_nodes,
            "node_names": self.cluster.names, "log_path": self._log_path(job_id),
            "expiration": job.expiration, "kill_timeout": self.settings.kill_timeout,
            "uid": owner["uid"], "gid": owner["gid"], "groups": owner["groups"],
        }})  # fmt: skip

    async def _poll(self) -> None:
        waiting: set[int] = set()
        while True:
            await asyncio.sleep(SAFETY_POLL)
            try:
                waiting = self._announce_waits(waiting)
            except Exception:
                log.exception("announcing pending reasons failed")
            for job_id, job in list(self.active.items()):
                if job.state is JobState.CLEANUP and job.finished:
                    try:
                        self._clean_up_after(job_id, job)
                    except Exception:
                        log.exception("ending job %d failed", job_id)
                if job.state is not JobState.RUN:
                    continue
                try:
                    self._ingest(job_id)
                    # A paced read for followers is still under way: judge the job once the
                    # log is read (reading it whole now would flood the followers).
                    pacing = self.pacer.pending(job_id)
                    if job_id in self.active and not job.finished and not pacing:
                        self._recover_running(job_id, job)
                except Exception:  # one job's trouble must not stop the safety net for all
                    log.exception("checking job %d failed", job_id)
            self.link.reap()
