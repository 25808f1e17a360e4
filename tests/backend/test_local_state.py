"""Unit tests of the local executor's state reducer and scheduler, both pure.

The API tests drive them through real servers; these pin down what one event does to a job's
record and which queued jobs start, without a server, a store or a clock.
"""

from __future__ import annotations

from typing import Any

from flux_restful_server.domain.events import JobEvent
from flux_restful_server.domain.request import JobRequest
from flux_restful_server.domain.states import JobResult, JobState
from flux_restful_server.executors.local.reducer import NOTHING, Progress, apply_event, job_result
from flux_restful_server.executors.local.resources import Allocation, Cluster
from flux_restful_server.executors.local.scheduler import JobQueue

NAMES = ["node0", "node1"]


def event(name: str, t: float = 100.0, **context: Any) -> JobEvent:
    return JobEvent(1, 0, name, t, context)


def run(job: Progress, *events: JobEvent) -> tuple[dict[str, Any], list[Any]]:
    """Apply events in order as one batch; return the column changes and the effects."""
    changes: dict[str, Any] = {}
    effects = [apply_event(job, ev, NAMES, changes) for ev in events]
    return changes, effects


def alloc_json(cores: dict[int, int], ranks: list[int]) -> dict[str, object]:
    return Allocation(cores, dict.fromkeys(cores, 0), ranks).to_json()


# -- the reducer ----------------------------------------------------------------------------------
def test_submit_to_priority_queues_the_job_with_its_priority_and_again_on_a_new_one():
    job = Progress(JobState.NEW, 16)
    changes, effects = run(
        job,
        event("submit"),
        event("validate", 1.0),
        event("depend"),
        event("priority", priority=20),
    )
    assert job.state is JobState.SCHED and job.priority == 20
    assert changes == {"state": int(JobState.SCHED), "t_depend": 1.0, "priority": 20}
    assert [e.queue for e in effects] == [False, False, False, True]
    # A second priority event (a new urgency) queues it again at its new place; the scheduler
    # drops the old entry as stale when it comes up.
    _, again = run(job, event("priority", priority=5))
    assert job.priority == 5 and [e.queue for e in again] == [True]
    # A started job's priority event changes nothing in the queue.
    job.state = JobState.RUN
    _, late = run(job, event("priority", priority=7))
    assert late == [NOTHING]


def test_alloc_records_the_resources_as_job_list_shows_them_and_takes_them_once():
    job = Progress(JobState.SCHED, 16)
    ctx = {"alloc": alloc_json({0: 2, 1: 1}, [0, 0, 1]), "duration": 60.0}
    changes, (effect,) = run(job, event("alloc", 100.0, **ctx))
    assert job.state is JobState.RUN and job.expiration == 160.0
    assert {k: changes[k] for k in ("t_run", "nnodes", "ncores", "ranks", "nodelist")} == {
        "t_run": 100.0,
        "nnodes": 2,
        "ncores": 3,
        "ranks": "0-1",
        "nodelist": "node[0-1]",
    }
    assert changes["expiration"] == 160.0
    assert effect.take == job.alloc and effect.take is not None
    # Re-applying it (a recovered job whose allocation was already taken) takes nothing.
    _, (again,) = run(job, event("alloc", 100.0, **ctx))
    assert again.take is None


def test_alloc_without_a_time_limit_has_no_expiration():
    job = Progress(JobState.SCHED, 16)
    changes, _ = run(job, event("alloc", alloc=alloc_json({0: 1}, [0]), duration=0))
    assert changes["expiration"] is None and job.expiration == 0.0


def test_only_the_first_exception_is_recorded_and_a_fatal_one_ends_a_queued_job():
    job = Progress(JobState.SCHED, 16)
    changes, _ = run(
        job,
        event("exception", 5.0, type="cancel", severity=0, note="by user"),
        event("exception", 6.0, type="timeout", severity=0, note="later"),
    )
    assert job.state is JobState.CLEANUP
    assert changes["exception_type"] == "cancel" and changes["exception_note"] == "by user"
    assert changes["t_cleanup"] == 5.0  # the first fatal one ended it; the second changes nothing


def test_a_non_fatal_exception_is_recorded_but_changes_no_state():
    job = Progress(JobState.RUN, 16)
    changes, _ = run(job, event("exception", type="warning", severity=3, note="n"))
    assert job.state is JobState.RUN and "state" not in changes
    assert changes["exception_severity"] == 3


def test_finish_ends_the_tasks_and_free_gives_the_resources_back_then_schedules():
    job = Progress(JobState.RUN, 16, alloc=Allocation({0: 1}, {0: 0}, [0]))
    held = job.alloc
    changes, (fin,) = run(job, event("finish", 9.0, status=256))
    assert fin == NOTHING and job.finished and job.state is JobState.CLEANUP
    assert changes["waitstatus"] == 256
    _, (release, free) = run(job, event("release", ranks="all", final=True), event("free"))
    assert release == NOTHING
    assert free.release is held and free.schedule and job.alloc is None
    _, (twice,) = run(job, event("free"))
    assert twice == NOTHING  # nothing held any more: nothing to give back


def test_clean_records_the_result_flux_would():
    done = Progress(JobState.CLEANUP, 16, finished=True, waitstatus=0)
    changes, _ = run(done, event("clean", 10.0))
    assert changes == {
        "state": int(JobState.INACTIVE),
        "t_inactive": 10.0,
        "result": int(JobResult.COMPLETED),
        "success": 1,
    }
    assert done.state is JobState.INACTIVE


