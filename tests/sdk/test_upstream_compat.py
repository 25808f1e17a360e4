"""A script written for the upstream 0.2.1 client runs unchanged against our SDK and server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Upstream's call patterns: its documented import, list commands with numbers, json.dumps of
# every answer, search with query/start/length, cancel, output, then the helpers.
UPSTREAM_SCRIPT = r"""
import json
import time

from flux_restful_client.main import get_client

cli = get_client()
print("nodes", json.dumps(cli.list_nodes()))
res = cli.submit(command=["python3", "-c", "print(42)"], num_tasks=1, cores_per_task=1)
assert res["Message"] == "Job submit.", res
jobid = res["id"]
for _ in range(300):
    info = cli.jobs(jobid)
    if info["state"] == "INACTIVE":
        break
    time.sleep(0.1)
keys = ("state", "result", "returncode")
print("info", json.dumps({key: info[key] for key in keys}))
print("output", json.dumps(cli.output(jobid)))
sleeper = cli.submit("sleep 60")["id"]
print("search", sorted(cli.search("sleep", start=0, length=2)))
print("listing", jobid in [j["id"] for j in cli.jobs()["jobs"]])
print("cancel", json.dumps(cli.cancel(sleeper)))
print("missing", cli.jobs(987654321))
print("str", str(cli))
"""


def _run(server_url: str, extra_env: dict[str, str], home) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUX_")}
    env.update({"FLUX_RESTFUL_HOST": server_url, "HOME": str(home), **extra_env})
    return subprocess.run(
        [sys.executable, "-c", UPSTREAM_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )


def _check(out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert json.loads(lines["nodes"])["nodes"]
    assert json.loads(lines["info"]) == {
        "state": "INACTIVE",
        "result": "COMPLETED",
        "returncode": 0,
    }
    assert json.loads(lines["output"]) == {"Output": ["42\n"]}
    assert lines["search"] == "['data', 'draw', 'recordsFiltered', 'recordsTotal']"
    assert lines["listing"] == "True"
    assert json.loads(lines["cancel"])["Message"] == "Job is requested to cancel."
    assert "There is no job for that identifier." in out.stdout
    assert lines["missing"] == "None"
    assert lines["str"] == "[flux-restful-client]"


def test_upstream_script_without_auth(server, isolated_home):
    _check(_run(server.url, {}, isolated_home))


@pytest.mark.parametrize("with_secret", [True, False], ids=["handshake", "password-login"])
def test_upstream_script_with_auth(server_factory, isolated_home, with_secret):
    env = {
        "FLUX_REQUIRE_AUTH": "true",
        "FLUX_USER": "fluxuser",
        "FLUX_TOKEN": "12345",
        "FLUX_SECRET_KEY": "notsecrethoo",
    }
    server = server_factory(env=env)
    client_env = {"FLUX_USER": "fluxuser", "FLUX_TOKEN": "12345"}
    if with_secret:
        client_env["FLUX_SECRET_KEY"] = "notsecrethoo"
    _check(_run(server.url, client_env, isolated_home))
