"""Issue 14, finding 4: after the job supervisor crashes, new jobs still run (or are refused)."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import time

import httpx

from flux_restful_server.executors.local.launch import socket_address
from tests.conftest import Server, wait_for

from .conftest import Api

TRIALS = 10
"""Before the fix, 5 of 12 trials of this sequence left every later job in RUN for ever; with
that rate (about 0.4 per trial), 10 trials all pass by luck with probability 0.6**10 < 1%."""


def supervisor_pid(api: Api) -> int:
    """The supervisor's pid, as a job sees it: its parent."""
    job = api.submit(command="sh -c 'echo $PPID'")
    assert api.wait_done(job)["returncode"] == 0
    return int(api.output(job)[0])


def submit_when_ready(client: httpx.Client, command: str, timeout: float = 30.0) -> int:
    """Submit, retrying while the server answers 503 (no supervisor yet); return the job id."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.post("/v1/jobs/submit", params={"command": command})
        if response.status_code == 200:
            return int(response.json()["id"])
        assert response.status_code == 503, response.text
        assert "supervisor" in response.json()["Error"]
        assert time.monotonic() < deadline, "the server never became ready again"
        time.sleep(0.05)


def test_jobs_run_after_server_and_supervisor_crashes(server: Server) -> None:
    """The race of the finding, looped: kill -9 the server, restart, kill -9 the supervisor,
    submit at once. Every accepted job must finish."""
    accepted: list[int] = []
    for _ in range(TRIALS):
        server.kill()
        server.restart()
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            api = Api(client)
            os.kill(supervisor_pid(api), signal.SIGKILL)
            job = submit_when_ready(client, "echo survived")
            accepted.append(job)
            info = api.wait_done(job)
            assert info["result"] == "COMPLETED", (info, server.log())
            assert api.output(job) == ["survived\n"]
    assert len(accepted) == TRIALS


def test_submits_answer_503_while_no_supervisor_answers(server: Server) -> None:
    """A supervisor address held by something that never answers: refuse work, then recover."""
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        api = Api(client)
        pid = supervisor_pid(api)
        impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        os.kill(pid, signal.SIGKILL)
        address = socket_address(str(server.state_dir))
        deadline = time.monotonic() + 5
        while True:  # take the address the moment the dead supervisor's socket is gone
            try:
                impostor.bind(address)
                break
            except OSError:
                assert time.monotonic() < deadline
        impostor.listen(64)  # accepts connections into its backlog, never answers

        def refused() -> httpx.Response | None:
            response = client.post("/v1/jobs/submit", params={"command": "true"})
            assert response.status_code in (200, 503), response.text
            return response if response.status_code == 503 else None

        try:
            response = wait_for(refused, timeout=10)
            assert "supervisor" in response.json()["Error"]
            assert response.headers["Retry-After"] == "1"
            # The web form takes the API's path: the same refusal, as a page (not JSON).
            form = client.get("/jobs/submit")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token, form.text
            page = client.post(
                "/jobs/submit", data={"csrf_token": token.group(1), "command": "echo web"}
            )
            assert page.status_code == 503 and page.headers["Retry-After"] == "1"
            assert page.headers["content-type"].startswith("text/html")
            assert "The job was not submitted" in page.text and "supervisor" in page.text
            assert 'value="echo web"' in page.text
        finally:
            impostor.close()
        job = submit_when_ready(client, "echo back")
        assert api.wait_done(job)["result"] == "COMPLETED"
        assert api.output(job) == ["back\n"]


def test_a_run_request_refused_for_a_locked_log_is_sent_again(server: Server) -> None:
    """The supervisor refuses to start a job whose log is locked (another supervisor would be
    running it). The server's own safety check takes that lock for an instant; when the two met,
    found by bench submit, the request was dropped and the job stayed in RUN for ever."""
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        api = Api(client)
        job = api.submit(command="echo ran", urgency=0)  # held: its log exists, nothing runs
        log = server.state_dir / "jobs" / f"{job}.log"
        refused = f"job {job}: its log is locked"
        fd = os.open(log, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # as the server's check does, only longer
            release = client.post(f"/v1/jobs/{job}/release")
            assert release.status_code == 200, release.text
            wait_for(
                lambda: refused in (server.state_dir / "supervisor.log").read_text(),
                what="the supervisor refusing the locked job",
            )
        finally:
            os.close(fd)
        info = api.wait_done(job, timeout=30)
        assert info["result"] == "COMPLETED", info
        assert api.output(job) == ["ran\n"]
