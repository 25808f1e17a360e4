"""The auth blueprint and guard on a bare Sanic app served over TCP (no job routes needed)."""

from __future__ import annotations

import itertools
import logging
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from flux_restful_server.auth import authenticate, require_superuser
from flux_restful_server.auth.commands import (
    add_user,
    list_users,
    remove_user,
    set_password,
    set_user,
)
from flux_restful_server.auth.install import setup_auth
from flux_restful_server.auth.store import UserStore
from flux_restful_server.settings import Settings
from tests.conftest import free_port

SECRET = "notsecrethoo"

# Serving a bare app in-process makes Sanic import sanic_testing, which imports websockets.legacy.
pytestmark = pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")
_names = itertools.count()


@asynccontextmanager
async def serve(state_dir: Path, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Serve a bare app with the auth blueprint and two protected routes on 127.0.0.1."""
    settings = Settings(state_dir=state_dir, **changes)
    app: Sanic[Any, Any] = Sanic(f"auth_views_{next(_names)}", configure_logging=False)
    app.config.TOUCHUP = False
    setup_auth(app, settings)

    @app.route("/v1/whoami", methods=["GET", "POST"])
    async def whoami(request: Request[Any, Any]) -> HTTPResponse:
        p = await authenticate(request, allow_query_token=True)
        return json({"name": p.name, "superuser": p.superuser, "uid": p.owner.uid})

    @app.post("/v1/service/stop")
    async def stop(request: Request[Any, Any]) -> HTTPResponse:
        require_superuser(await authenticate(request))
        return json({"Message": "Service is stopping."})

    # Sanic reads port=0 as "unset" and binds 8000: take a free port explicitly.
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


def handshake(user: str, password: str, secret: str = SECRET, scope: str = "token") -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        encoded = jwt.encode({"user": user, "pass": password, "scope": scope}, secret, "HS256")
    return {"Authorization": f"Bearer {encoded}"}


SHARED = {
    "auth_backend": "shared-secret",
    "secret_key": SECRET,
    "flux_user": "fluxuser",
    "flux_token": "12345",
}


async def login(client: httpx.AsyncClient, user: str, password: str, **form: str) -> str:
    r = await client.post(
        "/v1/login/access-token", data={"username": user, "password": password, **form}
    )
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add(state_dir: Path, name: str, password: str, *args: str) -> None:
    result = CliRunner().invoke(
        add_user,
        [name, "--password-stdin", "--state-dir", str(state_dir), *args],
        input=password + "\n",
    )
    assert result.exit_code == 0, result.output


async def test_auth_off_is_anonymous_superuser(tmp_path):
    async with serve(tmp_path) as client:
        assert (await client.get("/v1/auth")).json() == {
            "backend": "none",
            "password_login": False,
            "shared_secret_handshake": False,
            "server_mode": "single-user",
            "server": {
                "name": "flux-restful",
                "version": "0.1.0",
                "features": [
                    "stream",
                    "events",
                    "job_events",
                    "labels",
                    "job_filters",
                    "node_detail",
                    "batch",
                    "me",
                    "tokens",
                    "refresh_tokens",
                    "webhooks",
                    "batch_submit",
                    "idempotent_submit",
                    "dry_run",
                    "jobspec_submit",
                    "job_control",
                ],
            },
        }
        assert (await client.get("/v1/whoami")).json()["superuser"] is True
        assert (await client.post("/v1/service/stop")).status_code == 200
        r = await client.post("/v1/token", headers=handshake("a", "b"))
        assert r.status_code == 400
        assert (
            r.json()["detail"] == "The shared-secret token handshake is not enabled on this server."
        )
        r = await client.post("/v1/login/access-token", data={"username": "a", "password": "b"})
        assert r.status_code == 400
        assert r.json()["detail"] == "The none auth backend does not support password login."


async def test_handshake_and_bearer(tmp_path):
    async with serve(tmp_path, **SHARED) as client:
        info = (await client.get("/v1/auth")).json()
        assert info["backend"] == "shared-secret" and info["shared_secret_handshake"] is True
        r = await client.get("/v1/whoami")
        assert r.status_code == 401
        assert r.json()["detail"] == "Not authenticated"
        assert r.headers["www-authenticate"] == "Bearer"
        r = await client.post("/v1/token", headers=handshake("fluxuser", "12345"))
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        token = r.json()["access_token"]
        me = (await client.get("/v1/whoami", headers=bearer(token))).json()
        assert me == {"name": "fluxuser", "superuser": True, "uid": None}
        assert (await client.get("/v1/whoami", params={"token": token})).status_code == 200
        assert (await client.post("/v1/service/stop", headers=bearer(token))).status_code == 200


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Missing Authorization header"),
        ({"Authorization": "Bearer garbage"}, "Could not decode credentials"),
        ({"Authorization": "garbage"}, "Could not decode credentials"),
        (handshake("fluxuser", "12345", secret="wrong-secret"), "Could not decode credentials"),
        (handshake("nobody", "12345"), "Incorrect user or password"),
        (handshake("fluxuser", "wrong"), "Incorrect user or password"),
        (handshake("fluxuser", "12345", scope="admin"), "Invalid scope"),
        (handshake("", "12345"), "Credentials are missing 'user'"),
    ],
)
async def test_handshake_failures_are_400(tmp_path, headers, detail):
    async with serve(tmp_path, **SHARED) as client:
        r = await client.post("/v1/token", headers=headers)
        assert r.status_code == 400
        assert r.json()["detail"] == detail
        assert "www-authenticate" not in r.headers


async def test_login_form_scopes_and_failures(tmp_path):
    add(tmp_path, "alice", "alice-pw")
    async with serve(tmp_path, **SHARED) as client:
        r = await client.post(
            "/v1/login/access-token", data={"username": "alice", "password": "no"}
        )
        assert (r.status_code, r.json()["detail"]) == (400, "Incorrect user or password")
        r = await client.post("/v1/login/access-token", data={"username": "alice"})
        assert (r.status_code, r.json()["detail"]) == (
            400,
            "Both username and password are required.",
        )
        r = await client.post(
            "/v1/login/access-token",
            data={"username": "alice", "password": "alice-pw", "scope": "admin"},
        )
        assert (r.status_code, r.json()["detail"]) == (400, "The user may not have the admin scope")
        r = await client.post(
            "/v1/login/access-token", json={"username": "alice", "password": "alice-pw"}
        )
        assert r.status_code == 200

        token = await login(client, "alice", "alice-pw")
        assert (await client.get("/v1/whoami", headers=bearer(token))).json()["superuser"] is False
        r = await client.post("/v1/service/stop", headers=bearer(token))
        assert (r.status_code, r.json()["detail"]) == (
            403,
            "The user doesn't have enough privileges",
        )

        read_only = await login(client, "alice", "alice-pw", scope="read")
        assert (await client.get("/v1/whoami", headers=bearer(read_only))).status_code == 200
        r = await client.post("/v1/whoami", headers=bearer(read_only))
        assert r.status_code == 403 and "scope" in r.json()["detail"]

        admin_read = await login(client, "fluxuser", "12345", scope="read")
        r = await client.get("/v1/whoami", headers=bearer(admin_read))
        assert r.json()["superuser"] is False


async def test_basic_auth(tmp_path):
    async with serve(tmp_path, **SHARED) as client:
        assert (await client.get("/v1/whoami", auth=("fluxuser", "12345"))).json()[
            "name"
        ] == "fluxuser"
        # a second request is served from the verification cache and still works
        assert (await client.get("/v1/whoami", auth=("fluxuser", "12345"))).status_code == 200
        for auth in (("fluxuser", "wrong"), ("nobody", "12345")):
            r = await client.get("/v1/whoami", auth=auth)
            assert r.status_code == 401
            assert r.json()["detail"] == "Could not validate credentials"
            assert r.headers["www-authenticate"] == "Bearer"
        for header in ("Basic !!!", "Basic " + "bm9jb2xvbg==", "Digest abc", "Bearer"):
            r = await client.get("/v1/whoami", headers={"Authorization": header})
            assert r.status_code == 401, header


async def test_forged_and_expired_tokens_are_401(tmp_path):
    async with serve(tmp_path, **SHARED) as client:
        token = await login(client, "fluxuser", "12345")
        claims = jwt.decode(token, options={"verify_signature": False})
        key = (tmp_path / "token-signing.key").read_text().strip()
        now = int(time.time())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            with_secret = jwt.encode(claims, SECRET, "HS256")
        forged = {
            "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, "HS256"),
            "byte changed": token[:-3] + ("a" if token[-3] != "a" else "b") + token[-2:],
            "alg none": jwt.encode(claims, None, algorithm="none"),
            "shared secret": with_secret,
            "other backend": jwt.encode({**claims, "backend": "pam"}, key, "HS256"),
            "no expiry": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, key, "HS256"),
            "garbage": "abc.def.ghi",
        }
        for name, bad in forged.items():
            r = await client.get("/v1/whoami", headers=bearer(bad))
            assert r.status_code == 401, name
            assert r.json()["detail"] == "Could not validate credentials", name
            assert r.headers["www-authenticate"] == "Bearer", name


async def test_revocation_through_the_commands(tmp_path):
    add(tmp_path, "bob", "bob-pw")
    add(tmp_path, "carol", "carol-pw")
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path)]
    async with serve(tmp_path, **SHARED) as client:
        bob, carol = await login(client, "bob", "bob-pw"), await login(client, "carol", "carol-pw")
        assert (await client.get("/v1/whoami", headers=bearer(bob))).status_code == 200

        assert runner.invoke(remove_user, ["bob", *state]).exit_code == 0
        r = await client.get("/v1/whoami", headers=bearer(bob))
        assert (r.status_code, r.json()["detail"]) == (401, "Could not validate credentials")
        add(tmp_path, "bob", "bob-pw")  # re-created under the same name: old tokens stay dead
        assert (await client.get("/v1/whoami", headers=bearer(bob))).status_code == 401

        assert runner.invoke(set_user, ["carol", "--inactive", *state]).exit_code == 0
        assert (await client.get("/v1/whoami", headers=bearer(carol))).status_code == 401
        r = await client.post(
            "/v1/login/access-token", data={"username": "carol", "password": "carol-pw"}
        )
        assert (r.status_code, r.json()["detail"]) == (400, "Inactive user")
        assert runner.invoke(set_user, ["carol", "--active", "--superuser", *state]).exit_code == 0
        carol = await login(client, "carol", "carol-pw")
        assert (await client.get("/v1/whoami", headers=bearer(carol))).json()["superuser"] is True

        result = runner.invoke(
            set_password, ["carol", "--password-stdin", *state], input="new-pw\n"
        )
        assert result.exit_code == 0, result.output
        assert (await client.get("/v1/whoami", headers=bearer(carol))).status_code == 401
        await login(client, "carol", "new-pw")


async def test_flux_user_is_updated_and_key_persists_across_restarts(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="flux_restful_server.auth")
    async with serve(tmp_path, **SHARED) as client:
        token = await login(client, "fluxuser", "12345")
    async with serve(tmp_path, **SHARED) as client:
        assert (await client.get("/v1/whoami", headers=bearer(token))).status_code == 200
    changed = {**SHARED, "flux_token": "67890", "admin_users": frozenset({"dave"})}
    add(tmp_path, "dave", "dave-pw")
    async with serve(tmp_path, **changed) as client:
        assert (await client.get("/v1/whoami", headers=bearer(token))).status_code == 401
        await login(client, "fluxuser", "67890")
        dave = await login(client, "dave", "dave-pw")
        assert (await client.get("/v1/whoami", headers=bearer(dave))).json()["superuser"] is True
    logs = caplog.text
    assert "shared-secret" in logs and "FLUX_TOKEN=********" in logs
    assert "12345" not in logs and "67890" not in logs and SECRET not in logs
    key = (tmp_path / "token-signing.key").read_text().strip()
    assert key not in logs


async def test_database_backend_handshake_needs_secret(tmp_path):
    async with serve(
        tmp_path, auth_backend="database", flux_user="root-admin", flux_token="pw"
    ) as client:
        info = (await client.get("/v1/auth")).json()
        assert info["password_login"] is True and info["shared_secret_handshake"] is False
        r = await client.post("/v1/token", headers=handshake("root-admin", "pw"))
        assert r.status_code == 400
        await login(client, "root-admin", "pw")


def test_cli_user_management(tmp_path):
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path)]
    result = runner.invoke(add_user, ["erin", "--superuser", *state], input="pw1\npw1\n")
    assert result.exit_code == 0 and "Created superuser erin." in result.output
    assert "pw1" not in result.output
    result = runner.invoke(add_user, ["erin", *state], input="x\nx\n")
    assert result.exit_code == 1 and "User erin already exists." in result.output
    result = runner.invoke(add_user, ["frank", "pw-on-argv", *state])
    assert result.exit_code == 2  # passwords are never taken from argv
    result = runner.invoke(add_user, ["-bad", *state], input="x\nx\n")
    assert result.exit_code == 2
    result = runner.invoke(add_user, ["frank", "--password-stdin", *state], input="\n")
    assert result.exit_code == 1 and "must not be empty" in result.output
    result = runner.invoke(list_users, state)
    assert result.exit_code == 0
    assert result.output.splitlines() == ["NAME  SUPERUSER  ACTIVE", "erin  yes        yes"]
    result = runner.invoke(remove_user, ["nobody", *state])
    assert result.exit_code == 1 and "User nobody does not exist." in result.output
    result = runner.invoke(set_password, ["nobody", "--password-stdin", *state], input="x\n")
    assert result.exit_code == 1 and "does not exist" in result.output
    assert runner.invoke(set_user, ["erin", *state]).exit_code == 2
    store = UserStore(tmp_path / "flux-restful.db")
    assert [u.name for u in store.list_users()] == ["erin"]
    store.close()


async def test_multi_user_maps_to_system_accounts(tmp_path, system_users):
    account = system_users()
    add(tmp_path, account.pw_name, "pw")
    add(tmp_path, "daemon", "pw")  # a system account below FLUX_MIN_UID
    add(tmp_path, "ghost", "pw")  # no system account at all
    async with serve(tmp_path, **SHARED, server_mode="multi-user") as client:
        assert (await client.get("/v1/auth")).json()["server_mode"] == "multi-user"
        token = await login(client, account.pw_name, "pw")
        me = (await client.get("/v1/whoami", headers=bearer(token))).json()
        assert me == {"name": account.pw_name, "superuser": False, "uid": account.pw_uid}
        for name in ("daemon", "ghost"):
            r = await client.get("/v1/whoami", headers=bearer(await login(client, name, "pw")))
            assert r.status_code == 403
            assert r.json()["detail"] == f"{name} is not an allowed system account on this server."
