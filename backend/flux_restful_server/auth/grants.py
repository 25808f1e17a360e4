"""Signing in: a password, upstream's handshake or a refresh token, answered with a token pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidCredentials, LoginFailed, RefreshRefused, RefreshReuseDetected
from .identity import AuthStores, Identity
from .login import PasswordChecker
from .token_store import RefreshReused, TokenStoreError
from .tokens import SCOPES, HandshakeError, decode_handshake, issue_access_token

__all__ = ["Grant", "Grants"]


@dataclass(frozen=True, slots=True)
class Grant:
    """What a sign-in (or a refresh) answers: an access token and the refresh token after it."""

    access_token: str
    """The JWT to send as ``Authorization: Bearer``."""
    refresh_token: str
    """Spend it once at ``/v1/login/access-token`` (``grant_type=refresh_token``) for a new pair."""
    expires_in: int
    """Seconds the access token lasts."""
    scopes: frozenset[str]
    """What the access token allows."""

    def as_json(self) -> dict[str, Any]:
        """The login answer: upstream's keys first, then OAuth2's standard extras."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "scope": " ".join(sorted(self.scopes)),
        }


class Grants:
    """Issues access and refresh tokens to callers who proved who they are."""

    def __init__(self, stores: AuthStores, passwords: PasswordChecker) -> None:
        self._stores = stores
        self._passwords = passwords

    @property
    def handshake_enabled(self) -> bool:
        """Whether ``POST /v1/token`` works (always for shared-secret, else with a secret key)."""
        if self._stores.backend == "shared-secret":
            return True
        return self._passwords.enabled and bool(self._stores.settings.secret_key)

    def grant(self, identity: Identity, scopes: frozenset[str], family: str | None = None) -> Grant:
        """Sign an access token and issue the refresh token after it.

        A new sign-in family starts unless ``family`` continues one.
        """
        stores = self._stores
        assert stores.tokens is not None
        lifetime = stores.settings.refresh_token_expires_days * 86400
        refresh, family = stores.tokens.issue_refresh(
            identity.name, scopes, identity.version, lifetime, family
        )
        minutes = stores.settings.access_token_expires_minutes
        access = issue_access_token(
            stores.signing_key,
            user=identity.name,
            scopes=scopes,
            version=identity.version,
            backend=stores.backend,
            expires_minutes=minutes,
            family=family,
        )
        return Grant(access, refresh, minutes * 60, scopes)

    async def login(
        self, name: str, password: str, requested: str | None = None, address: str = ""
    ) -> Grant:
        """Check a user name and password and return an access and a refresh token.

        Raises:
            LoginFailed: Any failure (always a 400).
            LoginThrottled: Too many failures from ``address`` lately (429).
            LoginBusy: Too many checks waiting (503).
        """
        identity = await self._passwords.check(name, password, address)
        return self.grant(identity, self._requested_scopes(identity, requested))

    async def handshake(self, authorization: str | None, address: str = "") -> Grant:
        """Run upstream's ``/v1/token`` handshake and return an access and a refresh token.

        Raises:
            LoginFailed: Any failure, with upstream 1.1.0's messages (always a 400).
            LoginThrottled: Too many failures from ``address`` lately (429).
            LoginBusy: Too many checks waiting (503).
        """
        secret = self._stores.settings.secret_key
        if not self.handshake_enabled or not secret:
            raise LoginFailed("The shared-secret token handshake is not enabled on this server.")
        try:
            creds = decode_handshake(secret, authorization)
        except HandshakeError as exc:
            raise LoginFailed(str(exc)) from None
        return await self.login(creds.user, creds.password, address=address)

    def refresh(self, token: str) -> Grant:
        """Spend a refresh token for a new access token and the next refresh token.

        The scopes are those of the sign-in, less ``admin`` if the user is no longer a
        superuser; a password change, removal or deactivation since the sign-in refuses it.

        Raises:
            RefreshRefused: Unknown, expired or revoked token, or its user changed (400).
            RefreshReuseDetected: A spent token was used again; its family is revoked (400).
        """
        stores = self._stores
        if not stores.settings.auth_enabled or stores.tokens is None:
            raise RefreshRefused("Refresh tokens need auth on this server.")
        try:
            grant = stores.tokens.spend_refresh(token)
        except RefreshReused as exc:
            raise RefreshReuseDetected(str(exc), user=exc.user) from None
        except TokenStoreError as exc:
            raise RefreshRefused(str(exc)) from None
        try:
            identity = stores.current_identity(grant.user, grant.version)
        except InvalidCredentials:
            stores.tokens.revoke_family(grant.family)
            raise RefreshRefused(
                "The user was removed or deactivated, or changed their password, since this "
                "sign-in: sign in again."
            ) from None
        scopes = grant.scopes & stores.allowed_scopes(identity)
        return self.grant(identity, scopes, grant.family)

    def _requested_scopes(self, identity: Identity, requested: str | None) -> frozenset[str]:
        allowed = self._stores.allowed_scopes(identity)
        if not requested or not requested.strip():
            return allowed
        asked = frozenset(requested.split())
        unknown = asked - set(SCOPES)
        if unknown:
            raise LoginFailed(f"Unknown scope: {', '.join(sorted(unknown))}")
        if asked - allowed:
            raise LoginFailed("The user may not have the admin scope")
        return asked
