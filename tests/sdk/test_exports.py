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
    assert FluxRestfulClient is flux_restful_client.Client
    assert callable(get_encoded_auth)
