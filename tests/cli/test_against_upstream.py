"""Every flux-restful-cli command against an upstream-shaped 1.1.0 server, with and without auth.

The same commands run against the real upstream 1.1.0 on real Flux in
``tests/sdk/test_real_upstream.py`` (``just test-flux``).
"""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Cli
from tests.conftest import wait_for

AUTH_ENV = {"FLUX_USER": "fluxuser", "FLUX_TOKEN": "12345", "FLUX_SECRET_KEY": "notsecrethoo"}


@pytest.fixture
def ucli(home, upstream) -> Cli:
    cli = Cli(home, upstream.url)
    if upstream.auth:
        cli.env.update(AUTH_ENV)
    return cli


def _submit(ucli: Cli, *args: str) -> int:
    out = ucli("submit", *args)
    assert out.returncode == 0, out.stderr
    return int(json.loads(out.stdout)["id"])


def test_the_issue_repro_submit_with_env_reaches_the_job(ucli, upstream):
    job = _submit(ucli, "--env", "A=b", "sh", "-c", "echo $A")
    wait_for(lambda: upstream.jobs[job].state == "INACTIVE")
    assert upstream.jobs[job].output == ["b\n"]
    out = ucli("logs", str(job))
    assert (out.returncode, out.stdout) == (0, "b\n")


def test_submit_follow_prints_the_output_and_exits_with_the_job_code(ucli):
    out = ucli("submit", "--follow", "--env", "A=b c", "--", "sh", "-c", 'echo "$A"; exit 3')
    assert (out.returncode, out.stdout) == (3, "b c\n"), out.stderr
    assert "Submitted job" in out.stderr and "Traceback" not in out.stderr


def test_info_list_nodes_cancel_wait(ucli):
    sleeper = _submit(ucli, "sleep", "30")
    info = ucli("info", str(sleeper))
    assert info.returncode == 0 and json.loads(info.stdout)["id"] == sleeper
    listed = ucli("list-jobs", "--json")
    assert sleeper in [j["id"] for j in json.loads(listed.stdout)["jobs"]]
    table = ucli("list-jobs", "--output", "table")
    assert table.returncode == 0 and str(sleeper) in table.stdout, table.stderr
    nodes = ucli("list-nodes", "--json")
    assert json.loads(nodes.stdout) == {"nodes": ["node0"]}
    cancel = ucli("cancel", str(sleeper))
    assert json.loads(cancel.stdout)["Message"] == "Job is requested to cancel."
    waited = ucli("wait", str(sleeper), "--timeout", "20")
    assert (waited.returncode, json.loads(waited.stdout)["result"]) == (143, "CANCELED")
    missing = ucli("info", "12345")
    assert missing.returncode == 1 and "There is no job for that identifier." in missing.stdout


def test_logs_follow_uses_the_chunked_stream(ucli, upstream):
    job = _submit(ucli, "sh", "-c", "echo first; sleep 0.5; echo second")
    out = ucli("logs", "--follow", str(job))
    assert (out.returncode, out.stdout) == (0, "first\nsecond\n"), out.stderr
    assert any(r.path.endswith("/output/stream") for r in upstream.requests)


def test_version_names_the_server(ucli, upstream):
    out = ucli("version")
    assert out.returncode == 0
    client_version, server = out.stdout.splitlines()
    assert client_version.count(".") == 2
    assert server == (
        f"server: upstream flux-restful-api (1.1.0 or compatible) at {upstream.url} "
        "(upstream servers do not report their version)"
    )


def test_version_against_our_server(cli, server):
    out = cli("version")
    assert out.stdout.splitlines()[1] == f"server: flux-restful 0.1.0 at {server.url}"


def test_version_without_a_server_still_prints_the_client(offline_cli):
    out = offline_cli("--host", "http://127.0.0.1:9", "version")
    assert out.returncode == 0 and out.stdout.count(".") == 2
    assert out.stderr.startswith("server: not identified (Could not reach")
