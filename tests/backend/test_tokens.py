"""Personal access tokens, scopes on every route, refresh tokens and ``/v1/me`` on a real server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from flux_restful_server.auth.commands import remove_user, set_password
from tests.backend.test_auth_server import AUTH_ENV, PUBLIC, add, routes
from tests.conftest import Server, ServerFactory, wait_for

pytestmark = pytest.mark.xdist_group("tokens")

ADMIN_ONLY = {("POST", "v1/service/stop"), ("GET", "metrics")}
"""Routes that need a superuser (so the admin scope) besides read or submit."""


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    from tests.conftest import server_env

    state = tmp_path_factory.mktemp("tokens") / "state"
    server = Server(state_dir=state, env=server_env(AUTH_ENV), args=["--cores-per-node", "2"])
    add(state, "alice", "alice-pw")
    add(state, "bob", "bob-pw")
    server.start()
    yield server
    server.stop()


def login(url: str, user: str, password: str, **extra: str) -> dict[str, object]:
    r = httpx.post(
        f"{url}/v1/login/access-token", data={"username": user, "password": password, **extra}
    )
    assert r.status_code == 200, r.text
    return r.json()


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(url: str, headers: dict[str, str], **body: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/tokens", json=body, headers=headers)


def pat(url: str, user: str, password: str, scope: str, name: str) -> str:
    access = login(url, user, password)["access_token"]
    r = create(url, bearer(access), name=name, scope=scope)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_personal_token_lifecycle(token_server: Server):
    url = token_server.url
    alice = bearer(login(url, "alice", "alice-pw")["access_token"])
    r = create(url, alice, name="ci", scope="submit", expires_in=3600)
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["token"]
    assert secret.startswith("frp_") and created["scopes"] == ["read", "submit"]
    assert created["user"] == "alice" and created["expires"] - created["created"] == 3600
    assert r.headers["cache-control"] == "no-store"
    # stored hashed: the secret is nowhere in the database file
    db = (token_server.state_dir / "flux-restful.db").read_bytes()
    wal = token_server.state_dir / "flux-restful.db-wal"
    assert secret.split("_", 2)[2].encode() not in db + (wal.read_bytes() if wal.exists() else b"")

    # usable wherever a bearer token is: submit, read, and /v1/me says who and how
    job = httpx.post(f"{url}/v1/jobs/submit", params={"command": "true"}, headers=bearer(secret))
    assert job.status_code == 200, job.text
    me = httpx.get(f"{url}/v1/me", headers=bearer(secret)).json()
    assert me["user"] == "alice" and me["auth"] == "personal_token"
    assert me["scopes"] == ["read", "submit"] and me["superuser"] is False
    assert me["token"]["id"] == created["id"] and me["token"]["name"] == "ci"

    # listed without its secret, with last_used; a second token of the same name is refused
    listing = httpx.get(f"{url}/v1/tokens", headers=alice).json()["tokens"]
    assert [t["id"] for t in listing] == [created["id"]]
    assert "token" not in listing[0] and listing[0]["last_used"] is not None
    again = create(url, alice, name="ci")
    assert again.status_code == 400 and "already have a token named 'ci'" in again.json()["detail"]

    # bob neither sees nor revokes it (404, like a job of someone else); alice revokes it
    bob = bearer(login(url, "bob", "bob-pw")["access_token"])
    assert httpx.get(f"{url}/v1/tokens", headers=bob).json()["tokens"] == []
    assert httpx.delete(f"{url}/v1/tokens/{created['id']}", headers=bob).status_code == 404
    revoked = httpx.delete(f"{url}/v1/tokens/{created['id']}", headers=alice)
    assert revoked.status_code == 200 and revoked.json()["id"] == created["id"]
    refused = httpx.get(f"{url}/v1/jobs", headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "Could not validate credentials"


def test_superusers_list_and_revoke_everyones_tokens(token_server: Server):
    url = token_server.url
    bob_token = pat(url, "bob", "bob-pw", "read", "bob-laptop")
    admin = bearer(login(url, "fluxuser", "12345")["access_token"])
    everyone = httpx.get(f"{url}/v1/tokens", headers=admin).json()["tokens"]
    mine = [t for t in everyone if t["name"] == "bob-laptop"]
    assert mine and mine[0]["user"] == "bob"
    only_bob = httpx.get(f"{url}/v1/tokens", params={"user": "bob"}, headers=admin).json()
    assert {t["user"] for t in only_bob["tokens"]} == {"bob"}
    assert httpx.delete(f"{url}/v1/tokens/{mine[0]['id']}", headers=admin).status_code == 200
    assert httpx.get(f"{url}/v1/me", headers=bearer(bob_token)).status_code == 401
    # a superuser's token without the admin scope is an ordinary user's
    plain = bearer(login(url, "fluxuser", "12345", scope="read submit")["access_token"])
    names = {t["user"] for t in httpx.get(f"{url}/v1/tokens", headers=plain).json()["tokens"]}
    assert names <= {"fluxuser"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"scope": "read"}, "name is required"),
        ({"name": "", "scope": "read"}, "name must be 1-64 printable"),
        ({"name": "x" * 65}, "name must be 1-64 printable"),
        ({"name": "a\nb"}, "name must be 1-64 printable"),
        ({"name": "x", "scope": "root"}, "scope must be read, submit or admin"),
        ({"name": "x", "scope": []}, "scope must be read, submit or admin"),
        ({"name": "x", "expires_in": 5}, "expires_in must be between 60 seconds and 365 days"),
        ({"name": "x", "expires_in": 10**20}, "expires_in is out of range"),
        ({"name": "x", "expires_in": "30d"}, "expires_in must be a number of seconds"),
        ({"name": "x", "scope": "admin"}, "cannot have more rights than the credentials"),
    ],
)
def test_bad_token_requests_say_why(token_server: Server, body: dict[str, object], reason: str):
    alice = bearer(login(token_server.url, "alice", "alice-pw")["access_token"])
    r = create(token_server.url, alice, **body)
    assert r.status_code in (400, 403), r.text
    assert reason in r.json()["detail"]


def test_a_token_cannot_mint_a_wider_token(token_server: Server):
    url = token_server.url
    read = pat(url, "alice", "alice-pw", "read", "read-only-minter")
    r = create(url, bearer(read), name="wider", scope="submit")
    assert r.status_code == 403 and "needs submit" in r.json()["detail"]
    submit = pat(url, "alice", "alice-pw", "submit", "submit-minter")
    assert create(url, bearer(submit), name="narrower", scope="read").status_code == 201


def test_tokens_need_auth(server: Server):
    r = httpx.post(f"{server.url}/v1/tokens", json={"name": "ci"})
    assert r.status_code == 400 and r.json()["code"] == "tokens_unavailable"
    me = httpx.get(f"{server.url}/v1/me").json()
    assert me["user"] is None and me["superuser"] is True and me["auth"] == "anonymous"
    assert me["scopes"] == ["admin", "read", "submit"]


def _concrete(path: str, job: int) -> str:
    return "/" + re.sub(r"<[^>]+>", str(job), path)


def test_scopes_on_every_route(token_server: Server):
    """A read-only token reads everything it may and changes nothing; submit adds changes;
    only a superuser's admin scope reaches the superuser routes."""
    url = token_server.url
    read = bearer(pat(url, "alice", "alice-pw", "read", "matrix-read"))
    submit = bearer(pat(url, "alice", "alice-pw", "submit", "matrix-submit"))
    admin_submit = bearer(pat(url, "fluxuser", "12345", "submit", "matrix-admin-submit"))
    admin = bearer(pat(url, "fluxuser", "12345", "admin", "matrix-admin"))
    job = int(
        httpx.post(f"{url}/v1/jobs/submit", params={"command": "sleep 60"}, headers=submit).json()[
            "id"
        ]
    )
    checked = 0
    with httpx.Client(base_url=url, timeout=10) as client:
        for method, path, websocket in routes():
            if websocket or path.endswith("/stream") or path == "v1/events":
                continue  # streams: test_streams_need_the_read_scope
            concrete = _concrete(path, job)
            where = f"{method} {concrete}"
            r = client.request(method, concrete, headers=read)
            if method in ("GET", "HEAD", "OPTIONS"):
                if (method, path) in ADMIN_ONLY:
                    assert r.status_code == 403, where
                else:
                    assert r.status_code not in (401, 403), f"{where}: {r.text[:200]}"
            else:
                assert r.status_code == 403, where
                assert "needs submit" in r.text, where
            if method not in ("GET", "HEAD", "OPTIONS") and (method, path) not in ADMIN_ONLY:
                r = client.request(method, concrete, headers=submit)
                assert r.status_code not in (401, 403) or "csrf" in r.text.lower(), where
            if (method, path) in ADMIN_ONLY:
                r = client.request(method, concrete, headers=admin_submit)
                assert r.status_code == 403, f"{where} needs the admin scope"
                if path == "metrics":
                    assert client.get("/metrics", headers=admin).status_code == 200
            checked += 1
    assert checked >= 10


