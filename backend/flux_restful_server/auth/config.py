"""Auth settings: refuse configurations that cannot work, before the server starts; log them.

Kept apart from the service so that ``flux-restful serve`` (and tests) can check settings without
opening anything, and so that the service module holds only what runs per request.
"""

from __future__ import annotations

import hmac
import logging

from ..settings import Settings, SettingsError
from . import pam as pam_backend
from .ratelimit import parse_rates

__all__ = ["check_auth_settings", "log_auth_config", "mask"]

logger = logging.getLogger("flux_restful_server.auth")


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
    for name, value in (
        ("FLUX_ACCESS_TOKEN_EXPIRES_MINUTES", settings.access_token_expires_minutes),
        ("FLUX_REFRESH_TOKEN_EXPIRES_DAYS", settings.refresh_token_expires_days),
        ("FLUX_PERSONAL_TOKEN_MAX_DAYS", settings.personal_token_max_days),
    ):
        if value < 1:
            raise SettingsError(f"{name} must be >= 1, not {value}")
    for name, text in (
        ("--submit-rate (FLUX_SUBMIT_RATE)", settings.submit_rate),
        ("--read-rate (FLUX_READ_RATE)", settings.read_rate),
    ):
        try:
            parse_rates(text, name)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None


def mask(value: str | None) -> str:
    """Show that a secret is set without showing it."""
    return "********" if value else "(unset)"


def log_auth_config(
    settings: Settings, *, password_login: bool, handshake: bool, key_source: str
) -> None:
    """Log how auth is configured at start-up, secrets masked, with a warning for a weak one."""
    s = settings
    logger.info(
        "Auth: backend=%s, server mode=%s, password login=%s, handshake=%s",
        s.auth_backend,
        s.server_mode,
        password_login,
        handshake,
    )
    if not s.auth_enabled:
        return
    logger.info(
        "Auth: FLUX_USER=%s, FLUX_TOKEN=%s, FLUX_SECRET_KEY=%s, token signing key from %s, "
        "tokens last %d min, FLUX_ADMIN_USERS=%s, FLUX_MIN_UID=%d",
        s.flux_user or "(unset)",
        mask(s.flux_token),
        mask(s.secret_key),
        key_source,
        s.access_token_expires_minutes,
        ",".join(sorted(s.admin_users)) or "(none)",
        s.min_uid,
    )
    if s.secret_key and len(s.secret_key.encode()) < 32:
        logger.warning(
            "FLUX_SECRET_KEY is shorter than 32 bytes: anyone who sees one handshake can "
            "try to guess it offline; use a longer random secret"
        )
