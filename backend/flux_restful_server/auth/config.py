"""Auth settings: refuse configurations that cannot work, before the server starts.

Kept apart from the service so that ``flux-restful serve`` (and tests) can check settings without
opening anything, and so that the service module holds only what runs per request.
"""

from __future__ import annotations

import hmac

from ..settings import Settings, SettingsError
from . import pam as pam_backend

__all__ = ["check_auth_settings", "mask"]


def check_auth_settings(settings: Settings) -> None:
    """Refuse auth configurations that cannot work, with the reason.

    Raises:
        SettingsError: The configuration is unusable.
    """
    backend = settings.auth_backend
    if backend == "shared-secret" and not settings.secret_key:
        raise SettingsError(
            "FLUX_AUTH_BACKEND=shared-secret (also what FLUX_REQUIRE_AUTH=true selects) needs "
            "FLUX_SECRET_KEY: the shared secret clients sign the /v1/token handshake with."
        )
    if backend == "pam":
        try:
            pam_backend.load_pam()
        except pam_backend.PamUnavailable as exc:
            raise SettingsError(str(exc)) from None
    key = settings.token_signing_key
    if key is not None and settings.auth_enabled:
        if len(key.encode()) < 32:
            raise SettingsError(
                "FLUX_TOKEN_SIGNING_KEY must be at least 32 characters long "
                "(unset it to have a random key generated in the state directory)."
            )
        if settings.secret_key is not None and hmac.compare_digest(key, settings.secret_key):
            raise SettingsError(
                "FLUX_TOKEN_SIGNING_KEY must differ from FLUX_SECRET_KEY: clients know the "
                "shared secret, so they could forge access tokens."
            )
    if settings.access_token_expires_minutes < 1:
        raise SettingsError("FLUX_ACCESS_TOKEN_EXPIRES_MINUTES must be >= 1")


def mask(value: str | None) -> str:
    """Show that a secret is set without showing it."""
    return "********" if value else "(unset)"
