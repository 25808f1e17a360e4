"""``flux-restful serve --workers N``: several server processes on one port.

The local executor keeps its job state in the server process, so it refuses more than one
worker; with the flux executor, Flux holds the state and every worker serves the same jobs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flux_restful_server.executors.flux import flux_available
from tests.conftest import ServerFactory, server_env, wait_for

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
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_a_signal_sent_to_the_process_manager_as_workers_come_up_stops_every_worker(
    server_factory: ServerFactory, signum: int
) -> None:
    # Sent the moment both workers say they are ready, the signal often lands while the manager
    # still reads their acknowledgements: Sanic's own handler then hung the manager for good.
    server = server_factory(args=["--executor", "flux", "--workers", "2"])
    wait_for(lambda: server.log().count("Worker ready") == 2, timeout=60)
    assert server.proc is not None
    workers = [
        int(pid)
        for pid in Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
        .read_text()
        .split()
    ]
    server.proc.send_signal(signum)  # to the manager alone, as `kill -HUP` would
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the manager did not stop:\n{server.log()}")
    assert server.proc.returncode == 0, server.log()
    assert f"Received signal {signal.Signals(signum).name}. Shutting down." in server.log()
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), timeout=30)
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/v1/jobs", timeout=5)
