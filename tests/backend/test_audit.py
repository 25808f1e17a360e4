"""The audit log: JSON lines with who, what and the outcome after real requests; no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from flux_restful_client import Client
from tests.conftest import ServerFactory, server_env, wait_for

from .conftest import Api

PASSWORD = "alice-pass-9f2"
AUTH_ENV = {"FLUX_AUTH_BACKEND": "database", "FLUX_USER": "alice", "FLUX_TOKEN": PASSWORD}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_logins_submits_cancels_and_refusals_are_recorded(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    server = server_factory(env=AUTH_ENV, args=["--audit-log", str(audit)])
    url = server.url
    refused = httpx.post(
        f"{url}/v1/login/access-token", data={"username": "alice", "password": "no"}
    )
    assert refused.status_code == 400  # upstream's login answers a wrong password with 400
    login = httpx.post(
        f"{url}/v1/login/access-token", data={"username": "alice", "password": PASSWORD}
    )
    token = login.json()["access_token"]
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        api = Api(client)
        job = api.submit(command="sleep 30")
        assert client.post(f"/v1/jobs/{job}/cancel").status_code == 200
        api.wait_done(job)
    assert httpx.get(f"{url}/v1/jobs", auth=("mallory", "guess")).status_code == 401
    assert audit.stat().st_mode & 0o777 == 0o600

    records = lines(audit)
    events = [(r["event"], r.get("user"), r.get("outcome")) for r in records]
    assert events == [
        ("login", "alice", "failed"),
        ("login", "alice", "ok"),
        ("submit", "alice", "ok"),
        ("cancel", "alice", "ok"),
        ("denied", "mallory", None),
    ]
    login_failed, _, submit, cancel, denied = records
    assert login_failed["status"] == 400 and login_failed["address"] == "127.0.0.1"
    assert submit["job"] == job and cancel["job"] == str(job)
    assert denied["path"] == "/v1/jobs" and denied["status"] == 401
    assert all(r["time"].endswith("+00:00") for r in records)
    text = audit.read_text()
    for secret in (PASSWORD, token, "guess", "sleep 30"):
        assert secret not in text


def test_the_token_handshake_is_recorded_on_stderr(server_factory: ServerFactory) -> None:
    env = {"FLUX_REQUIRE_AUTH": "true", "FLUX_USER": "alice", "FLUX_TOKEN": PASSWORD,
           "FLUX_SECRET_KEY": "handshake-secret"}  # fmt: skip
    server = server_factory(env=env, args=["--audit-log", "-"])
    with Client(host=server.url, user="alice", token=PASSWORD, secret_key="handshake-secret") as c:
        c.list_jobs()

    def handshake() -> list[dict]:
        found = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        return [r for r in found if r["event"] == "token_handshake"]

    (record,) = wait_for(handshake)
    assert (record["user"], record["outcome"], record["status"]) == ("alice", "ok", 200)
    assert "handshake-secret" not in server.log() and PASSWORD not in server.log()


def test_user_changes_from_the_command_line_are_recorded(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    env = server_env({"FLUX_AUDIT_LOG": str(audit)})
    state = ["--state-dir", str(tmp_path / "state")]

    def run(*args: str, stdin: str | None = None) -> None:
        command = [sys.executable, "-m", "flux_restful_server", *args, *state]
        done = subprocess.run(
            command, input=stdin, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr

    run("add-user", "bob", "--password-stdin", stdin="bob-secret-pw\n")
    run("set-user", "bob", "--superuser")
    run("set-password", "bob", "--password-stdin", stdin="bob-other-pw\n")
    run("remove-user", "bob")
    records = lines(audit)
    assert [(r["event"], r["user"]) for r in records] == [
        ("user_added", "bob"),
        ("user_changed", "bob"),
        ("password_changed", "bob"),
        ("user_removed", "bob"),
    ]
    assert records[0]["superuser"] is False and records[1]["superuser"] is True
    assert all(r["by"] for r in records)
    assert "bob-secret-pw" not in audit.read_text() and "bob-other-pw" not in audit.read_text()


def test_an_unopenable_audit_log_stops_the_server_with_one_line(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "audit.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "flux_restful_server", "serve", "--port", "0",
         "--state-dir", str(tmp_path / "state"), "--audit-log", str(target)],
        env=server_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"Error: --audit-log {target}: cannot open it (No such file or directory)" in done.stderr
    assert not os.path.exists(target)
