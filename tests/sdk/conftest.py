"""Helpers shared by the SDK tests: run one test body against the sync and the async client."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from flux_restful_client import AsyncFluxRestfulClient, FluxRestfulClient
from tests.upstream_server import upstream_server_factory  # noqa: F401 - a fixture for sdk tests

FLUX_VARS = ("FLUX_RESTFUL_HOST", "FLUX_USER", "FLUX_TOKEN", "FLUX_SECRET_KEY")
OUR_AUTH = {
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
            "me",
            "tokens",
            "refresh_tokens",
            "job_control",
        ],
    },
}
"""What our server answers on ``GET /v1/auth`` with auth off (mock transports answer it)."""


def as_our_server(
    handler: Callable[[httpx.Request], httpx.Response],
) -> Callable[[httpx.Request], httpx.Response]:
    """Wrap a mock handler so ``GET /v1/auth`` describes our server (not counted by it)."""

    def wrapped(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth":
            return httpx.Response(200, json=OUR_AUTH)
        return handler(request)

    return wrapped


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """No test reads or writes the real ~/.flux-restful-cli or inherits FLUX_* credentials."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in FLUX_VARS:
        monkeypatch.delenv(name, raising=False)
    return home


class Runner:
    """Drives the sync or the async client with the same calls.

    It makes upstream's classes, which are the typed clients plus upstream's JSON methods, so
    one runner covers both APIs (``tests/sdk/test_exports.py`` keeps the typed ones apart).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.cls: type[FluxRestfulClient] | type[AsyncFluxRestfulClient] = (
            FluxRestfulClient if mode == "sync" else AsyncFluxRestfulClient
        )
        self.opened: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        client = self.cls(**kwargs)
        self.opened.append(client)
        return client

    def mock(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        *,
        ours: bool = True,
        **kwargs: Any,
    ) -> Any:
        """A client on a mock transport; ``ours``: ``/v1/auth`` describes our server."""
        kwargs.setdefault("host", "http://flux.test")
        kwargs.setdefault("backoff", 0)
        if ours:
            handler = as_our_server(handler)
        return self.client(transport=httpx.MockTransport(handler), **kwargs)

    async def call(self, client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(client, method)(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def collect(
        self,
        client: Any,
        method: str,
        *args: Any,
        limit: int | None = None,
        until: Callable[[Any], bool] | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        items: list[Any] = []
        gen = getattr(client, method)(*args, **kwargs)
        if self.mode == "sync":
            try:
                for item in gen:
                    items.append(item)
                    if (limit is not None and len(items) >= limit) or (until and until(item)):
                        break
            finally:
                gen.close()
        else:
            try:
                async for item in gen:
                    items.append(item)
                    if (limit is not None and len(items) >= limit) or (until and until(item)):
                        break
            finally:
                await gen.aclose()
        return items

    async def close(self, client: Any) -> None:
        if self.mode == "sync":
            client.close()
        else:
            await client.aclose()


@pytest.fixture(params=["sync", "async"])
async def runner(request) -> AsyncIterator[Runner]:
    """Run the test body once with Client and once with AsyncClient (closed at the end)."""
    runner = Runner(request.param)
    yield runner
    for client in runner.opened:
        await runner.close(client)
