"""An idempotent submit survives ``kill -9`` of the server between accepting and answering.

The client sends its submit and never reads the answer (as if the connection dropped); once the
job exists the server is killed with SIGKILL, started again on the same state, and the client
retries with the same key: it gets the same id, and there is still one job. Runs on the local
executor, and on Flux under `just test-flux` (the server factory picks the executor).
"""

from __future__ import annotations

import socket
import uuid

import httpx

from tests.conftest import ServerFactory, wait_for


def _send_unanswered(port: int, path: str, key: str, body: bytes) -> socket.socket:
    """Send a POST and return the socket without reading the answer."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nIdempotency-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def _jobs(url: str) -> list[int]:
    return [j["id"] for j in httpx.get(url + "/v1/jobs", timeout=10).json()["jobs"]]


def test_retry_after_kill_9_gets_the_same_id(server_factory: ServerFactory) -> None:
    server = server_factory(args=["--cores-per-node", "2"])
    before = set(_jobs(server.url))
    key = uuid.uuid4().hex
    body = b'{"command": "sleep 30", "name": "durable"}'
    sock = _send_unanswered(server.port, "/v1/jobs/submit", key, body)
    created = wait_for(lambda: set(_jobs(server.url)) - before, timeout=20)
    server.kill()
    sock.close()
    server.restart()
    retry = httpx.post(
        server.url + "/v1/jobs/submit", content=body, timeout=20,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )  # fmt: skip
    assert retry.status_code == 200, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert {retry.json()["id"]} == created
    assert set(_jobs(server.url)) - before == created
    httpx.post(f"{server.url}/v1/jobs/{retry.json()['id']}/cancel", timeout=10)


def test_batch_retry_after_kill_9_gets_the_same_ids(server_factory: ServerFactory) -> None:
    server = server_factory(args=["--cores-per-node", "2"])
    before = set(_jobs(server.url))
    key = uuid.uuid4().hex
    body = b'[{"command": "true"}, {"command": "true", "num_tasks": 0}, {"command": "true"}]'
    sock = _send_unanswered(server.port, "/v1/jobs/batch", key, body)
    created = wait_for(lambda: (set(_jobs(server.url)) - before) or None, timeout=20)
    server.kill()
    sock.close()
    server.restart()
    retry = httpx.post(
        server.url + "/v1/jobs/batch", content=body, timeout=20,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )  # fmt: skip
    assert retry.status_code == 200, retry.text
    ids = retry.json()["ids"]
    assert ids[1] is None and set(ids) - {None} == set(_jobs(server.url)) - before
    assert set(ids) - {None} >= created
