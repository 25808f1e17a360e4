"""Our SDK (Client and AsyncClient) against the real upstream server 1.1.0 on a real Flux.

Upstream's server runs from its PyPI release in a venv of its own, as the initial program of its
own ``flux start --test-size=2`` (see tests/upstream_server.py for what it needs and why a test
skips). Each module-scoped server is shared by the tests, with auth off and with the Flux
Operator's shared-secret handshake on; every test only looks at the jobs it submitted.
"""

from __future__ import annotations

from typing import Any

import pytest

from flux_restful_client import AuthError, InvalidRequestError, NotFoundError, UnsupportedByServer
from tests.upstream_server import UpstreamServer

pytestmark = [pytest.mark.flux, pytest.mark.xdist_group("real-upstream")]


# The job reads its envars and writes to both streams from its workdir, on both tasks.
SCRIPT = "echo out $PANCAKES $WAFFLES $(pwd); echo err $FLUX_TASK_RANK >&2"


def connect(runner: Any, real_upstream: UpstreamServer, **kwargs: Any) -> Any:
    """A client configured the way a Flux Operator user configures one."""
    if real_upstream.auth:
        kwargs.setdefault("user", real_upstream.user)
        kwargs.setdefault("token", real_upstream.password)
        kwargs.setdefault("secret_key", real_upstream.secret)
    return runner.client(host=real_upstream.url, **kwargs)


async def test_submit_with_every_field_then_read_it_back(runner, real_upstream, tmp_path):
    client = connect(runner, real_upstream)
    job_id = await runner.call(
        client,
        "submit_job",
        ["sh", "-c", SCRIPT],
        num_tasks=2,
        cores_per_task=1,
        num_nodes=1,
        exclusive=True,
        option_flags={"cpu-affinity": "off"},
        workdir=str(tmp_path),
        runtime=120,
        is_launcher=False,
        envars={"PANCAKES": "yes", "WAFFLES": 2},
    )
    assert isinstance(job_id, int)
    info = await runner.call(client, "wait", job_id, timeout=60)
    assert (info.id, info.state, info.result, info.returncode) == (
        job_id,
        "INACTIVE",
        "COMPLETED",
        0,
    )
    raw = info.raw
    assert (raw["ntasks"], raw["nnodes"], raw["cwd"], raw["duration"]) == (
        2,
        1,
        str(tmp_path),
        120.0,
    )
    assert info.name == "sh"
    output = await runner.call(client, "get_output", job_id)
    assert sorted(output) == sorted([f"out yes 2 {tmp_path}\n"] * 2 + ["err 0\n", "err 1\n"])
    assert await runner.call(client, "output", job_id) == {"Output": output}
    assert job_id in [job.id for job in await runner.call(client, "list_jobs")]
    got = await runner.call(client, "get_job", job_id)
    assert (got.id, got.result) == (job_id, "COMPLETED")
    found = await runner.call(client, "search", str(job_id))
    assert job_id in [job["id"] for job in found["data"]]
    await runner.close(client)


async def test_stream_output_follows_a_running_job(runner, real_upstream):
    client = connect(runner, real_upstream)
    job_id = await runner.call(
        client, "submit_job", "sh -c 'for i in 1 2 3; do echo line $i; sleep 0.2; done'"
    )
    lines = await runner.collect(client, "stream_output", job_id)
    assert lines == ["line 1", "line 2", "line 3"]
    await runner.close(client)


async def test_cancel_a_running_job(runner, real_upstream):
    client = connect(runner, real_upstream)
    job_id = await runner.call(client, "submit_job", "sleep 120")
    answer = await runner.call(client, "cancel_job", job_id)
    assert answer["Message"] == "Job is requested to cancel."
    info = await runner.call(client, "wait", job_id, timeout=60)
    assert info.result == "CANCELED"
    with pytest.raises(InvalidRequestError, match="Job cannot be cancelled"):
        await runner.call(client, "cancel_job", job_id)
    await runner.close(client)


async def test_nodes_and_upstream_style_listing(runner, real_upstream):
    client = connect(runner, real_upstream)
    assert [node.name for node in await runner.call(client, "get_nodes")]
    assert (await runner.call(client, "list_nodes"))["nodes"]
    submitted = await runner.call(client, "submit", command=["true"])
    assert submitted["Message"] == "Job submit."
    await runner.call(client, "wait", submitted["id"], timeout=60)
    listing = await runner.call(client, "jobs")
    assert submitted["id"] in [job["id"] for job in listing["jobs"]]
    await runner.close(client)


async def test_refusals_are_errors_with_upstreams_reason(runner, real_upstream, capsys):
    client = connect(runner, real_upstream)
    with pytest.raises(InvalidRequestError, match="does not support gpus"):
        await runner.call(client, "submit_job", "true", gpus_per_task=1)
    with pytest.raises(NotFoundError):
        await runner.call(client, "get_job", 123456789)
    assert await runner.call(client, "jobs", 123456789) is None
    assert "There is no job for that identifier." in capsys.readouterr().out
    with pytest.raises(InvalidRequestError, match="not a valid job id"):
        await runner.call(client, "get_job", "abc")
    await runner.close(client)


async def test_auth_info_and_login(runner, real_upstream):
    client = connect(runner, real_upstream)
    info = await runner.call(client, "auth_info")
    if not real_upstream.auth:
        assert info == {
            "backend": "none",
            "password_login": False,
            "shared_secret_handshake": False,
        }
        assert (await runner.call(client, "list_nodes"))["nodes"]
        await runner.close(client)
        return
    assert info == {
        "backend": "shared-secret",
        "password_login": True,
        "shared_secret_handshake": True,
    }
    assert await runner.call(client, "login")
    assert (await runner.call(client, "list_nodes"))["nodes"]
    wrong = connect(runner, real_upstream, token="wrong-password")
    with pytest.raises(AuthError, match="Incorrect user or password"):
        await runner.call(wrong, "get_nodes")
    nobody = runner.client(host=real_upstream.url)
    with pytest.raises(AuthError):
        await runner.call(nobody, "get_nodes")
    await runner.close(client)


async def test_knows_the_server_follows_lines_and_says_what_it_lacks(runner, real_upstream):
    client = connect(runner, real_upstream)
    server = await runner.call(client, "server_info")
    assert server.is_upstream and str(server).startswith("upstream flux-restful-api (1.1.0")
    job_id = await runner.call(
        client, "submit_job", ["sh", "-c", 'for i in 1 2 3; do echo "line $i"; sleep 0.2; done']
    )
    lines = await runner.collect(client, "iter_lines", job_id)
    assert [line.data for line in lines] == ["line 1\n", "line 2\n", "line 3\n"]
    assert [j.id for j in await runner.call(client, "list_jobs", state="completed", limit=50)]
    with pytest.raises(UnsupportedByServer, match="event feed"):
        await runner.collect(client, "iter_events")
    with pytest.raises(UnsupportedByServer, match="eventlogs"):
        await runner.call(client, "get_job_events", job_id)
    await runner.close(client)
