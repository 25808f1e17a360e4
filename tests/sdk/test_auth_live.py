"""The auth flow against a real server with auth on: handshake, password login, tokens."""

from __future__ import annotations

import pytest

from flux_restful_client import AuthError
from flux_restful_client.settings import save_token

AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": "fluxuser",
    "FLUX_TOKEN": "12345",
    "FLUX_SECRET_KEY": "notsecrethoo",
}


@pytest.fixture
def auth_server(server_factory):
    return server_factory(env=AUTH_ENV)


async def test_handshake_on_challenge_then_original_request_is_resent(runner, auth_server):
    client = runner.client(
        host=auth_server.url, user="fluxuser", token="12345", secret_key="notsecrethoo"
    )
    # the very first call is a submit with query-free JSON: it must survive the 401 + handshake
    submitted = await runner.call(client, "submit", ["echo", "hi"], num_tasks=1)
    assert submitted["Message"] == "Job submit."
    assert client.auth.access_token
    info = await runner.call(client, "wait", submitted["id"], timeout=30)
    assert info.result == "COMPLETED"
    await runner.close(client)


async def test_credentials_come_from_the_environment(runner, auth_server, monkeypatch):
    for key in ("FLUX_USER", "FLUX_TOKEN", "FLUX_SECRET_KEY"):
        monkeypatch.setenv(key, AUTH_ENV[key])
    monkeypatch.setenv("FLUX_RESTFUL_HOST", auth_server.url)
    client = runner.client()
    assert "jobs" in await runner.call(client, "jobs")
    await runner.close(client)


async def test_password_login_without_secret_key(runner, auth_server):
    client = runner.client(host=auth_server.url, user="fluxuser", token="12345")
    assert "nodes" in await runner.call(client, "list_nodes")
    await runner.close(client)


async def test_refused_login_is_a_clear_auth_error(runner, auth_server):
    client = runner.client(
        host=auth_server.url, user="fluxuser", token="wrong", secret_key="notsecrethoo"
    )
    with pytest.raises(AuthError, match="Login refused"):
        await runner.call(client, "jobs")
    await runner.close(client)


async def test_missing_credentials_say_what_to_set(runner, auth_server):
    client = runner.client(host=auth_server.url)
    with pytest.raises(AuthError, match="FLUX_USER") as info:
        await runner.call(client, "jobs")
    assert info.value.status_code == 401
    await runner.close(client)


async def test_expired_or_bad_token_is_replaced_by_a_new_login(runner, auth_server):
    client = runner.client(
        host=auth_server.url, user="fluxuser", token="12345", secret_key="notsecrethoo"
    )
    client.set_bearer_auth("not-a-valid-token")
    assert "jobs" in await runner.call(client, "jobs")
    assert client.auth.access_token != "not-a-valid-token"
    await runner.close(client)


async def test_stored_token_is_used_without_credentials(runner, auth_server):
    login = runner.client(host=auth_server.url, user="fluxuser", token="12345")
    token = await runner.call(login, "login")
    await runner.close(login)
    save_token(auth_server.url, token)
    client = runner.client(host=auth_server.url)
    assert client.auth.access_token == token
    assert "jobs" in await runner.call(client, "jobs")
    await runner.close(client)


async def test_frames_stream_is_authenticated_through_the_same_flow(runner, auth_server):
    client = runner.client(
        host=auth_server.url, user="fluxuser", token="12345", secret_key="notsecrethoo"
    )
    job_id = await runner.call(client, "submit_job", ["echo", "secret"])
    client.auth.access_token = None  # the stream request itself meets the challenge
    lines = await runner.collect(client, "iter_lines", job_id)
    assert [line.data for line in lines] == ["secret\n"]
    await runner.close(client)


async def test_basic_auth_is_accepted_for_database_users(runner, auth_server):
    client = runner.client(host=auth_server.url)
    client.set_basic_auth("fluxuser", "12345")
    assert "jobs" in await runner.call(client, "jobs")
