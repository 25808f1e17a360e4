"""Run the real upstream server (flux-restful 1.1.0 from PyPI) on a real Flux instance.

``upstream_server_factory`` (a pytest fixture, see tests/sdk/test_real_upstream.py) starts
``flux start --test-size=2 <venv python> -m flux_restful.cli serve`` on a free 127.0.0.1 port,
with auth off or with the Flux Operator's shared-secret handshake on, waits until the server
answers and stops it (and so its Flux instance) at the end of the test.

What it needs, found once per test session:

- flux-core: ``flux`` on ``PATH``, else ``/opt/flux/bin/flux`` (outside CI only: CI machines do
  not install flux-core, so a hand-built one left on the machine must not change what CI runs).
- a virtual environment with ``flux-restful==1.1.0`` (and ``pyyaml``, ``ply`` for the bindings):
  ``FLUX_RESTFUL_UPSTREAM_PYTHON`` names its python, default ``/opt/upstream-venv/bin/python``.
- the Flux Python bindings built for that python's version; their path is what
  ``flux env printenv PYTHONPATH`` says (see docs/flux.md).

Anything missing is a ``pytest.skip`` that says what and how to provide it.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import SERVER_ENV_DROP, free_port

UPSTREAM_VERSION = "1.1.0"
DEFAULT_UPSTREAM_PYTHON = Path("/opt/upstream-venv/bin/python")
FALLBACK_FLUX = Path("/opt/flux/bin/flux")
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0

# What upstream reads from its environment; none of the test process's values may leak in.
UPSTREAM_ENV_DROP = (
    *SERVER_ENV_DROP,
    "FLUX_JOB_ENV_PASSTHROUGH",
    "FLUX_ACCESS_TOKEN_EXPIRES_MINUTES",
    "FLUX_URI",
    "VIRTUAL_ENV",
)

# The bindings' own imports (they need cffi, pyyaml and ply) and upstream's version.
_CHECK_IMPORTS = (
    "import flux, flux.job, flux.resource, flux_restful.version as v; print(v.__version__)"
)


@dataclass
class Requirements:
    """Where flux and the upstream venv are, or why the real-upstream tests cannot run."""

    flux: str | None = None
    python: str | None = None
    pythonpath: str = ""
    """Where ``flux env`` says the bindings are (the initial program of ``flux start`` is not
    given it, so the server gets it explicitly)."""
    skip_reason: str | None = None


def _find_flux() -> tuple[str | None, str]:
    on_path = shutil.which("flux")
    if on_path:
        return on_path, ""
    if os.environ.get("CI"):
        return None, (
            "flux-core is not on PATH (CI installs no flux-core; a hand-built "
            f"{FALLBACK_FLUX} is only used outside CI)"
        )
    if os.access(FALLBACK_FLUX, os.X_OK):
        return str(FALLBACK_FLUX), ""
    return None, (
        f"flux-core not found: no `flux` on PATH and no {FALLBACK_FLUX} "
        "(install flux-core and put its bin/ on PATH, see docs/flux.md)"
    )


def _find_python() -> tuple[str | None, str]:
    named = os.environ.get("FLUX_RESTFUL_UPSTREAM_PYTHON")
    if named:
        if os.access(named, os.X_OK):
            return named, ""
        return None, f"FLUX_RESTFUL_UPSTREAM_PYTHON={named} is not an executable"
    if os.access(DEFAULT_UPSTREAM_PYTHON, os.X_OK):
        return str(DEFAULT_UPSTREAM_PYTHON), ""
    return None, (
        f"no upstream flux-restful {UPSTREAM_VERSION}: set FLUX_RESTFUL_UPSTREAM_PYTHON to the "
        f"python of a venv with `pip install flux-restful=={UPSTREAM_VERSION} pyyaml ply` "
        f"(default {DEFAULT_UPSTREAM_PYTHON} does not exist)"
    )


@functools.cache
def requirements() -> Requirements:
    """Find flux and the upstream venv and check that they work together (once per session)."""
    flux, why = _find_flux()
    if flux is None:
        return Requirements(skip_reason=why)
    python, why = _find_python()
    if python is None:
        return Requirements(skip_reason=why)
    try:
        pythonpath = subprocess.run(
            [flux, "env", "printenv", "PYTHONPATH"],
            env=upstream_env({}),
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        out = subprocess.run(
            [python, "-c", _CHECK_IMPORTS],
            env=upstream_env({"PYTHONPATH": pythonpath}),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Requirements(skip_reason=f"cannot run {flux} or {python}: {exc}")
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        where = pythonpath or f"no PYTHONPATH from `{flux} env`"
        return Requirements(
            skip_reason=(
                f"{python} cannot import the Flux bindings ({where}) and flux_restful: {last}; "
                "the bindings must be built for this python's version and the venv needs "
                f"`pip install flux-restful=={UPSTREAM_VERSION} pyyaml ply`"
            )
        )
    version = out.stdout.strip()
    if version != UPSTREAM_VERSION:
        return Requirements(
            skip_reason=f"{python} has flux-restful {version}, not {UPSTREAM_VERSION}"
        )
    return Requirements(flux=flux, python=python, pythonpath=pythonpath)


def upstream_env(extra: dict[str, str]) -> dict[str, str]:
    """The test environment without upstream's settings (and no PYTHONPATH of ours), + ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in UPSTREAM_ENV_DROP}
    # Our worktree's PYTHONPATH must not shadow the venv; the bindings' path is passed in extra.
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


