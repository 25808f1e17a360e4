"""Probes (/healthz, /readyz) against real servers, the supervisor killed under one of them."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx

from flux_restful_server.executors.local.launch import socket_address
from flux_restful_server.ops import state_dir_unwritable
from tests.conftest import Server, ServerFactory, wait_for

from .conftest import Api
from .test_supervisor_crash import supervisor_pid

AUTH_ENV = {"FLUX_AUTH_BACKEND": "database", "FLUX_USER": "admin", "FLUX_TOKEN": "pw-for-ops"}


def test_probes_answer_ok_normally(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        health = client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})


def test_probes_need_no_credentials_when_auth_is_on(server_factory: ServerFactory) -> None:
    server = server_factory(env=AUTH_ENV)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/v1/jobs").status_code == 401
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").json() == {"status": "ok"}


def test_readyz_is_503_with_the_reason_while_the_supervisor_is_down(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        pid = supervisor_pid(Api(client))
        # Hold the supervisor's address with a socket that never answers, so the server cannot
        # reconnect until we let it: the 503 lasts long enough to be seen.
        impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        os.kill(pid, signal.SIGKILL)
        address = socket_address(str(server.state_dir))
        deadline = time.monotonic() + 5
        while True:
            try:
                impostor.bind(address)
                break
            except OSError:
                assert time.monotonic() < deadline
        impostor.listen(64)

        def unready() -> httpx.Response | None:
            response = client.get("/readyz")
            assert response.status_code in (200, 503), response.text
            return response if response.status_code == 503 else None

        try:
            response = wait_for(unready, timeout=10)
            body = response.json()
            assert body["status"] == "unavailable"
            assert "supervisor" in body["reason"]
            assert client.get("/healthz").json() == {"status": "ok"}  # alive, not ready
        finally:
            impostor.close()
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30)
        assert client.get("/readyz").json() == {"status": "ok"}


def test_an_unwritable_state_dir_is_named(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    assert state_dir_unwritable(tmp_path) is None
    assert (
        state_dir_unwritable(gone)
        == f"the state dir {gone} is not writable (No such file or directory)"
    )
