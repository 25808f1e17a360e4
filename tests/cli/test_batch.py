"""flux-restful-cli submit --cc / --from-file / --dry-run / --queue against a live server."""

from __future__ import annotations

import json


def test_cc_submits_one_job_per_id(cli):
    out = cli("submit", "--cc", "0-2", "--name", "part{cc}", "--", "echo", "{cc}")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["Message"] == "Submitted 3 of 3 jobs." and len(body["ids"]) == 3
    waited = cli("wait", str(body["ids"][2]))
    assert waited.returncode == 0, waited.stderr
    logs = cli("logs", str(body["ids"][2]))
    assert logs.stdout == "2\n"


def test_from_file_names_the_line_of_a_refused_job(cli, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"command": "echo a", "name": "first"}\n\n# a comment\n"echo b"\n'
        '{"command": "true", "cores_per_task": 0}\n'
    )
    out = cli("submit", "--from-file", str(jobs), "--runtime", "60")
    assert out.returncode == 1
    body = json.loads(out.stdout)
    assert body["Message"] == "Submitted 2 of 3 jobs."
    assert body["ids"][2] is None and all(body["ids"][:2])
    assert f"{jobs}:5: cores_per_task must be >= 1, found 0" in out.stderr


def test_from_file_refuses_bad_lines_before_sending_anything(cli, tmp_path):
    before = json.loads(cli("list-jobs", "--json").stdout)
    for text, reason in (
        ('{"command": "true"}\n{oops\n', ":2: not valid JSON"),
        ('{"command": "true"}\n[1, true]\n', ":2:"),
        ('{"name": "x"}\n', ":1: the job has no command"),
        ("42\n", ":1: a job is a JSON object"),
        ("\n# nothing\n", "no job in the file"),
    ):
        jobs = tmp_path / "bad.jsonl"
        jobs.write_text(text)
        out = cli("submit", "--from-file", str(jobs))
        assert out.returncode != 0
        assert reason in out.stderr, out.stderr
    assert json.loads(cli("list-jobs", "--json").stdout) == before


def test_dry_run_and_queue(cli):
    out = cli("submit", "--dry-run", "--queue", "default", "--num-tasks", "2", "hostname")
    assert out.returncode == 0, out.stderr
    request = json.loads(out.stdout)["request"]
    assert request["command"] == ["hostname"] and request["num_tasks"] == 2
    assert request["queue"] == "default"
    refused = cli("submit", "--queue", "gpu", "hostname")
    assert refused.returncode == 1
    assert "the local executor has one queue, 'default'" in refused.stdout


def test_follow_is_for_one_job(cli):
    out = cli("submit", "--follow", "--cc", "0-1", "true")
    assert out.returncode == 2
    assert "--follow follows one job" in out.stderr


def test_fluxs_short_options_shape_the_job(cli):
    """flux submit's -n, -c, -N and -q mean the same here."""
    out = cli(
        "submit", "-n", "2", "-c", "1", "-N", "1", "-q", "default", "printenv", "FLUX_JOB_SIZE"
    )
    assert out.returncode == 0, out.stderr
    job = str(json.loads(out.stdout)["id"])
    assert cli("wait", job).returncode == 0
    assert cli("logs", job).stdout == "2\n2\n"