def test_streams_need_the_read_scope(token_server: Server):
    url = token_server.url
    read = pat(url, "bob", "bob-pw", "read", "stream-read")
    submit_only = httpx.post(
        f"{url}/v1/tokens",
        json={"name": "stream-submit-only", "scope": ["submit"]},
        headers=bearer(login(url, "bob", "bob-pw")["access_token"]),
    ).json()["token"]
    with httpx.stream(
        "GET",
        f"{url}/v1/events",
        headers={**bearer(read), "Accept": "text/event-stream"},
        params={"ping": "1"},
        timeout=10,
    ) as r:
        assert r.status_code == 200
    r = httpx.get(
        f"{url}/v1/events", headers={**bearer(submit_only), "Accept": "text/event-stream"}
    )
    assert r.status_code == 403 and "needs read" in r.json()["detail"]


def test_refresh_rotates_and_reuse_revokes_the_family(token_server: Server):
    url = token_server.url
    first = login(url, "alice", "alice-pw")
    assert {"access_token", "token_type", "refresh_token", "expires_in"} <= set(first)
    access1, refresh1 = first["access_token"], first["refresh_token"]

    def refresh(token: object) -> httpx.Response:
        return httpx.post(
            f"{url}/v1/login/access-token",
            data={"grant_type": "refresh_token", "refresh_token": str(token)},
        )

    second = refresh(refresh1)
    assert second.status_code == 200, second.text
    access2, refresh2 = second.json()["access_token"], second.json()["refresh_token"]
    assert refresh2 != refresh1 and access2 != access1
    assert httpx.get(f"{url}/v1/me", headers=bearer(access2)).json()["user"] == "alice"

    # the spent token comes back (a copy): refused, and the whole sign-in is revoked
    reused = refresh(refresh1)
    assert reused.status_code == 400 and reused.json()["code"] == "refresh_token_reused"
    assert refresh(refresh2).status_code == 400
    for token in (access1, access2):
        assert httpx.get(f"{url}/v1/me", headers=bearer(token)).status_code == 401
    # another sign-in of the same user is untouched
    other = login(url, "alice", "alice-pw")
    assert httpx.get(f"{url}/v1/me", headers=bearer(other["access_token"])).status_code == 200
    assert refresh(other["refresh_token"]).status_code == 200


