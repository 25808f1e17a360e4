"""Backend fixtures: module-scoped servers and a small job API helper for behaviour tests."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, server_env, wait_for

ACTIVE_TIMEOUT = 20.0


def start_server(
    root: Path, args: list[str], env: dict[str, str] | None = None, name: str = "state"
) -> Server:
    """Start a real server with its state under ``root``."""
    return Server(state_dir=root / name, env=server_env(env), args=args).start()


class Api:
    """Thin helpers over an httpx client for one server."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def submit(self, **fields: Any) -> int:
        """Submit with query fields; assert success and return the id."""
        response = self.client.post("/v1/jobs/submit", params=fields)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["Message"] == "Job submit."
        assert isinstance(body["id"], int)
        return int(body["id"])

    def info(self, job_id: int) -> dict[str, Any]:
        """The job's info (asserting 200)."""
        response = self.client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_state(
        self, job_id: int, *states: str, timeout: float = ACTIVE_TIMEOUT
    ) -> dict[str, Any]:
        """Poll until the job's state is one of ``states``; return its info."""
        return wait_for(
            lambda: self.info(job_id),
            timeout,
            until=lambda info: info["state"] in states,
            what=f"job {job_id} in state {' or '.join(states)}",
        )

    def wait_done(self, job_id: int, timeout: float = ACTIVE_TIMEOUT) -> dict[str, Any]:
        """Poll until the job is inactive; return its info."""
        return self.wait_state(job_id, "INACTIVE", timeout=timeout)

    def output(self, job_id: int) -> list[str]:
        """The job's output lines (empty when there is none yet)."""
        response = self.client.get(f"/v1/jobs/{job_id}/output")
        assert response.status_code == 200, response.text
        return list(response.json().get("Output", []))


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server (1 node x 2 cores, local executor) shared by a module's tests."""
    server = start_server(tmp_path_factory.mktemp("srv"), ["--cores-per-node", "2"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(module_server: Server) -> Iterator[httpx.Client]:
    """An httpx client for ``module_server``."""
    with httpx.Client(base_url=module_server.url, timeout=10.0) as http_client:
        yield http_client


@pytest.fixture(scope="module")
def api(client: httpx.Client) -> Api:
    """Job helpers for ``module_server``."""
    return Api(client)


@pytest.fixture
def system_users() -> Iterator[Callable[[], pwd.struct_passwd]]:
    """Create temporary system accounts (CI runs as root) and remove them afterwards."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("multi-user mode needs root and useradd")
    created: list[str] = []

    def make() -> pwd.struct_passwd:
        name = f"frt{secrets.token_hex(4)}"
        for _ in range(50):  # useradd refuses while another process holds the passwd lock
            done = subprocess.run(["useradd", "--create-home", name], capture_output=True)
            if done.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"useradd {name} failed: {done.stderr!r}")
        created.append(name)
        return pwd.getpwnam(name)

    yield make
    for name in created:
        for _ in range(50):
            code = subprocess.run(["userdel", "--remove", name], capture_output=True).returncode
            if code not in (1, 10):  # 1 and 10: the passwd or group file is locked; try again
                break
            time.sleep(0.1)
