"""The typed eventlog and labelled-output calls (one body for Client and AsyncClient)."""

from __future__ import annotations

import sys

import pytest

from flux_restful_client import JobEvent, NotFoundError, OutputLine


async def test_job_events_and_labelled_output_of_a_finished_job(runner, server):
    client = runner.client(host=server.url)
    code = "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True)"
    job_id = await runner.call(client, "submit_job", [sys.executable, "-c", code])
    await runner.call(client, "wait", job_id, timeout=30)

    events = await runner.call(client, "get_job_events", job_id)
    assert all(isinstance(e, JobEvent) for e in events)
    names = [e.name for e in events]
    assert names[0] == "submit"
    assert "start" in names and "finish" in names
    stamps = [e.timestamp for e in events]
    assert all(isinstance(t, float) for t in stamps) and stamps == sorted(stamps)
    finish = next(e for e in events if e.name == "finish")
    assert finish.context.get("status") == 0

    lines = await runner.call(client, "get_labelled_output", job_id)
    assert all(isinstance(line, OutputLine) for line in lines)
    assert {(line.data, line.stream) for line in lines} == {
        ("out\n", "stdout"),
        ("err\n", "stderr"),
    }
    assert all(line.rank == 0 for line in lines)


async def test_unknown_job_is_not_found(runner, server):
    client = runner.client(host=server.url)
    with pytest.raises(NotFoundError):
        await runner.call(client, "get_job_events", 987654321)
    with pytest.raises(NotFoundError):
        await runner.call(client, "get_labelled_output", 987654321)


def test_cli_config_is_public():
    from flux_restful_client.cli import CliConfig

    assert CliConfig.__module__.startswith("flux_restful_client.cli")
