"""The flux executor against a real Flux instance (run inside `flux start`; see docs/flux.md)."""

from __future__ import annotations

import asyncio
import os

import pytest

from flux_restful_server.domain.errors import (
    JobInactive,
    JobNotFound,
    SubmitRefused,
    UnsatisfiableRequest,
)
from flux_restful_server.domain.events import JobEvent, OutputLine
from flux_restful_server.domain.owner import Owner
from flux_restful_server.domain.query import JobFilter, Page
from flux_restful_server.domain.request import JobRequest
from flux_restful_server.domain.states import JobResult, JobState
from flux_restful_server.executors.flux import FluxExecutor, FluxUnavailable, flux_available
from flux_restful_server.settings import Settings

FLUX_OK, FLUX_WHY = flux_available()
pytestmark = [
    pytest.mark.flux,
    pytest.mark.skipif(not FLUX_OK, reason=f"no Flux instance: {FLUX_WHY[:200]}"),
]


@pytest.fixture
async def ex(tmp_path):
    settings = Settings(state_dir=tmp_path, executor="flux", option_flags={"verbose": "0"})
    executor = FluxExecutor(settings)
    await executor.start()
    try:
        yield executor
    finally:
        await executor.stop()


async def run_log(ex, job_id, since=0, timeout=30.0):
    entries = []

    async def collect():
        async for batch in ex.log(job_id, since):
            entries.extend(batch)

    await asyncio.wait_for(collect(), timeout)
    return entries


async def wait_inactive(ex, job_id, timeout=30.0):
    await run_log(ex, job_id, timeout=timeout)
    return await ex.info(job_id)


async def test_job_runs_and_its_log_merges_events_and_labelled_output(ex):
    req = JobRequest(("sh", "-c", "echo out-$FLUX_TASK_RANK; echo err >&2"), num_tasks=2)
    job_id = await ex.submit(req, Owner(user="alice"))
    entries = await run_log(ex, job_id)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    names = [e.name for e in entries if isinstance(e, JobEvent)]
    assert names[0] == "submit" and names[-1] == "clean"
    assert {"alloc", "start", "finish"} <= set(names)
    assert entries[-1].state is JobState.INACTIVE
    out = {(e.stream, e.rank, e.data) for e in entries if isinstance(e, OutputLine)}
    assert out == {("stdout", 0, b"out-0\n"), ("stdout", 1, b"out-1\n"),
                   ("stderr", 0, b"err\n"), ("stderr", 1, b"err\n")}  # fmt: skip
    info = await ex.info(job_id)
    assert info["state"] == JobState.INACTIVE and info["result"] == JobResult.COMPLETED
    assert info["user"] == "alice" and info["ntasks"] == 2


async def test_resume_gives_the_same_entries_without_gaps(ex):
    job_id = await ex.submit(JobRequest(("seq", "1", "5")), Owner())
    full = await run_log(ex, job_id)
    assert await run_log(ex, job_id, since=3) == full[3:]
    assert await run_log(ex, job_id, since=len(full)) == []
    # A fresh executor (another worker, or after a restart) numbers a finished job the same way.
    other = FluxExecutor(ex.settings)
    await other.start()
    try:
        again = await run_log(other, job_id)
    finally:
        await other.stop()
    assert [(type(e), e.seq) for e in again] == [(type(e), e.seq) for e in full]
    assert [e.data for e in again if isinstance(e, OutputLine)] == [
        b"%d\n" % i for i in range(1, 6)
    ]


async def test_following_right_after_submit_sees_all_output(ex):
    job_id = await ex.submit(JobRequest(("echo", "early")), Owner())
    entries = await run_log(ex, job_id)
    assert [e.data for e in entries if isinstance(e, OutputLine)] == [b"early\n"]
    assert [e.data for e in await ex.output(job_id)] == [b"early\n"]
    events = await ex.eventlog(job_id)
    assert events[0].name == "submit" and events[-1].name == "clean"


async def test_every_request_field_reaches_the_jobspec(ex, tmp_path):
    req = JobRequest(
        ("sh", "-c", 'echo "$GREETING" "$(pwd)"'),
        num_tasks=2, cores_per_task=1, num_nodes=2, exclusive=True,
        option_flags={"cpu-affinity": "off"}, envars={"GREETING": "pancakes"},
        workdir=str(tmp_path), runtime=60, name="breakfast", urgency=20,
    )  # fmt: skip
    job_id = await ex.submit(req, Owner(user="bob"))
    info = await wait_inactive(ex, job_id)
    assert info["name"] == "breakfast" and info["urgency"] == 20
    assert info["duration"] == 60 and info["cwd"] == str(tmp_path)
    assert info["nnodes"] == 2 and info["result"] == JobResult.COMPLETED
    lines = {e.data for e in await ex.output(job_id)}
    assert lines == {f"pancakes {tmp_path}\n".encode()}


async def test_cancel_running_job_then_inactive_and_unknown(ex):
    job_id = await ex.submit(JobRequest(("sleep", "60")), Owner())
    await ex.cancel(job_id)
    info = await wait_inactive(ex, job_id)
    assert info["result"] == JobResult.CANCELED
    with pytest.raises(JobInactive):
        await ex.cancel(job_id)
    with pytest.raises(JobNotFound):
        await ex.cancel(123456)
    with pytest.raises(JobNotFound):
        await ex.info(123456)


