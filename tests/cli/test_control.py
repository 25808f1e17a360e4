"""flux-restful-cli job control against a live server: submit --dependency/--urgency, hold,
release, urgency, signal, and cancel with filters (asking first, --yes to skip)."""

from __future__ import annotations

import json
import sys
import time

PY = sys.executable


def _submit(cli, *args: str) -> int:
    out = cli("submit", *args)
    assert out.returncode == 0, out.stderr
    return int(json.loads(out.stdout)["id"])


def _info(cli, job: int) -> dict:
    out = cli("info", str(job))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _until(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.1)
    return value


def test_hold_release_urgency_and_dependency(cli):
    gate = _submit(cli, "--urgency", "0", "--", "sleep", "120")
    job = _submit(cli, "--dependency", f"after:{gate}", "--urgency", "7", "--", "echo", "hi")
    assert _info(cli, job)["pending_reason"].startswith("waiting on after:")
    held = cli("hold", str(job))
    assert held.returncode == 0 and "Job is held. (urgency 7 -> 0)" in held.stdout
    released = cli("release", str(job))
    assert released.returncode == 0 and "(urgency 7)" in released.stdout
    set_to = cli("urgency", str(job), "expedite")
    assert set_to.returncode == 0 and "urgency 7 -> 31" in set_to.stdout
    bad = cli("urgency", str(job), "99")
    assert bad.returncode != 0 and "between 0 and 31" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad_dep = cli("submit", "--dependency", "sometime:1", "--", "true")
    assert bad_dep.returncode != 0 and "unknown scheme" in bad_dep.stdout + bad_dep.stderr
    no_such = cli("submit", "--dependency", "afterok:999999", "--", "true")
    assert no_such.returncode == 1
    assert "job 999999 not found" in json.loads(no_such.stdout)["detail"]
    cli("release", str(gate))
    _until(lambda: _info(cli, job)["state"] == "INACTIVE")
    assert _info(cli, job)["result"] == "COMPLETED"
    cli("cancel", "--yes", str(gate), str(job))


def test_signal(cli):
    trap = (
        "import signal, sys, time; "
        "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(5)); print('up', flush=True); "
        "time.sleep(120)"
    )
    job = _submit(cli, "--", PY, "-c", trap)
    _until(lambda: "up" in cli("logs", str(job)).stdout)
    sent = cli("signal", "--signal", "USR1", str(job))
    assert sent.returncode == 0 and f"{job}: sent SIGUSR1 (10)" in sent.stdout
    _until(lambda: _info(cli, job)["state"] == "INACTIVE")
    assert _info(cli, job)["returncode"] == 5
    bogus = cli("signal", "-s", "SIGNOPE", str(job))
    assert bogus.returncode != 0 and "not a signal name" in bogus.stderr


def test_bulk_cancel_asks_first(cli):
    jobs = [_submit(cli, "--urgency", "0", "--name", "cli-sweep", "--", "true") for _ in range(2)]
    refused = cli("cancel", "--name", "cli-sweep")
    assert refused.returncode != 0
    assert "refusing to cancel 2 active jobs (name containing 'cli-sweep')" in refused.stderr
    assert all(_info(cli, j)["state"] == "SCHED" for j in jobs)
    done = cli("cancel", "--name", "cli-sweep", "--state", "pending", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "2 jobs requested to cancel."
    assert sorted(int(x) for x in done.stdout.splitlines()[1:]) == sorted(jobs)
    nothing = cli("cancel")
    assert nothing.returncode == 2 and "give a JOBID, or filters" in nothing.stderr