def test_result_precedence_cancel_then_timeout_then_exit_status():
    assert job_result(Progress(JobState.CLEANUP, 16, waitstatus=0)) is JobResult.COMPLETED
    assert job_result(Progress(JobState.CLEANUP, 16, waitstatus=256)) is JobResult.FAILED
    assert job_result(Progress(JobState.CLEANUP, 16)) is JobResult.FAILED  # never finished
    cancelled = Progress(JobState.CLEANUP, 16, exception=True, exception_type="cancel")
    assert job_result(cancelled) is JobResult.CANCELED
    timed_out = Progress(
        JobState.CLEANUP, 16, exception=True, exception_type="timeout", waitstatus=0
    )
    assert job_result(timed_out) is JobResult.TIMEOUT
    lost = Progress(JobState.CLEANUP, 16, exception=True, exception_type="lost", waitstatus=0)
    assert job_result(lost) is JobResult.FAILED


def test_a_whole_life_from_submit_to_clean():
    job = Progress(JobState.NEW, 16)
    changes, _ = run(
        job,
        event("submit", 1.0),
        event("validate", 1.0),
        event("depend", 1.0),
        event("priority", 1.0, priority=16),
        event("alloc", 2.0, alloc=alloc_json({0: 1}, [0]), duration=0),
        event("start", 2.1),
        event("finish", 3.0, status=0),
        event("release", 3.1, ranks="all", final=True),
        event("free", 3.1),
        event("clean", 3.2),
    )
    assert changes["state"] == int(JobState.INACTIVE)
    assert (changes["t_run"], changes["t_cleanup"], changes["t_inactive"]) == (2.0, 3.0, 3.2)
    assert changes["result"] == int(JobResult.COMPLETED) and job.alloc is None


# -- the scheduler --------------------------------------------------------------------------------
class Jobs:
    """Queued jobs as the executor knows them: priority and request by id."""

    def __init__(self) -> None:
        self.waiting: dict[int, tuple[int, JobRequest]] = {}
        self.queue = JobQueue()
        self.asked: list[int] = []

    def add(self, job_id: int, priority: int = 16, **fields: Any) -> None:
        self.waiting[job_id] = (priority, JobRequest(("true",), **fields))
        self.queue.push(job_id, priority)

    def priority(self, job_id: int) -> int | None:
        found = self.waiting.get(job_id)
        return None if found is None else found[0]

    def request(self, job_id: int) -> JobRequest:
        self.asked.append(job_id)
        return self.waiting[job_id][1]

    def start(self, cluster: Cluster) -> list[int]:
        started = []
        for job_id, _, _ in self.queue.starts(cluster, self.priority, self.request):
            del self.waiting[job_id]
            started.append(job_id)
        return started


def cluster(nodes: int = 2, cores: int = 2) -> Cluster:
    return Cluster(nodes, cores, 0, names=[f"node{i}" for i in range(nodes)])


def test_jobs_start_in_priority_then_id_order_while_they_fit():
    jobs, c = Jobs(), cluster()
    jobs.add(3, priority=16, num_tasks=2)
    jobs.add(1, priority=16, num_tasks=1)
    jobs.add(2, priority=31, num_tasks=1)
    assert jobs.start(c) == [2, 1, 3]
    assert c.free_cores == [0, 0]


def test_nothing_overtakes_the_head_of_the_queue():
    jobs, c = Jobs(), cluster()
    jobs.add(1, num_tasks=3)  # fits now
    jobs.add(2, num_tasks=4)  # needs the whole cluster: waits
    jobs.add(3, num_tasks=1)  # would fit beside job 1, but must not overtake job 2
    assert jobs.start(c) == [1]
    assert jobs.asked == [1, 2]  # job 3's request is not even read
    c.release(Allocation({0: 2, 1: 1}, {0: 0, 1: 0}, [0, 0, 1]))
    assert jobs.start(c) == [2]
    assert jobs.start(c) == []


def test_held_jobs_wait_without_holding_back_the_others():
    jobs, c = Jobs(), cluster()
    jobs.add(1, priority=0)  # held: sorts last
    jobs.add(2, priority=16)
    assert jobs.start(c) == [2]
    assert 1 in jobs.waiting and len(jobs.queue) == 1


def test_jobs_that_no_longer_wait_are_dropped_from_the_queue():
    jobs, c = Jobs(), cluster()
    jobs.add(1)
    jobs.add(2)
    del jobs.waiting[1]  # cancelled while queued
    assert jobs.start(c) == [2]
    assert len(jobs.queue) == 0 and jobs.asked == [2]


def test_each_start_sees_what_the_previous_one_took():
    jobs, c = Jobs(), cluster(nodes=1, cores=2)
    jobs.add(1, num_tasks=1)
    jobs.add(2, num_tasks=1)
    jobs.add(3, num_tasks=1)
    picks = jobs.queue.starts(c, jobs.priority, jobs.request)
    first = next(picks)
    assert first[0] == 1 and c.free_cores == [1]  # taken before the caller starts it
    del jobs.waiting[1]
    assert [p[0] for p in picks] == [2]
    assert c.free_cores == [0]
