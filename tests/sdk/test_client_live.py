"""SDK behaviour against a real ``flux-restful serve`` (one body for Client and AsyncClient)."""

from __future__ import annotations

import sys

import pytest

from flux_restful_client import InvalidRequestError, JobInfo, NotFoundError

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", code]


async def test_submit_wait_and_read_output(runner, server):
    client = runner.client(host=server.url)
    job_id = await runner.call(
        client, "submit_job", py("print('hello'); print('world')"), name="greet"
    )
    assert isinstance(job_id, int)
    info = await runner.call(client, "wait", job_id, timeout=30)
    assert isinstance(info, JobInfo)
    assert (info.id, info.state, info.result, info.returncode) == (
        job_id,
        "INACTIVE",
        "COMPLETED",
        0,
    )
    assert info.name == "greet"
    assert await runner.call(client, "get_output", job_id) == ["hello\n", "world\n"]
    assert job_id in [job.id for job in await runner.call(client, "list_jobs")]
    await runner.close(client)


async def test_failed_job_reports_its_return_code(runner, server):
    client = runner.client(host=server.url)
    job_id = await runner.call(client, "submit_job", py("import sys; sys.exit(3)"))
    info = await runner.call(client, "wait", job_id, timeout=30)
    assert (info.result, info.returncode) == ("FAILED", 3)
    await runner.close(client)


async def test_upstream_methods_return_upstream_json(runner, server):
    client = runner.client(host=server.url)
    submitted = await runner.call(client, "submit", command=["sleep", 30])
    assert submitted["Message"] == "Job submit."
    job_id = submitted["id"]
    assert isinstance(job_id, int)
    listing = await runner.call(client, "jobs")
    assert job_id in [job["id"] for job in listing["jobs"]]
    info = await runner.call(client, "jobs", job_id)
    assert info["id"] == job_id and info["state"] in {"DEPEND", "PRIORITY", "SCHED", "RUN"}
    detailed = await runner.call(client, "jobs", detail=True)
    assert str(job_id) in detailed
    as_list = await runner.call(client, "jobs", detail=True, listing=True)
    assert job_id in [job["id"] for job in as_list]
    found = await runner.call(client, "search", "sleep")
    assert set(found) >= {"data", "draw", "recordsTotal", "recordsFiltered"}
    assert job_id in [job["id"] for job in found["data"]]
    nodes = await runner.call(client, "list_nodes")
    assert isinstance(nodes["nodes"], list) and nodes["nodes"]
    cancelled = await runner.call(client, "cancel", job_id)
    assert cancelled == {"Message": "Job is requested to cancel.", "id": job_id}
    info = await runner.call(client, "wait", job_id, timeout=30)
    assert info.result == "CANCELED"
    await runner.close(client)


async def test_upstream_submit_returns_a_404s_reason(runner, server, capsys):
    # Upstream's client printed its "no job" notice and returned None for any 404 of a submit;
    # here the only one is a dependency on a job that does not exist, and the reason is kept.
    client = runner.client(host=server.url)
    answer = await runner.call(client, "submit", "true", dependency="afterok:999999")
    assert answer["code"] == "not_found"
    assert "job 999999 not found" in answer["detail"]
    assert "There is no job for that identifier." not in capsys.readouterr().out
    await runner.close(client)


async def test_unknown_job_is_none_upstream_style_and_not_found_typed(runner, server, capsys):
    client = runner.client(host=server.url)
    assert await runner.call(client, "jobs", 123456789) is None
    assert "There is no job for that identifier." in capsys.readouterr().out
    with pytest.raises(NotFoundError) as info:
        await runner.call(client, "get_job", 123456789)
    assert info.value.status_code == 404
    await runner.close(client)


async def test_bad_input_is_a_clear_error(runner, server):
    client = runner.client(host=server.url)
    with pytest.raises(InvalidRequestError, match="'abc' is not a valid job id"):
        await runner.call(client, "get_job", "abc")
    with pytest.raises(InvalidRequestError, match="Runtime must be >= 0"):
        await runner.call(client, "submit_job", "true", runtime=-1)
    refused = await runner.call(client, "submit", "true", runtime=-1)
    assert refused["Message"] == "Invalid submit request"
    with pytest.raises(InvalidRequestError, match="num_tasks must be an integer"):
        await runner.call(client, "submit_job", "true", num_tasks="two")
    with pytest.raises(TypeError, match="unexpected keyword"):
        await runner.call(client, "submit_job", "true", bogus=1)
    await runner.close(client)


