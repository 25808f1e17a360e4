"""flux-restful-cli against a live server: upstream's JSON output, --follow, wait, watch, login."""

from __future__ import annotations

import json
import select
import sys
import time

import yaml

PY = sys.executable


def _submit(cli, *args: str) -> int:
    out = cli("submit", *args)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["Message"] == "Job submit."
    return int(data["id"])


def test_submit_follow_streams_live_and_exits_with_the_job_code(cli):
    code = "import sys, time; print(1, flush=True); time.sleep(2); sys.exit(3)"
    with cli.popen("submit", "--follow", "--", PY, "-c", code) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 15)
            assert ready, "no output while the job runs"
            assert proc.stdout.readline() == "1\n"
            assert proc.poll() is None  # printed as it happened, the job is still running
            rest, _ = proc.communicate(timeout=30)
            assert (proc.returncode, rest) == (3, "")
        finally:
            proc.kill()


def test_done_when_example(cli):
    out = cli("submit", "--follow", "--", "python", "-c", "import sys; print(1); sys.exit(3)")
    assert (out.returncode, out.stdout) == (3, "1\n")


def test_follow_with_labels_env_and_underscore_flags(cli):
    out = cli(
        "submit",
        "--follow",
        "--label",
        "--env",
        "GREETING=hi",
        "--env",
        "broken",
        "--num_tasks",
        "1",
        "--cores-per-task",
        "1",
        "--runtime",
        "60",
        "sh",
        "-c",
        "echo $GREETING; echo oops >&2",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "stdout.0: hi\n"
    assert "stderr.0: oops" in out.stderr
    assert "Skipping --env 'broken'" in out.stderr


def test_upstream_subcommands_print_upstream_json(cli):
    job_id = _submit(cli, "sleep", "30")
    info = json.loads(cli("info", str(job_id)).stdout)
    assert info["id"] == job_id
    listing = json.loads(cli("list-jobs").stdout)
    assert job_id in [job["id"] for job in listing["jobs"]]
    assert json.loads(cli("list-nodes").stdout)["nodes"]
    cancelled = cli("cancel", str(job_id))
    assert cancelled.returncode == 0
    assert json.loads(cancelled.stdout) == {"Message": "Job is requested to cancel.", "id": job_id}
    assert cancelled.stdout.startswith('{\n    "Message"')  # json.dumps(..., indent=4)


def test_info_for_a_missing_job(cli):
    out = cli("info", "987654321")
    assert out.returncode == 1
    assert out.stdout == "There is no job for that identifier.\nnull\n"
    bad = cli("info", "abc")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["detail"] == "'abc' is not a valid job id"


def test_logs_and_logs_follow(cli):
    job_id = _submit(cli, PY, "-c", "print('a'); print('b')")
    cli("wait", str(job_id))
    assert cli("logs", str(job_id)).stdout == "a\nb\n"
    for flag in ("--stream", "--follow"):
        out = cli("logs", flag, str(job_id))
        assert (out.returncode, out.stdout) == (0, "a\nb\n")


def test_wait_prints_final_info_and_exit_code(cli):
    job_id = _submit(cli, PY, "-c", "import sys; sys.exit(5)")
    out = cli("wait", str(job_id))
    assert out.returncode == 5
    info = json.loads(out.stdout)
    assert (info["state"], info["result"], info["returncode"]) == ("INACTIVE", "FAILED", 5)


def test_tables_on_request(cli):
    job_id = _submit(cli, "--name", "tabled", "true")
    cli("wait", str(job_id))
    out = cli("list-jobs", "--output", "table")
    assert out.returncode == 0
    header, *rows = out.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATE", "RESULT"]
    assert any(row.split()[:3] == [str(job_id), "INACTIVE", "COMPLETED"] for row in rows)
    assert json.loads(cli("list-jobs", "--json").stdout)["jobs"]
    nodes = cli("list-nodes", "-o", "table")
    assert nodes.stdout.split()[0] == "NODE"


def test_watch_shows_the_jobs(cli):
    job_id = _submit(cli, "--name", "watched", "sleep", "30")
    out = cli("watch", "--count", "2", "--interval", "0.2")
    assert out.returncode == 0
    assert out.stdout.count("watched") == 2
    assert str(job_id) in out.stdout
    cli("cancel", str(job_id))


def test_login_stores_a_token_not_the_password(home, server_factory):
    from tests.cli.conftest import Cli

    server = server_factory(
        env={
            "FLUX_REQUIRE_AUTH": "true",
            "FLUX_USER": "fluxuser",
            "FLUX_TOKEN": "12345",
            "FLUX_SECRET_KEY": "notsecrethoo",
        }
    )
    cli = Cli(home, server.url)
    refused = cli("list-jobs")
    assert refused.returncode == 1 and "FLUX_USER" in refused.stderr
    bad = cli("login", "--user", "fluxuser", "--password", "nope")
    assert bad.returncode == 1 and "Login refused" in bad.stderr
    out = cli("login", "--user", "fluxuser", "--password-stdin", input="12345\n")
    assert out.returncode == 0, out.stderr
    stored = home / ".flux-restful-cli" / "tokens.yml"
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    tokens = yaml.safe_load(stored.read_text())
    assert list(tokens) == [server.url] and "12345" not in stored.read_text()
    assert cli("list-jobs").returncode == 0
    started = time.monotonic()
    out = cli("submit", "--follow", "echo", "authed")
    assert (out.returncode, out.stdout) == (0, "authed\n")
    assert time.monotonic() - started < 30
    assert cli("logout").stdout.startswith("Logged out")
    assert cli("list-jobs").returncode == 1
