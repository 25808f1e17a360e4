"""A real webhook receiver on 127.0.0.1 for the tests: records every request, answers on cue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import Server, server_env, wait_for

HOOKED_ENV = {
    "FLUX_WEBHOOK_ALLOW": "loopback",
    "FLUX_WEBHOOK_BACKOFF": "0.25",
    "FLUX_WEBHOOK_BACKOFF_MAX": "2",
    "FLUX_WEBHOOK_TIMEOUT": "2",
}
"""A server that may send to loopback, retrying fast (tests must not wait for real backoff)."""


def hooked_server(root: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Run a server with :data:`HOOKED_ENV` (plus ``env``) under ``root`` for a fixture."""
    server = Server(
        state_dir=root / "state",
        env=server_env({**HOOKED_ENV, **(env or {})}),
        args=["--cores-per-node", "4"],
    ).start(timeout=60)  # several of these start at once in a full run
    yield server
    server.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


Responder = Callable[["Received", int], tuple[int, dict[str, str], bytes]]
"""(request, how many requests came before it) -> (status, headers, body)."""


def ok(_: Received, __: int) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, b"ok"


@dataclass
class Receiver:
    port: int
    responder: Responder = ok
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until ``count`` requests have arrived; return them all."""
        wait_for(lambda: len(self.received) >= count, timeout)
        with self.lock:
            return list(self.received)


@contextmanager
def receiver(responder: Responder = ok, port: int = 0) -> Iterator[Receiver]:
    """Serve a receiver on 127.0.0.1 (an ephemeral port unless ``port``) for the block."""
    state = Receiver(port=port, responder=responder)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                           time.monotonic())  # fmt: skip
            with state.lock:
                before = len(state.received)
                state.received.append(got)
            status, headers, answer = state.responder(got, before)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    class Quiet(ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a sender that hangs up early (the size-cap test) is not an error here

    server = Quiet(("127.0.0.1", port), Handler)
    state.server = server
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
