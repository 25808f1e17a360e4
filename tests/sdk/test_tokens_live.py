"""Personal tokens, /v1/me and refresh tokens through both clients, against a real server."""

from __future__ import annotations

import time

import jwt
import pytest

from flux_restful_client import AuthError, ForbiddenError, Identity, PersonalToken
from flux_restful_client.settings import load_refresh_token, load_token, save_token

SIGNING_KEY = "sdk-test-signing-key-" + "k" * 32
AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": "fluxuser",
    "FLUX_TOKEN": "12345",
    "FLUX_SECRET_KEY": "notsecrethoo",
    "FLUX_TOKEN_SIGNING_KEY": SIGNING_KEY,
}


@pytest.fixture
def auth_server(server_factory):
    return server_factory(env=AUTH_ENV)


def expired(access_token: str) -> str:
    """The same access token, expired an hour ago (what a long-running script ends up with)."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    now = int(time.time())
    return jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, SIGNING_KEY, "HS256")


async def test_create_use_list_and_revoke_a_personal_token(runner, auth_server):
    admin = runner.client(host=auth_server.url, user="fluxuser", token="12345")
    created = await runner.call(admin, "create_token", "ci", scope="read", expires="2h")
    assert isinstance(created, PersonalToken) and created.token.startswith("frp_")
    assert created.scopes == ("read",) and 7190 <= created.expires - created.created <= 7200

    ci = runner.client(host=auth_server.url, access_token=created.token)
    me = await runner.call(ci, "me")
    assert me == Identity("fluxuser", False, ("read",), "personal_token", raw=me.raw)
    assert "jobs" in await runner.call(ci, "jobs")
    with pytest.raises(ForbiddenError, match="needs submit"):
        await runner.call(ci, "submit_job", "true")

    listed = await runner.call(admin, "list_tokens")
    assert [t.id for t in listed if t.name == "ci"] == [created.id]
    assert all(t.token is None for t in listed)
    await runner.call(admin, "revoke_token", created.id)
    with pytest.raises(AuthError):
        await runner.call(ci, "get_nodes")
    await runner.close(ci)
    await runner.close(admin)


async def test_pat_from_the_environment(runner, auth_server, monkeypatch):
    admin = runner.client(host=auth_server.url, user="fluxuser", token="12345")
    created = await runner.call(admin, "create_token", "env", scope="submit")
    monkeypatch.setenv("FLUX_RESTFUL_TOKEN", created.token)
    client = runner.client(host=auth_server.url)
    job = await runner.call(client, "submit_job", "true")
    assert (await runner.call(client, "wait", job, timeout=30)).result == "COMPLETED"
    await runner.close(client)
    await runner.close(admin)


async def test_an_expired_access_token_is_renewed_with_the_refresh_token(runner, auth_server):
    login = runner.client(host=auth_server.url, user="fluxuser", token="12345")
    await runner.call(login, "login")
    access, refresh = login.auth.access_token, login.auth.refresh_token
    assert refresh and refresh.startswith("frr_")
    # no password: only the (expired) access token and the refresh token
    client = runner.client(
        host=auth_server.url, access_token=expired(access), refresh_token=refresh
    )
    assert (await runner.call(client, "me")).user == "fluxuser"
    assert client.auth.refresh_token not in (None, refresh)  # rotated
    # the spent refresh token, used again by someone else, revokes the whole sign-in
    thief = runner.client(host=auth_server.url, access_token=expired(access), refresh_token=refresh)
    with pytest.raises(AuthError, match="could not be renewed"):
        await runner.call(thief, "me")
    client.auth.access_token = expired(access)
    with pytest.raises(AuthError, match="could not be renewed"):
        await runner.call(client, "me")
    for c in (login, client, thief):
        await runner.close(c)


async def test_a_stored_sign_in_is_renewed_and_stored_again(runner, auth_server):
    login = runner.client(host=auth_server.url, user="fluxuser", token="12345")
    await runner.call(login, "login")
    save_token(auth_server.url, expired(login.auth.access_token), login.auth.refresh_token)
    first_refresh = login.auth.refresh_token
    client = runner.client(host=auth_server.url)
    assert "jobs" in await runner.call(client, "jobs")
    assert load_token(auth_server.url) == client.auth.access_token
    assert load_refresh_token(auth_server.url) not in (None, first_refresh)
    # the next run starts from the rotated pair, and the server accepts it
    again = runner.client(host=auth_server.url)
    assert (await runner.call(again, "me")).user == "fluxuser"
    for c in (login, client, again):
        await runner.close(c)