def test_refresh_keeps_the_scopes_and_honours_user_changes(
    server_factory: ServerFactory, tmp_path: Path
):
    server = server_factory(env=AUTH_ENV, start=False)
    add(server.state_dir, "carol", "carol-pw")
    server.start()
    url = server.url
    narrow = login(url, "carol", "carol-pw", scope="read")
    r = httpx.post(
        f"{url}/v1/login/access-token",
        json={"grant_type": "refresh_token", "refresh_token": narrow["refresh_token"]},
    )
    assert r.status_code == 200 and r.json()["scope"] == "read"
    after_change = r.json()["refresh_token"]
    result = CliRunner().invoke(
        set_password,
        ["carol", "--password-stdin", "--state-dir", str(server.state_dir)],
        input="new-carol-pw\n",
    )
    assert result.exit_code == 0, result.output
    r = httpx.post(
        f"{url}/v1/login/access-token",
        data={"grant_type": "refresh_token", "refresh_token": after_change},
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_grant"
    for junk in ("", "frr_nothex_xxxxxxxxxxxxxxxxxxxxxxxx", "x" * 5000):
        r = httpx.post(
            f"{url}/v1/login/access-token",
            data={"grant_type": "refresh_token", "refresh_token": junk},
        )
        assert r.status_code == 400, junk
    # a personal token survives the password change and dies with the user
    token = pat(url, "carol", "new-carol-pw", "read", "carol-ci")
    result = CliRunner().invoke(remove_user, ["carol", "--state-dir", str(server.state_dir)])
    assert result.exit_code == 0
    assert httpx.get(f"{url}/v1/me", headers=bearer(token)).status_code == 401
    add(server.state_dir, "carol", "carol-pw")  # a new carol does not inherit the old tokens
    assert httpx.get(f"{url}/v1/me", headers=bearer(token)).status_code == 401


def test_a_revoked_token_ends_its_open_stream(token_server: Server):
    url = token_server.url
    alice = bearer(login(url, "alice", "alice-pw")["access_token"])
    created = create(url, alice, name="stream-revoke", scope="read").json()
    lines: list[str] = []
    with httpx.stream(
        "GET",
        f"{url}/v1/events",
        headers={**bearer(created["token"]), "Accept": "text/event-stream"},
        params={"ping": "1"},
        timeout=30,
    ) as r:
        assert r.status_code == 200
        assert httpx.delete(f"{url}/v1/tokens/{created['id']}", headers=alice).status_code == 200
        started = time.monotonic()
        for line in r.iter_lines():
            lines.append(line)
            if "revoked" in line or "unauthorized" in line.lower():
                break
        assert time.monotonic() - started < 25
    assert any("credentials" in line.lower() or "revoked" in line for line in lines), lines[-5:]


def test_public_routes_unchanged():
    assert PUBLIC.match("v1/auth") and not PUBLIC.match("v1/me") and not PUBLIC.match("v1/tokens")


def test_token_use_is_audited(server_factory: ServerFactory, tmp_path: Path):
    log = tmp_path / "audit.log"
    server = server_factory(env={**AUTH_ENV, "FLUX_AUDIT_LOG": str(log)}, start=False)
    add(server.state_dir, "dave", "dave-pw")
    server.start()
    url = server.url
    token = pat(url, "dave", "dave-pw", "submit", "dave-ci")
    httpx.post(f"{url}/v1/jobs/submit", params={"command": "true"}, headers=bearer(token))
    httpx.get(f"{url}/v1/jobs", headers=bearer(token))
    wait_for(lambda: '"submit"' in log.read_text())
    text = log.read_text()
    assert '"event":"token_created"' in text
    assert text.count('"event":"token_used"') == 1  # once a minute per token, not per request
    submit_line = next(line for line in text.splitlines() if '"event":"submit"' in line)
    assert '"token":"' in submit_line and '"user":"dave"' in submit_line
    assert token not in text
