"""The adapter over Sanic's websocket internals: checked at start-up, fast path taken."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest
from sanic.server.websockets.impl import WebsocketImplProtocol

from flux_restful_server.app import create_app
from flux_restful_server.settings import Settings
from flux_restful_server.streams import sanic_ws
from tests.conftest import Server, _detach, free_port, serve_command, server_env

from .test_streams_support import (
    PY,
    check_complete,
    flatten,
    submit,
    wait_state,
    ws_frames,
    ws_url,
)


def test_the_pinned_sanic_has_every_internal_the_streams_use():
    sanic_ws.check()  # raises SanicInternalsChanged, naming what moved, otherwise


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("wait_for_connection_lost", "WebsocketImplProtocol.wait_for_connection_lost is gone"),
        ("process_events", "WebsocketImplProtocol.process_events is gone"),
    ],
)
def test_a_sanic_that_moved_an_internal_stops_the_server_at_start_up(monkeypatch, name, problem):
    monkeypatch.delattr(WebsocketImplProtocol, name)
    with tempfile.TemporaryDirectory() as state:
        with pytest.raises(sanic_ws.SanicInternalsChanged, match=problem):
            create_app(Settings(state_dir=Path(state)))


def test_a_sanic_whose_frames_differ_from_ours_stops_the_server(monkeypatch):
    from websockets.server import ServerProtocol

    original = ServerProtocol.send_text

    def masked(self, data, fin=True):  # a websockets that frames text differently
        return original(self, data + b" ", fin)

    monkeypatch.setattr(ServerProtocol, "send_text", masked)
    with pytest.raises(sanic_ws.SanicInternalsChanged, match="not encoded as ours are"):
        sanic_ws.check()


def test_a_sanic_whose_timeouts_ignore_the_connection_setting_stops_the_server(monkeypatch):
    # Streams exempt themselves from RESPONSE_TIMEOUT through the connection's response_timeout
    # (test_bad_input.py's test_streams_outlive_the_response_timeout proves it end to end).
    from sanic.server.protocols.http_protocol import HttpProtocol

    def check_timeouts(self):  # a Sanic that reads the app's setting each time instead
        return self.app.config.RESPONSE_TIMEOUT

    monkeypatch.setattr(HttpProtocol, "check_timeouts", check_timeouts)
    with pytest.raises(sanic_ws.SanicInternalsChanged, match="response_timeout"):
        sanic_ws.check()


# The server, with Sanic's public ws.send() made to fail: a stream that completes proves that
# every frame went through the one-write fast path.
_NO_PUBLIC_SEND = """
from sanic.server.websockets.impl import WebsocketImplProtocol

async def send(self, message):
    raise RuntimeError("the public ws.send() was used")

WebsocketImplProtocol.send = send
from flux_restful_server.cli import main
main()
"""


async def test_streams_take_the_fast_path_on_the_pinned_sanic(tmp_path):
    port = free_port()
    cmd = serve_command(port, tmp_path / "state", "--cores-per-node", "2")
    cmd[1:3] = ["-c", _NO_PUBLIC_SEND]  # python -c <patch, then the same CLI>
    log = tmp_path / "server.log"
    server = Server(state_dir=tmp_path / "state", env=server_env(), args=[], port=port)
    with open(log, "wb") as out:
        server.proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=server.env, preexec_fn=_detach
        )
    server.log_path = log
    try:
        for _ in range(400):
            try:
                httpx.get(server.url + "/v1/auth", timeout=1.0)
                break
            except httpx.TransportError:
                assert server.proc.poll() is None, server.log()
                await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            job = await submit(client, [PY, "-c", "for i in range(500): print(i)"])
            await wait_state(client, job, "INACTIVE")
            for path in (f"/v1/jobs/{job}/stream", f"/v1/jobs/{job}/stream?batch=true"):
                frames, code = await ws_frames(ws_url(server.url, path))
                assert code == 1000, server.log()
                check_complete(flatten(frames))
        assert "public ws.send() was used" not in server.log()
    finally:
        server.stop()
