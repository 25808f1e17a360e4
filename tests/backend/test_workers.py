"""``flux-restful serve --workers N``: several server processes on one port.

The local executor keeps its job state in the server process, so it refuses more than one
worker; with the flux executor, Flux holds the state and every worker serves the same jobs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flux_restful_server.executors.flux import flux_available
from tests.conftest import ServerFactory, free_port, serve_command, server_env, wait_for

PASSWORD = "workers-password-long-enough"


def test_the_local_executor_refuses_more_than_one_worker(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "flux_restful_server", "serve", "--state-dir", str(tmp_path),
         "--port", "0", "--workers", "2"],
        capture_output=True, text=True, env=server_env(), timeout=60,
    )  # fmt: skip
    assert run.returncode != 0
    assert "--workers must be 1 with the local executor" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.flux
@pytest.mark.skipif(not flux_available()[0], reason="needs a Flux instance (just test-flux)")
def test_two_flux_workers_share_jobs_and_tokens(server_factory: ServerFactory) -> None:
    env = {"FLUX_AUTH_BACKEND": "database", "FLUX_USER": "alice", "FLUX_TOKEN": PASSWORD}
    server = server_factory(env=env, args=["--executor", "flux", "--workers", "2"])
    wait_for(lambda: server.log().count("Worker ready") == 2, timeout=60)
    login = httpx.post(
        server.url + "/v1/login/access-token",
        data={"username": "alice", "password": PASSWORD},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    submitted = []
    # A fresh connection per request, so the kernel spreads them over both workers: a token
    # signed by one worker and a job submitted through one are good in the other.
    for _ in range(20):
        answer = httpx.post(
            server.url + "/v1/jobs/submit", params={"command": "true"}, headers=headers, timeout=10
        )
        assert answer.status_code == 200, answer.text
        submitted.append(answer.json()["id"])
    for job_id in submitted:
        info = httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=headers, timeout=10)
        assert info.status_code == 200, info.text


@pytest.mark.flux
@pytest.mark.skipif(not flux_available()[0], reason="needs a Flux instance (just test-flux)")
@pytest.mark.parametrize("target", ["manager", "group"])
@pytest.mark.parametrize("moment", ["Starting worker", "Worker ready"])
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_a_signal_as_the_workers_come_up_stops_them_all_quietly(
    tmp_path: Path, signum: int, moment: str, target: str
) -> None:
    # The signal goes to the manager alone (`kill PID`) or to the whole process group (a
    # terminal closing, Ctrl-C, `kill -- -PGID`), the moment the first worker starts or says it
    # is ready. Before: Sanic's handler hung the manager for good (it was inside a proxy call,
    # reading acknowledgements); workers still importing printed KeyboardInterrupt tracebacks;
    # and a group SIGTERM or SIGHUP killed Sanic's worker-state process under the manager,
    # which failed with "Broken pipe".
    log_path = tmp_path / "server.log"
    command = serve_command(free_port(), tmp_path / "state", "--executor", "flux", "--workers", "2")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=server_env(),
            start_new_session=True,  # Sanic kills a failed worker's whole process group
        )  # fmt: skip
    try:
        wait_for(lambda: moment in log_path.read_text(), timeout=60)
        # the workers, Sanic's worker-state process and multiprocessing's resource tracker
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if target == "group":
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        try:
            proc.wait(timeout=15)  # systemd's TimeoutStopSec in docs/operations.md
        except subprocess.TimeoutExpired:
            pytest.fail(f"the manager did not stop:\n{log_path.read_text()}")
        log = log_path.read_text()
        assert proc.returncode == 0, log
        assert f"Received signal {signal.Signals(signum).name}. Shutting down." in log
        assert "Traceback" not in log
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), timeout=15)
    finally:
        with contextlib.suppress(ProcessLookupError):  # nothing of it outlives the test
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
