"""``flux-restful serve``: help and clean start-up errors: non-zero exit, one line, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port, server_env


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flux_restful_server", "serve", *args],
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line, after checking there is no traceback."""
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    return errors[0]


def test_serve_help() -> None:
    proc = serve("--help")
    assert proc.returncode == 0
    for option in (
        "--host",
        "--port",
        "--state-dir",
        "--executor",
        "--nodes",
        "--cores-per-node",
        "--gpus-per-node",
        "--workers",
        "--log-level",
    ):
        assert option in proc.stdout
    assert "127.0.0.1" in proc.stdout
    assert "5000" in proc.stdout


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = serve("--port", str(port), "--state-dir", str(tmp_path / "state"))
    line = error_line(proc)
    assert f"port {port}" in line
    assert "already in use" in line


def test_unwritable_state_dir(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes anywhere on disk, but not into /proc
        state = Path("/proc/self/flux-restful-state")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        state = locked / "state"
    proc = serve("--port", str(free_port()), "--state-dir", str(state))
    line = error_line(proc)
    assert f"cannot use state dir {state}" in line


def test_state_dir_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("not a directory")
    proc = serve("--port", str(free_port()), "--state-dir", str(target / "state"))
    line = error_line(proc)
    assert str(target) in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--nodes", "0"], "--nodes"),
        (["--nodes", "many"], "--nodes"),
        (["--cores-per-node", "-1"], "--cores-per-node"),
        (["--gpus-per-node", "-2"], "--gpus-per-node"),
        (["--port", "70000"], "--port"),
        (["--executor", "slurm"], "--executor"),
        (["--log-level", "loud"], "--log-level"),
        (["--workers", "0"], "--workers"),
        (["--workers", "2"], "--workers must be 1 with the local executor"),
        (["--bogus-flag"], "--bogus-flag"),
    ],
)
def test_bad_flag_values(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = serve("--port", str(free_port()), "--state-dir", str(tmp_path / "state"), *args)
    line = error_line(proc)
    assert needle in line


def test_bad_environment_value(tmp_path: Path) -> None:
    proc = serve(
        "--port",
        str(free_port()),
        "--state-dir",
        str(tmp_path / "state"),
        env={"FLUX_SERVER_MODE": "several-users"},
    )
    line = error_line(proc)
    assert "FLUX_SERVER_MODE" in line
