"""Guard tests for the SDK's public surface and its import-time dependencies."""

from __future__ import annotations

import subprocess
import sys

import flux_restful_client


def test_all_is_sorted_and_complete():
    names = flux_restful_client.__all__
    assert names == sorted(names)
    public = {
        name
        for name, value in vars(flux_restful_client).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("flux_restful_client")
    }
    assert public <= set(names)
    for name in names:
        assert hasattr(flux_restful_client, name)


def test_import_loads_neither_server_tui_nor_ipython():
    code = (
        "import sys, flux_restful_client, flux_restful_client.main, flux_restful_client.cli\n"
        "print(sorted(m for m in ('sanic', 'textual', 'IPython') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_upstream_import_paths():
    from flux_restful_client import get_client as top
    from flux_restful_client.main import FluxRestfulClient, get_client, get_encoded_auth

    assert top is get_client
    assert FluxRestfulClient is flux_restful_client.FluxRestfulClient
    assert callable(get_encoded_auth)


UPSTREAM_METHODS = (
    "cancel",
    "jobs",
    "list_nodes",
    "output",
    "search",
    "stop_service",
    "stream_output",
    "submit",
)
"""Upstream 0.2.1's JSON methods (UPSTREAM.md 5.2), which only its class has."""
UPSTREAM_HELPERS = ("reset", "set_basic_auth", "set_bearer_auth", "set_header")
TYPED_METHODS = (
    "cancel_job",
    "get_job",
    "get_output",
    "iter_lines",
    "list_jobs",
    "submit_job",
    "wait",
)


def test_get_client_has_upstreams_api_on_top_of_the_typed_client(tmp_path, monkeypatch):
    from flux_restful_client import (
        AsyncClient,
        AsyncFluxRestfulClient,
        Client,
        FluxRestfulClient,
        get_client,
    )

    monkeypatch.setenv("HOME", str(tmp_path))
    client = get_client(host="http://127.0.0.1:9")
    assert type(client) is FluxRestfulClient and isinstance(client, Client)
    assert str(client) == "[flux-restful-client]"
    for cls in (FluxRestfulClient, AsyncFluxRestfulClient):
        for name in (*UPSTREAM_METHODS, *UPSTREAM_HELPERS, *TYPED_METHODS):
            assert callable(getattr(cls, name, None)), (cls.__name__, name)
    assert issubclass(AsyncFluxRestfulClient, AsyncClient)
    # The typed clients speak one style: models in and out, errors raised.
    for cls in (Client, AsyncClient):
        assert [name for name in UPSTREAM_METHODS if hasattr(cls, name)] == [], cls.__name__
