"""Websocket handshakes in /metrics and the audit log; the JSON access log."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.backend.test_auth_server import AUTH_ENV, add
from tests.backend.test_metrics import scrape, value
from tests.conftest import ServerFactory, wait_for


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_websocket_handshakes_are_counted_audited_and_logged(
    server_factory: ServerFactory, tmp_path: Path
):
    audit, access = tmp_path / "audit.log", tmp_path / "access.log"
    server = server_factory(
        env={**AUTH_ENV, "FLUX_AUDIT_LOG": str(audit)},
        args=["--access-log", str(access)],
        start=False,
    )
    add(server.state_dir, "alice", "alice-pw")
    server.start()
    url, ws_url = server.url, server.url.replace("http://", "ws://") + "/v1/events"
    token = httpx.post(
        f"{url}/v1/login/access-token", data={"username": "alice", "password": "alice-pw"}
    ).json()["access_token"]

    with connect(ws_url, open_timeout=30) as ws:  # first-frame auth, accepted
        ws.send(json.dumps({"type": "auth", "token": token}))
        ws.recv(timeout=30)
    with connect(ws_url, open_timeout=30) as ws:  # first-frame auth, refused
        ws.send(json.dumps({"type": "auth", "token": "nonsense"}))
        try:
            ws.recv(timeout=30)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4401

    with httpx.Client(base_url=url, timeout=10) as client:
        samples = scrape(client, auth=("fluxuser", "12345"))
    name = "flux_restful_websocket_handshakes_total"
    assert value(samples, name, route="/v1/events", outcome="accepted") == 1
    assert value(samples, name, route="/v1/events", outcome="refused") == 1

    wait_for(lambda: sum(1 for e in lines(audit) if e["event"] == "websocket") == 2)
    accepted, refused = (e for e in lines(audit) if e["event"] == "websocket")
    assert accepted["user"] == "alice" and accepted["outcome"] == "accepted"
    assert refused["outcome"] == "refused" and refused["close_code"] == 4401

    wait_for(lambda: any(e.get("route") == "metrics" for e in lines(access)))
    logged = lines(access)
    upgrades = [e for e in logged if e.get("websocket")]
    assert [(e["status"], e["websocket"]) for e in upgrades] == [
        (101, "accepted"),
        (101, "refused"),
    ]
    login = next(e for e in logged if e["path"] == "/v1/login/access-token")
    assert login["method"] == "POST" and login["status"] == 200
    scrape_line = next(e for e in logged if e.get("route") == "metrics")
    assert scrape_line["user"] == "fluxuser" and scrape_line["auth"] == "password"
    assert isinstance(scrape_line["duration_ms"], float)
    assert all("alice-pw" not in json.dumps(e) and token not in json.dumps(e) for e in logged)


def test_an_unwritable_access_log_stops_the_server(server_factory: ServerFactory, tmp_path):
    server = server_factory(args=["--access-log", str(tmp_path / "no" / "such" / "x")], start=False)
    try:
        server.start(timeout=30)
    except RuntimeError as exc:
        assert "--access-log" in str(exc) and "cannot open it" in str(exc)
    else:
        raise AssertionError("the server started")