async def test_requests_that_never_fit_are_refused(ex):
    with pytest.raises(UnsatisfiableRequest, match="only has 4 nodes"):
        await ex.submit(JobRequest(("true",), num_tasks=5, num_nodes=5), Owner())
    with pytest.raises(UnsatisfiableRequest):
        await ex.submit(JobRequest(("true",), cores_per_task=1000), Owner())
    with pytest.raises(SubmitRefused, match="exclusive"):
        await ex.submit(JobRequest(("true",), exclusive=True), Owner())


async def test_listing_filters_and_pages_newest_first(ex):
    ids = [await ex.submit(JobRequest(("true",), name=f"lst-{i}"), Owner(user="carol"))
           for i in range(12)]  # fmt: skip
    for job_id in ids:
        await wait_inactive(ex, job_id)
    mine = JobFilter(owner="carol")
    records = await ex.query(mine, Page())
    assert [r["id"] for r in records][:12] == sorted(ids, reverse=True)
    assert all(r["user"] == "carol" for r in records)
    page = await ex.query(mine, Page(limit=5, offset=2))
    assert [r["id"] for r in page] == sorted(ids, reverse=True)[2:7]
    after = await ex.query(mine, Page(limit=3, after=ids[5]))
    assert [r["id"] for r in after] == [ids[4], ids[3], ids[2]]
    assert await ex.count(JobFilter(owner="carol", name="LST-1")) == 3  # lst-1, lst-10, lst-11
    found = await ex.query(JobFilter(owner="carol", text="lst-11"), Page())
    assert [r["id"] for r in found] == [ids[11]]
    done = JobFilter(owner="carol", states=frozenset({JobState.INACTIVE}))
    assert await ex.count(done) >= 12
    assert await ex.count(JobFilter(owner="nobody-at-all")) == 0


async def test_feed_replays_then_follows_and_resumes(ex):
    seen: list[JobEvent] = []
    job_id = await ex.submit(JobRequest(("true",)), Owner(user="dave"))

    async def follow():
        async for batch in ex.feed(0):
            seen.extend(batch)
            if any(e.job_id == job_id and e.name == "clean" for e in batch):
                return

    await asyncio.wait_for(follow(), 30)
    mine = [e for e in seen if e.job_id == job_id]
    assert [e.name for e in mine][0] == "submit" and mine[-1].state is JobState.INACTIVE
    assert all(e.user == "dave" for e in mine)
    seqs = [e.feed_seq for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    cut = mine[2].feed_seq

    async def first_after():
        async for batch in ex.feed(cut):
            return batch

    batch = await asyncio.wait_for(first_after(), 10)
    assert batch[0].feed_seq > cut


async def test_nodes_and_limits_come_from_flux(ex):
    nodes = await ex.nodes()
    size = int(os.environ.get("FLUX_TEST_SIZE", len(nodes)))
    assert len(nodes) == size and all(n.up and n.cores >= 1 for n in nodes)
    assert ex.limits().nodes == len(nodes)
    assert ex.limits().cores_per_node == max(n.cores for n in nodes)


async def test_unreachable_instance_is_a_clear_start_error(tmp_path):
    bad = FluxExecutor(Settings(state_dir=tmp_path), uri=f"local://{tmp_path}/nothing")
    with pytest.raises(FluxUnavailable, match="FLUX_URI"):
        await bad.start()


async def test_summary_listing_agrees_with_full_records(ex):
    job_id = await ex.submit(JobRequest(("true",), name="summed"), Owner(user="erin"))
    await wait_inactive(ex, job_id)
    mine = JobFilter(owner="erin")
    [short] = await ex.query(mine, Page(limit=1), summary=True)
    [full] = await ex.query(mine, Page(limit=1))
    keys = ("id", "state", "result", "name", "user", "t_submit")
    assert {k: short[k] for k in keys} == {k: full[k] for k in keys}
    assert short["name"] == "summed" and short["result"] == JobResult.COMPLETED


async def test_kept_summary_rows_move_with_every_change(ex):
    """The API keeps a summary row per revision: one revision never stands for two summaries."""
    mine = JobFilter(owner="frank")
    ids = [await ex.submit(JobRequest(("true",)), Owner(user="frank")) for _ in range(3)]
    seen: dict[tuple[int, int], dict] = {}
    while True:
        assert await ex.query_ids(mine, Page()) == sorted(ids, reverse=True)
        revisions = ex.row_revisions(ids, summary=True)
        rows = await ex.query(JobFilter(ids=frozenset(ids)), Page(), summary=True)
        for row in rows:
            revision = revisions[ids.index(row["id"])]
            if revision is not None:
                assert seen.setdefault((revision, row["id"]), row) == row
        if all(r["state"] == JobState.INACTIVE for r in rows) and len(rows) == len(ids):
            break
        await asyncio.sleep(0.01)
    assert all(r is not None for r in ex.row_revisions(ids, summary=True))
    assert ex.row_revisions(ids) == [None, None, None]  # full records: job-list may be ahead
    assert (
        await ex.query_ids(JobFilter(owner="frank", text="true"), Page(limit=2))
        == sorted(ids, reverse=True)[:2]
    )
