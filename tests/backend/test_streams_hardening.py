"""Streams under hostile or changing conditions (issue 14, finding 10).

A text frame that is not UTF-8 closes the websocket with 1007 and logs no traceback; a stream
ends when its user is removed.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from flux_restful_server.auth.commands import remove_user, set_user
from tests.backend.conftest import start_server
from tests.backend.test_auth_server import AUTH_ENV, add, login
from tests.conftest import Server, wait_for

REVOKE_WITHIN = 20.0
"""Streams re-check their user every 5 s; allow for a loaded machine."""


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("auth")
    for name in ("alice", "bob", "carol"):
        add(root / "state", name, f"{name}-pw")
    server = start_server(root, ["--cores-per-node", "2"], AUTH_ENV)
    yield server
    server.stop()


def raw_websocket(url: str, path: str) -> socket.socket:
    """Open a websocket by hand, so the test can send what no client library would."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def masked_frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


def read_close(sock: socket.socket) -> tuple[int, str]:
    """Read server frames until the close frame; return its code and reason."""
    buffer = b""
    while True:
        while len(buffer) < 2:
            chunk = sock.recv(65536)
            assert chunk, "the connection ended without a close frame"
            buffer += chunk
        opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
        start = 2
        if length == 126:
            start = 4
            length = int.from_bytes(buffer[2:4], "big") if len(buffer) >= 4 else 1 << 30
        elif length == 127:
            start = 10
            length = int.from_bytes(buffer[2:10], "big") if len(buffer) >= 10 else 1 << 62
        while len(buffer) < start + length:
            chunk = sock.recv(65536)
            assert chunk, "the connection ended without a close frame"
            buffer += chunk
        payload, buffer = buffer[start : start + length], buffer[start + length :]
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big"), payload[2:].decode()


def test_invalid_utf8_text_frame_closes_with_1007(auth_server: Server):
    token = login(auth_server.url, "carol", "carol-pw")["Authorization"].split()[1]
    before = auth_server.log()
    sock = raw_websocket(auth_server.url, f"/v1/events?token={token}")
    try:
        sock.sendall(masked_frame(0x1, b"\xff\xfe not utf-8"))
        code, reason = read_close(sock)
        assert code == 1007
        assert "UTF-8" in reason
    finally:
        sock.close()
    # The server is fine, and logged no traceback for it.
    assert httpx.get(f"{auth_server.url}/v1/auth").status_code == 200
    added = auth_server.log()[len(before) :]
    assert "Traceback" not in added
    assert "Task exception was never retrieved" not in added


def test_invalid_utf8_in_the_auth_frame_closes_with_1007(auth_server: Server):
    sock = raw_websocket(auth_server.url, "/v1/events")
    try:
        sock.sendall(masked_frame(0x1, b'{"type": "auth", "token": "\xc3\x28"}'))
        assert read_close(sock)[0] == 1007
    finally:
        sock.close()


def _follow_websocket(url: str, headers: dict[str, str], frames: list[dict], closed: list) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(url.replace("http://", "ws://"), additional_headers=headers) as ws:
        try:
            for message in ws:
                frames.append(json.loads(message))
        except ConnectionClosed:
            pass
        closed.append((ws.close_code, ws.close_reason))


@pytest.mark.parametrize("change", ["remove-user", "deactivate"])
def test_streams_end_when_their_user_is_removed(auth_server: Server, change: str):
    user = "alice" if change == "remove-user" else "bob"
    headers = login(auth_server.url, user, f"{user}-pw")
    job = httpx.post(
        f"{auth_server.url}/v1/jobs/submit", params={"command": "sleep 60"}, headers=headers
    ).json()["id"]
    feed_frames: list[dict] = []
    feed_closed: list = []
    feed = threading.Thread(
        target=_follow_websocket,
        args=(f"{auth_server.url}/v1/events?ping=1", headers, feed_frames, feed_closed),
        daemon=True,
    )
    feed.start()
    sse_lines: list[str] = []
    basic = (user, f"{user}-pw")

    def follow_sse() -> None:
        with httpx.stream(
            "GET",
            f"{auth_server.url}/v1/jobs/{job}/stream?ping=1",
            auth=basic,
            headers={"Accept": "text/event-stream"},
            timeout=httpx.Timeout(10.0, read=REVOKE_WITHIN + 10),
        ) as response:
            assert response.status_code == 200
            sse_lines.extend(response.iter_lines())

    sse = threading.Thread(target=follow_sse, daemon=True)
    sse.start()
    raw_errors: list[Exception] = []

    def follow_output() -> None:
        url = f"{auth_server.url}/v1/jobs/{job}/output/stream"
        timeout = httpx.Timeout(10.0, read=REVOKE_WITHIN + 10)
        try:
            with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
                assert response.status_code == 200
                for _ in response.iter_bytes():
                    pass
        except httpx.RemoteProtocolError as exc:  # cut before the final chunk
            raw_errors.append(exc)

    raw = threading.Thread(target=follow_output, daemon=True)
    raw.start()
    wait_for(lambda: any(f.get("type") == "ping" for f in feed_frames), 10.0)
    wait_for(lambda: any("ping" in line for line in sse_lines), 10.0)

    state = str(auth_server.state_dir)
    if change == "remove-user":
        result = CliRunner().invoke(remove_user, [user, "--state-dir", state])
    else:
        result = CliRunner().invoke(set_user, [user, "--inactive", "--state-dir", state])
    assert result.exit_code == 0, result.output

    feed.join(REVOKE_WITHIN)
    sse.join(REVOKE_WITHIN)
    raw.join(REVOKE_WITHIN)
    assert not feed.is_alive(), "the websocket feed kept running after its user was removed"
    assert not sse.is_alive(), "the SSE job stream kept running after its user was removed"
    assert not raw.is_alive(), "the output stream kept running after its user was removed"
    assert len(raw_errors) == 1, "the output stream must not look complete"
    assert feed_frames[-1]["type"] == "revoked"
    assert feed_frames[-1]["detail"] == "Could not validate credentials"
    assert feed_closed == [(4401, "Could not validate credentials")]
    revoked = [json.loads(line[5:]) for line in sse_lines if line.startswith("data:")][-1]
    assert revoked["type"] == "revoked"
    assert "Traceback" not in auth_server.log()
