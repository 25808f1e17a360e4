"""Every flux-restful-cli command against the real upstream 1.1.0 server on real Flux.

``just test-flux`` runs this; elsewhere it skips with the reason (tests/upstream_server.py).
The same commands run against an upstream-shaped server everywhere (test_against_upstream.py).
"""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Cli

pytestmark = [pytest.mark.flux, pytest.mark.xdist_group("real-upstream")]


@pytest.fixture
def ucli(home, real_upstream) -> Cli:
    cli = Cli(home, real_upstream.url)
    if real_upstream.auth:
        assert real_upstream.user and real_upstream.password and real_upstream.secret
        cli.env.update(
            {
                "FLUX_USER": real_upstream.user,
                "FLUX_TOKEN": real_upstream.password,
                "FLUX_SECRET_KEY": real_upstream.secret,
            }
        )
    return cli


def _submit(ucli: Cli, *args: str) -> int:
    out = ucli("submit", *args)
    assert out.returncode == 0, out.stderr
    return int(json.loads(out.stdout)["id"])


def test_submit_env_follow_logs_info_wait(ucli, tmp_path):
    # The repro: a 400 "A 'command' is minimally required." before.
    out = ucli("submit", "--follow", "--env", "A=b c", "--", "sh", "-c", 'echo "$A"; exit 3')
    assert (out.returncode, out.stdout) == (3, "b c\n"), out.stderr
    job = _submit(
        ucli, "--num_tasks", "1", "--cores_per_task", "1", "--workdir", str(tmp_path),
        "--runtime", "60", "--env", "A=b", "sh", "-c", "echo $A from $(pwd)",
    )  # fmt: skip
    waited = ucli("wait", str(job), "--timeout", "60")
    assert waited.returncode == 0 and json.loads(waited.stdout)["result"] == "COMPLETED"
    assert ucli("logs", str(job)).stdout == f"b from {tmp_path}\n"
    follow = ucli("logs", "--follow", str(job))
    assert follow.stdout == f"b from {tmp_path}\n"
    info = json.loads(ucli("info", str(job)).stdout)
    assert (info["id"], info["state"]) == (job, "INACTIVE")


def test_list_cancel_nodes_version(ucli, real_upstream):
    sleeper = _submit(ucli, "sleep", "120")
    assert sleeper in [j["id"] for j in json.loads(ucli("list-jobs", "--json").stdout)["jobs"]]
    assert str(sleeper) in ucli("list-jobs", "--output", "table").stdout
    assert json.loads(ucli("list-nodes", "--json").stdout)["nodes"]
    cancel = ucli("cancel", str(sleeper))
    assert json.loads(cancel.stdout)["Message"] == "Job is requested to cancel."
    waited = ucli("wait", str(sleeper), "--timeout", "60")
    assert json.loads(waited.stdout)["result"] == "CANCELED" and waited.returncode != 0
    version = ucli("version").stdout.splitlines()
    assert version[1].startswith(
        f"server: upstream flux-restful-api (1.1.0 or compatible) at {real_upstream.url}"
    )
