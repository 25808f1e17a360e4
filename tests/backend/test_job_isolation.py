"""Issue 14, finding 1: a job cannot read the server's secrets (environment, fds, state dir)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backend.conftest import Api
from tests.conftest import Server, server_env

TOKEN = "superuser-password-7f3a9c"
SECRET = "shared-secret-b81d44e0" + "x" * 16
SIGNING_KEY = "signing-key-5c2e7d19" + "k" * 24
AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": "fluxuser",
    "FLUX_TOKEN": TOKEN,
    "FLUX_SECRET_KEY": SECRET,
}
WARNING = "jobs run as the server's own account"


@pytest.fixture
def loose_root() -> Iterator[Path]:
    """A directory every account may enter (unlike pytest's 0700 tmp dirs)."""
    root = Path(tempfile.mkdtemp(prefix="frt-iso-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run_job(server: Server, command: list[str]) -> tuple[dict[str, object], str]:
    with httpx.Client(base_url=server.url, auth=("fluxuser", TOKEN), timeout=10.0) as client:
        api = Api(client)
        response = client.post("/v1/jobs/submit", json={"command": command})
        assert response.status_code == 200, response.text
        job_id = int(response.json()["id"])
        info = api.wait_done(job_id)
        return info, "".join(api.output(job_id))


def test_a_job_cannot_read_the_servers_secrets(loose_root: Path) -> None:
    """The finding's repro: the supervisor's and the server's environments hold no secret."""
    server = Server(
        state_dir=loose_root / "state",
        env=server_env({**AUTH_ENV, "FLUX_TOKEN_SIGNING_KEY": SIGNING_KEY}),
        args=[],
    ).start()
    try:
        assert server.proc is not None
        script = (
            "echo supervisor:; tr '\\0' '\\n' </proc/$PPID/environ; "
            f"echo server:; tr '\\0' '\\n' </proc/{server.proc.pid}/environ; "
            "echo fds:; ls /proc/$$/fd"
        )
        info, out = run_job(server, ["sh", "-c", script])
        assert info["returncode"] == 0, out
        supervisor_env = out.split("supervisor:\n")[1].split("server:\n")[0].split()
        # The supervisor's whole environment: where to import its code from, nothing else.
        assert sorted(line.split("=")[0] for line in supervisor_env) == ["PATH", "PYTHONPATH"]
        server_part = out.split("server:\n")[1].split("fds:\n")[0]
        assert "PATH=" in server_part  # the server's environment was readable (as root) ...
        for secret in (TOKEN, SECRET, SIGNING_KEY):
            assert secret not in out  # ... but no longer holds the secrets
        # No descriptor of the server or supervisor reached the job: the shell has 0, 1, 2.
        fds = out.split("fds:\n")[1].split()
        assert sorted(fds) == ["0", "1", "2"], fds
        assert WARNING in server.log()
    finally:
        server.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="--job-user needs the server to run as root")
def test_job_user_runs_jobs_as_an_account_that_cannot_read_the_state_dir(
    loose_root: Path,
) -> None:
    nobody = pwd.getpwnam("nobody")
    state = loose_root / "state"
    (state / "jobs").mkdir(parents=True)
    state.chmod(0o755)  # an existing state dir with a loose mode: the server tightens it
    server = Server(state_dir=state, env=server_env(AUTH_ENV), args=["--job-user", "nobody"])
    server.start()
    try:
        assert server.proc is not None
        key = (state / "token-signing.key").read_text().strip()
        script = (
            "id -u; id -g; "
            f"cat {state}/token-signing.key; echo key=$?; "
            f"ls {state}/jobs; echo jobs=$?; "
            f"cat {state}/flux-restful.db; echo db=$?; "
            f"tr '\\0' '\\n' </proc/{server.proc.pid}/environ; echo environ=$?"
        )
        info, out = run_job(server, ["sh", "-c", script])
        lines = out.split("\n")
        assert lines[:2] == [str(nobody.pw_uid), str(nobody.pw_gid)], out
        for what in ("key", "jobs", "db", "environ"):
            assert f"{what}=0" not in out and f"{what}=" in out, out
        assert key not in out
        assert TOKEN not in out and SECRET not in out
        assert state.stat().st_mode & 0o777 == 0o700
        assert WARNING not in server.log()
        assert info["returncode"] == 0
    finally:
        server.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="--job-user needs the server to run as root")
def test_job_user_is_refused_when_it_cannot_isolate(tmp_path: Path) -> None:
    import subprocess
    import sys

    for args, env, reason in (
        (["--job-user", "no-such-account-x"], {}, "is not a system account"),
        (["--job-user", "root"], {}, "is root"),
        (
            ["--job-user", "nobody"],
            {**AUTH_ENV, "FLUX_SERVER_MODE": "multi-user"},
            "is for single-user mode",
        ),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "flux_restful_server", "serve", "--port", "0"]
            + ["--state-dir", str(tmp_path / "s"), *args],
            env=server_env(env),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode != 0
        assert reason in done.stderr, done.stderr