async def test_stream_output_yields_lines(runner, server):
    client = runner.client(host=server.url)
    job_id = await runner.call(
        client,
        "submit_job",
        py("import time\nfor i in range(3):\n print(i, flush=True); time.sleep(0.1)"),
    )
    assert await runner.collect(client, "stream_output", job_id) == ["0", "1", "2"]
    await runner.close(client)


async def test_frames_and_lines_follow_a_job_to_its_end(runner, server):
    client = runner.client(host=server.url)
    code = (
        "import sys\nprint('out', flush=True)\n"
        "print('err', file=sys.stderr, flush=True)\nsys.exit(2)"
    )
    job_id = await runner.call(client, "submit_job", py(code))
    frames = await runner.collect(client, "iter_frames", job_id)
    seqs = [f.seq for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    output = [(f.stream, f.data) for f in frames if f.type == "output"]
    assert output == [("stdout", "out\n"), ("stderr", "err\n")]
    assert any(f.type == "state" for f in frames)
    end = frames[-1]
    assert (end.type, end.state, end.returncode) == ("end", "INACTIVE", 2)
    # resuming from the middle gives exactly the rest
    middle = frames[len(frames) // 2]
    rest = await runner.collect(client, "iter_frames", job_id, since=middle.seq)
    assert [f.seq for f in rest] == [f.seq for f in frames if f.seq > middle.seq]
    lines = await runner.collect(client, "iter_lines", job_id)
    assert [(line.stream, line.rank, line.data) for line in lines] == [
        ("stdout", 0, "out\n"),
        ("stderr", 0, "err\n"),
    ]
    await runner.close(client)


async def test_event_feed_shows_a_new_job(runner, server):
    client = runner.client(host=server.url)
    job_id = await runner.call(client, "submit_job", "true")
    await runner.call(client, "wait", job_id, timeout=30)
    events = await runner.collect(
        client, "iter_events", since=0, until=lambda e: (e.id, e.state) == (job_id, "INACTIVE")
    )
    seen = [(event.id, event.state) for event in events]
    seqs = [event.seq for event in events]
    assert seqs == sorted(set(seqs))
    assert (job_id, "INACTIVE") in seen
    await runner.close(client)


async def test_wait_times_out(runner, server):
    client = runner.client(host=server.url)
    job_id = await runner.call(client, "submit_job", "sleep 30")
    with pytest.raises(TimeoutError, match=f"job {job_id}"):
        await runner.call(client, "wait", job_id, timeout=0.5)
    await runner.call(client, "cancel_job", job_id)
    await runner.close(client)


async def test_context_managers_close_the_client(server):
    from flux_restful_client import AsyncClient, AsyncFluxRestfulClient, Client, FluxRestfulClient

    for sync_cls in (Client, FluxRestfulClient):
        with sync_cls(host=server.url) as client:
            assert client.get_nodes()
        assert client._http.is_closed
    for async_cls in (AsyncClient, AsyncFluxRestfulClient):
        async with async_cls(host=server.url) as aclient:
            assert await aclient.get_nodes()
        assert aclient._http.is_closed


async def test_nodes_carry_their_resources(runner, server):
    client = runner.client(host=server.url)
    (node,) = await runner.call(client, "get_nodes")
    assert node.name
    assert node.cores == 2  # the fixture's server: one node of 2 cores
    assert node.gpus == 0
    assert node.free_cores is not None and 0 <= node.free_cores <= 2
    await runner.close(client)


async def test_a_submit_too_long_for_a_url_goes_as_a_json_body_to_our_server(runner, server):
    client = runner.client(host=server.url)
    word = "x" * 10_000  # past the 6,000 bytes the SDK sends in a URL
    job_id = await runner.call(
        client, "submit_job", ["sh", "-c", 'printf "%s\\n" "$0" | wc -c', word]
    )
    info = await runner.call(client, "wait", job_id, timeout=30)
    assert info.returncode == 0
    assert [line.strip() for line in await runner.call(client, "get_output", job_id)] == ["10001"]
    await runner.close(client)
