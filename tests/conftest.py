"""Shared fixtures: real servers on 127.0.0.1 on ports of their own and temporary state dirs."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
import pytest

from tests.upstream_shaped import UpstreamShapedServer

if TYPE_CHECKING:
    from tests import upstream_server

SERVER_ENV_DROP = (
    "FLUX_REQUIRE_AUTH",
    "FLUX_AUTH_BACKEND",
    "FLUX_USER",
    "FLUX_TOKEN",
    "FLUX_SECRET_KEY",
    "FLUX_TOKEN_SIGNING_KEY",
    "FLUX_SERVER_MODE",
    "FLUX_ADMIN_USERS",
    "FLUX_RESTFUL_HOST",
    "FLUX_OPTION_FLAGS",
    "FLUX_NUMBER_NODES",
    "FLUX_HAS_GPUS",
    "FLUX_TLS_CERT",
    "FLUX_TLS_KEY",
)


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test process environment without auth/flux settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_DROP}
    env.update(extra or {})
    return env


def serve_command(port: int, state_dir: Path, *args: str) -> list[str]:
    """The ``flux-restful serve`` command line for 127.0.0.1:``port`` and ``state_dir``."""
    return [
        sys.executable,
        "-m",
        "flux_restful_server",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        *args,
    ]


def _detach() -> None:
    """In a server's child before exec: its own session, SIGTERM when pytest dies, SIGHUP default.

    The session, because Sanic kills its workers' whole process group when one fails to start,
    which must not take pytest with it; the signal, because a pytest killed by a timeout runs no
    fixture teardown, and its servers would otherwise live on.
    """
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as from a terminal, even if pytest runs nohup


_PR_SET_PDEATHSIG = 1


def _port_range() -> range:
    """Ports this pytest process hands out: below the kernel's ephemeral range, a slice per worker.

    Below the ephemeral range, because that is where ``bind(("", 0))`` picks and also where
    every outgoing connection takes its local port: a port picked there and bound a moment later
    was once taken in between by another test's client connection (CI: "port … is already in
    use"). A slice per xdist worker, so two workers never hand out the same port.
    """
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    low, high = 10000, max(ephemeral_low, 20000)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = (high - low) // max(workers, 1)
    return range(low + worker * size, low + (worker + 1) * size)


_PORTS = _port_range()
_next_port = 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and that no other test is given.

    Each call hands out the next port of this process's slice (:func:`_port_range`) that binds,
    so no two servers or "nothing listens here" probes of one run share a port.
    """
    global _next_port
    for _ in range(len(_PORTS)):
        port = _PORTS[_next_port % len(_PORTS)]
        _next_port += 1
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on 127.0.0.1 in {_PORTS}")


class _PortTaken(RuntimeError):
    """The server exited at start because something else listens on its port."""


@dataclass
class Server:
    """A running ``flux-restful serve`` process."""

    state_dir: Path
    env: dict[str, str]
    args: list[str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    ca: Path | None = None
    """CA bundle of the server's certificate when it serves HTTPS (``--tls-cert``)."""
    started: bool = False
    """Whether it has answered once (a restart then keeps its port)."""

    @property
    def url(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify=`` for this server."""
        return ssl.create_default_context(cafile=str(self.ca)) if self.ca else True

    def start(self, timeout: float = 60.0) -> Server:
        """Start the server and wait until it answers.

        A server that never ran yet and finds its port taken (by a process outside this run)
        moves to another free port; a restart keeps its port, which its clients know.
        """
        for attempt in range(5):
            try:
                return self._start(timeout)
            except _PortTaken:
                if self.started or attempt == 4:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> Server:
        self.log_path = self.state_dir.parent / f"server-{self.port}-{time.monotonic_ns()}.log"
        cmd = serve_command(self.port, self.state_dir, *self.args)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, preexec_fn=_detach
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                error = _PortTaken if "is already in use" in self.log() else RuntimeError
                raise error(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                httpx.get(self.url + "/v1/auth", timeout=1.0, verify=self.verify)
                self.started = True
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop gracefully (SIGTERM) and return the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """``kill -9`` the server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> Server:
        """Start again on the same port and state dir."""
        return self.start()


ServerFactory = Callable[..., Server]
T = TypeVar("T")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start real servers: ``server_factory(env={...}, args=[...])``; all stopped at the end."""
    servers: list[Server] = []

    def make(
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        start: bool = True,
        ca: Path | None = None,
    ) -> Server:
        args = list(args or [])
        # `just test-flux` runs the same API tests against a real Flux instance.
        executor = os.environ.get("FLUX_RESTFUL_TEST_EXECUTOR")
        if executor and "--executor" not in args:
            args += ["--executor", executor]
        state = tmp_path / f"state-{len(servers)}"
        server = Server(state_dir=state, env=server_env(env), args=args, ca=ca)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(server_factory: ServerFactory) -> Server:
    """A server with auth off and the local executor (one node, 2 cores)."""
    return server_factory(args=["--cores-per-node", "2"])


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """An httpx client for ``server``."""
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        yield client


def wait_for(
    probe: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    until: Callable[[T], object] = bool,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until ``until(value)`` holds and return that value, or fail showing it.

    The one way the tests wait for something to happen: on the event that proves it (a state
    in a listing, a line in the output, an event in the eventlog), never for a fixed time. A
    test that something did *not* happen waits for a later event that proves it would have
    happened by then, then checks.

    Args:
        probe: What to look at (an info, a listing, a file's text); called until it passes.
        timeout: Seconds before giving up.
        interval: Seconds between looks.
        until: Whether the value is the one awaited (by default: the value is truthy).
        what: What is awaited, for the failure message.

    Raises:
        AssertionError: ``timeout`` passed; the message shows the value last seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s; last seen: {value!r}")
        time.sleep(interval)


async def wait_for_async(
    probe: Callable[[], Awaitable[T]],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    until: Callable[[T], object] = bool,
    what: str = "condition",
) -> T:
    """:func:`wait_for` for async tests: ``probe`` is awaited, the loop is never blocked."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s; last seen: {value!r}")
        await asyncio.sleep(interval)


@pytest.fixture(scope="session")
def upstream_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The upstream 0.2.1 client, downloaded (never installed over ours) into a temp dir."""
    for module in ("jose", "ruamel.yaml", "jsonschema"):
        pytest.importorskip(module, reason=f"the 0.2.1 client needs {module} (dev extra)")
    where = tmp_path_factory.mktemp("upstream-client")
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(where),
         "flux-restful-client==0.2.1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    wheels = list(where.glob("flux_restful_client-0.2.1-*.whl"))
    if download.returncode != 0 or not wheels:
        pytest.skip(f"cannot download flux-restful-client 0.2.1: {download.stderr[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(where / "site")
    return where / "site"


@pytest.fixture(params=["noauth", "auth"])
def upstream(request: pytest.FixtureRequest) -> Iterator[UpstreamShapedServer]:
    """An upstream-shaped 1.1.0 server, with auth off, then with the token handshake on."""
    server = UpstreamShapedServer(auth=request.param == "auth").start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["no-auth", "shared-secret"])
def real_upstream(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[upstream_server.UpstreamServer]:
    """Upstream's real 1.1.0 on its own Flux, auth off then with the handshake (or a skip)."""
    from tests.upstream_server import start_upstream  # it imports this module's helpers

    server = start_upstream(
        tmp_path_factory.mktemp("upstream"), auth=request.param == "shared-secret"
    )
    yield server
    server.stop()
