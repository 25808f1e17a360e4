"""Personal access tokens: created, listed and revoked by their owners (or a superuser)."""

from __future__ import annotations

import time

from .errors import BadTokenRequest, Forbidden, TokenNotFound, TokensUnavailable
from .identity import AuthStores
from .principal import Principal
from .token_store import PersonalToken, TokenStore, TokenStoreError

__all__ = ["PersonalTokens", "check_token_name"]


class PersonalTokens:
    """The routes' view of personal tokens: what a caller may create, see and revoke."""

    def __init__(self, stores: AuthStores) -> None:
        self._stores = stores

    def create(
        self, principal: Principal, name: str, scopes: frozenset[str], expires_in: float
    ) -> tuple[PersonalToken, str]:
        """Create a personal access token for the caller; return it and its secret form.

        Raises:
            TokensUnavailable: Auth is off (nobody to own a token).
            Forbidden: ``scopes`` go beyond the caller's own.
            BadTokenRequest: Bad name or lifetime, a name already in use, too many tokens.
        """
        tokens = self._token_store()
        assert principal.name is not None
        wider = scopes - principal.scopes
        if wider:
            raise Forbidden(
                f"A token cannot have more rights than the credentials that create it (these "
                f"lack {', '.join(sorted(wider))})."
            )
        check_token_name(name)
        max_days = self._stores.settings.personal_token_max_days
        longest = max_days * 86400
        if not 60 <= expires_in <= longest:
            raise BadTokenRequest(
                f"expires_in must be between 60 seconds and {max_days}"
                f" days ({longest} seconds), not {expires_in:g}"
            )
        try:
            return tokens.create_personal(principal.name, name, scopes, time.time() + expires_in)
        except TokenStoreError as exc:
            raise BadTokenRequest(str(exc)) from None

    def list(self, principal: Principal, user: str | None = None) -> list[PersonalToken]:
        """The caller's live tokens; a superuser's listing has everyone's (or ``user``'s)."""
        tokens = self._token_store()
        if not principal.superuser:
            return tokens.list_personal(principal.name)
        return tokens.list_personal(user)

    def revoke(self, principal: Principal, token_id: str) -> PersonalToken:
        """Revoke one of the caller's tokens (a superuser: anyone's).

        Raises:
            TokenNotFound: No such live token, or not the caller's (404 either way).
        """
        tokens = self._token_store()
        token = tokens.get_personal(token_id)
        if token is None or not (principal.superuser or token.user == principal.name):
            raise TokenNotFound(f"Token {token_id} not found")
        tokens.revoke_personal(token_id)
        return token

    def _token_store(self) -> TokenStore:
        if not self._stores.settings.auth_enabled or self._stores.tokens is None:
            raise TokensUnavailable()
        return self._stores.tokens


def check_token_name(name: str) -> str:
    """Return ``name`` when it can name a personal token: 1-64 printable characters.

    Raises:
        BadTokenRequest: Empty, too long, or with control characters.
    """
    if not 1 <= len(name) <= 64 or not name.isprintable() or name != name.strip():
        raise BadTokenRequest(
            "name must be 1-64 printable characters without leading or trailing spaces"
        )
    return name
