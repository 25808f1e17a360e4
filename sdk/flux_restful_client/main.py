"""Upstream's entry module: ``from flux_restful_client.main import get_client`` keeps working."""

from __future__ import annotations

from typing import Any

from ._auth import get_encoded_auth
from ._upstream import FluxRestfulClient
from .settings import Settings

__all__ = ["FluxRestfulClient", "get_client", "get_encoded_auth"]


def get_client(quiet: bool = False, **kwargs: Any) -> FluxRestfulClient:
    """Return a :class:`FluxRestfulClient` configured from arguments, environment and settings.

    Args:
        quiet: Do not print upstream's notices.
        **kwargs: Any argument of :class:`FluxRestfulClient` (``host``, ``user``, ``token``,
            ``secret_key``, ``settings_file``, ``validate``, ``timeout``...).
    """
    settings = Settings(kwargs.pop("settings_file", None), validate=kwargs.pop("validate", True))
    return FluxRestfulClient(quiet=quiet, settings=settings, **kwargs)