@dataclass
class UpstreamServer:
    """A running upstream 1.1.0 server, the initial program of its own Flux instance."""

    url: str
    user: str | None
    password: str | None
    secret: str | None
    workdir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def auth(self) -> bool:
        """Whether the shared-secret handshake is on."""
        return self.secret is not None

    def log(self) -> str:
        """What the server and its Flux instance printed."""
        return self.log_path.read_text(errors="replace")

    def _server_pid(self) -> int | None:
        try:
            return int((self.workdir / "server.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Stop the server (SIGTERM); its Flux instance ends with its initial program.

        The broker runs the server in a session of its own, so the server is signalled by its
        pid and ``flux start``'s process group (brokers) separately.
        """
        pid = self._server_pid()
        if self.proc.poll() is not None:
            _signal(pid, signal.SIGKILL)
            return
        if pid is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
        else:
            _signal(pid, signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal(pid, signal.SIGKILL)
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _signal(pid: int | None, sig: signal.Signals) -> None:
    if pid is not None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _wait_until_answering(server: UpstreamServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"upstream server exited {server.proc.returncode}:\n{server.log()[-4000:]}"
            )
        try:
            if httpx.get(server.url + "/v1/auth", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(
        f"upstream server did not answer within {START_TIMEOUT}s:\n{server.log()[-4000:]}"
    )


def start_upstream(workdir: Path, *, auth: bool = False) -> UpstreamServer:
    """Start upstream 1.1.0 in ``flux start --test-size=2`` on 127.0.0.1 (skips when it cannot).

    With ``auth`` the server runs as the Flux Operator configures it: ``FLUX_REQUIRE_AUTH=true``
    (the ``shared-secret`` backend), ``FLUX_USER``/``FLUX_TOKEN`` created as superuser with
    ``flux-restful init`` and ``FLUX_SECRET_KEY`` for the handshake, plus the
    ``FLUX_TOKEN_SIGNING_KEY`` that 1.1.0 requires.
    """
    req = requirements()
    if req.skip_reason:
        pytest.skip(req.skip_reason)
    assert req.flux and req.python
    workdir.mkdir(parents=True, exist_ok=True)
    user = password = secret = None
    extra: dict[str, str] = {}
    if auth:
        user, password, secret = "fluxuser", secrets.token_hex(8), secrets.token_hex(16)
        extra = {
            "FLUX_REQUIRE_AUTH": "true",
            "FLUX_USER": user,
            "FLUX_TOKEN": password,
            "FLUX_SECRET_KEY": secret,
            "FLUX_TOKEN_SIGNING_KEY": secrets.token_hex(32),
        }
    # FLUX_NUMBER_NODES: upstream refuses num_nodes above it (default 1), not the real size.
    env = upstream_env({"PYTHONPATH": req.pythonpath, "FLUX_NUMBER_NODES": "2", **extra})
    if auth:
        # The user database is ./flux-restful.db, relative to the server's working directory.
        subprocess.run(
            [req.python, "-m", "flux_restful.cli", "init"],
            cwd=workdir,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    port = free_port()
    serve = (
        f'echo $$ > server.pid && exec "{req.python}" -m flux_restful.cli serve '
        f"--host 127.0.0.1 --port {port} --log-level warning"
    )
    log_path = workdir / "upstream.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [req.flux, "start", "--test-size=2", "sh", "-c", serve],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = UpstreamServer(
        url=f"http://127.0.0.1:{port}",
        user=user,
        password=password,
        secret=secret,
        workdir=workdir,
        proc=proc,
        log_path=log_path,
    )
    _wait_until_answering(server)
    return server


UpstreamFactory = Callable[..., UpstreamServer]


@pytest.fixture
def upstream_server_factory(tmp_path: Path) -> Iterator[UpstreamFactory]:
    """``upstream_server_factory(auth=False|True)``: real upstream servers, stopped at the end."""
    servers: list[UpstreamServer] = []

    def make(*, auth: bool = False) -> UpstreamServer:
        server = start_upstream(tmp_path / f"upstream-{len(servers)}", auth=auth)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
