"""``flux-restful serve``: help and clean start-up errors: non-zero exit, one line, no traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Server, ServerFactory, free_port, server_env


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
        "--tls-cert",
        "--tls-key",
        "--audit-log",
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


@pytest.fixture
def pem_pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A certificate for 127.0.0.1, its key, and the key of another certificate."""
    trustme = pytest.importorskip("trustme", reason="trustme makes test certificates (dev extra)")
    ca = trustme.CA()
    cert, key, other = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "other.pem"
    issued = ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.issue_cert("elsewhere").private_key_pem.write_to_path(str(other))
    return cert, key, other


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("cert-only", "--tls-cert needs --tls-key too"),
        ("missing-key", "--tls-key {missing}: no such file"),
        ("mismatch", "--tls-key {other} is not the private key of --tls-cert {cert}"),
        ("not-pem", "--tls-cert {key}: not a PEM certificate"),
        ("directory", "--tls-key {dir}: is a directory"),
    ],
)
def test_bad_tls_files_are_one_line(tmp_path: Path, pem_pair, case: str, expected: str) -> None:
    cert, key, other = pem_pair
    missing = tmp_path / "missing.pem"
    args = {
        "cert-only": ["--tls-cert", str(cert)],
        "missing-key": ["--tls-cert", str(cert), "--tls-key", str(missing)],
        "mismatch": ["--tls-cert", str(cert), "--tls-key", str(other)],
        "not-pem": ["--tls-cert", str(key), "--tls-key", str(key)],
        "directory": ["--tls-cert", str(cert), "--tls-key", str(tmp_path)],
    }[case]
    proc = serve("--port", str(free_port()), "--state-dir", str(tmp_path / "state"), *args)
    line = error_line(proc)
    assert expected.format(missing=missing, other=other, cert=cert, key=key, dir=tmp_path) in line


def test_tls_variables_are_read(tmp_path: Path, pem_pair) -> None:
    cert, _, other = pem_pair
    env = {"FLUX_TLS_CERT": str(cert), "FLUX_TLS_KEY": str(other)}
    proc = serve("--port", str(free_port()), "--state-dir", str(tmp_path / "state"), env=env)
    assert "is not the private key of --tls-cert" in error_line(proc)


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"]
)
def test_a_server_stopped_the_moment_it_answers_stops_cleanly(
    server_factory: ServerFactory, signum: signal.Signals
) -> None:
    # The port answers before Sanic has installed its signal handlers, and while it runs its
    # last start-up steps: a signal then killed the server (-15), raised a KeyboardInterrupt
    # traceback, or stopped nothing at all (it served on until killed). Sanic leaves SIGHUP (the
    # terminal closed) to its default: an unclean death (-1).
    server = server_factory()
    assert server.proc is not None
    server.proc.send_signal(signum)
    try:
        status = server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{signum.name} sent as the server first answered: still serving 10 s later")
    log = server.log()
    assert status == 0, log
    assert "Traceback" not in log
    assert "Server Stopped" in log


def test_the_log_says_where_it_serves(server: Server) -> None:
    log = server.log()
    assert f"serving on {server.url} (web UI at /, API docs at /docs); Ctrl-C stops it" in log
