"""The retry policy on 429 and 503: Retry-After is honoured, bounded, and submits are safe."""

from __future__ import annotations

import httpx
import pytest

from flux_restful_client import Client, RateLimitedError, ServerError
from tests.sdk.conftest import OUR_AUTH

KEYS_HONOURED = {**OUR_AUTH, "server": {**OUR_AUTH["server"], "features": ["idempotent_submit"]}}
"""``GET /v1/auth`` of a server that honours Idempotency-Key (ours since batch submit)."""


def _honouring_keys(handler):
    """Answer ``GET /v1/auth`` as a server that honours keys; the rest goes to ``handler``."""

    def wrapped(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth":
            return httpx.Response(200, json=KEYS_HONOURED)
        return handler(request)

    return wrapped


def _answer(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(
        status, json={"detail": "slow down", "code": "rate_limited"}, headers=headers
    )


async def test_a_read_waits_out_retry_after_then_succeeds(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            return _answer(429, "0")
        return httpx.Response(200, json={"nodes": ["n0"]})

    client = runner.mock(handler)
    assert await runner.call(client, "list_nodes") == {"nodes": ["n0"]}
    assert calls == ["GET", "GET"]
    await runner.close(client)


async def test_a_wait_longer_than_max_wait_is_raised_at_once(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return _answer(429, "3600")

    client = runner.mock(handler, max_wait=30)
    with pytest.raises(RateLimitedError) as info:
        await runner.call(client, "get_job", 1)
    assert info.value.retry_after == 3600 and info.value.status_code == 429
    assert "slow down" in str(info.value) and len(calls) == 1
    await runner.close(client)


@pytest.mark.parametrize("status", [429, 503])
async def test_a_submit_is_not_resent_to_a_server_not_known_to_honour_keys(runner, status):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return _answer(status, "0")

    client = runner.mock(handler)
    with pytest.raises(RateLimitedError if status == 429 else ServerError):
        await runner.call(client, "submit_job", "true")
    assert calls == ["POST"]
    await runner.close(client)


async def test_a_submit_with_an_idempotency_key_is_resent(runner):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("idempotency-key"))
        if len(calls) == 1:
            return _answer(429, "0")
        return httpx.Response(200, json={"Message": "Job submit.", "id": 7})

    client = runner.mock(_honouring_keys(handler), ours=False)
    await runner.call(client, "server_info")  # it honours keys: re-sending is safe
    assert await runner.call(client, "submit_job", "true", idempotency_key="k-1") == 7
    assert calls == ["k-1", "k-1"]  # the submit twice, with its key
    await runner.close(client)


def test_retry_delays_follow_the_header():
    client = Client(
        host="http://127.0.0.1:9",
        transport=httpx.MockTransport(_honouring_keys(lambda r: _answer(200))),
    )
    get = client._http.build_request("GET", "jobs")
    post = client._http.build_request("POST", "jobs/submit")
    keyed = client._http.build_request("POST", "jobs/submit", headers={"Idempotency-Key": "x"})
    assert client._retry_delay(get, 0, response=_answer(429, "7")) == 7.0
    assert client._retry_delay(get, 0, response=_answer(503, "2")) == 2.0
    assert client._retry_delay(get, 0, response=_answer(429, "61")) is None  # over max_wait
    date = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: go now
    assert client._retry_delay(get, 0, response=_answer(429, date)) == 0.0
    assert client._retry_delay(get, 0, response=_answer(429)) == client.backoff
    assert client._retry_delay(post, 0, response=_answer(429, "1")) is None
    # A keyed submit is re-sent once the server is known to honour keys (ours does).
    assert client._retry_delay(keyed, 0, response=_answer(429, "1")) is None
    client.server_info()
    assert client._retry_delay(keyed, 0, response=_answer(429, "1")) == 1.0
    assert client._retry_delay(get, 4, response=_answer(429, "1")) is None  # attempts spent
    client.close()
