"""The auth service: one per app, opened at server start, used by the guard and the views.

A facade over the parts, each holding one idea: ``identity`` (the opened stores and who a user
is now), ``login`` (password checks, the ``FLUX_USER`` superuser), ``grants`` (token pairs from
a password, the handshake or a refresh token), ``personal`` (personal access tokens) and
``credentials`` (a request's token or Basic credentials to a ``Principal``).
"""

from __future__ import annotations

from typing import Any

from ..settings import Settings, SettingsError
from .config import check_auth_settings, log_auth_config
from .credentials import Credentials
from .grants import Grant, Grants
from .identity import AuthStores, Identity
from .login import PasswordChecker
from .personal import PersonalTokens
from .principal import Principal
from .ratelimit import RateLimits, parse_rates
from .store import UserStore, UserStoreError
from .token_store import PersonalToken, TokenStore, TokenStoreError
from .tokens import TokenError, load_signing_key

__all__ = ["AuthService", "Grant", "Identity"]


class AuthService:
    """Checks credentials and issues tokens according to :class:`Settings`."""

    def __init__(self, settings: Settings) -> None:
        """Prepare the service; :meth:`open` does the IO.

        Raises:
            SettingsError: The auth configuration is unusable.
        """
        check_auth_settings(settings)
        self.settings = settings
        self.backend: str = settings.auth_backend
        self.stores = AuthStores(settings)
        """The user and token stores and the signing key, once opened."""
        self.passwords = PasswordChecker(self.stores)
        self.grants = Grants(self.stores, self.passwords)
        self.personal = PersonalTokens(self.stores)
        self.credentials = Credentials(self.stores, self.passwords)
        self.rates = RateLimits(
            parse_rates(settings.submit_rate, "submit_rate"),
            parse_rates(settings.read_rate, "read_rate"),
            settings.max_streams,
        )

    @property
    def enabled(self) -> bool:
        """Whether callers must authenticate."""
        return self.settings.auth_enabled

    @property
    def password_login(self) -> bool:
        """Whether user names and passwords are accepted (form login, Basic)."""
        return self.passwords.enabled

    @property
    def handshake_enabled(self) -> bool:
        """Whether ``POST /v1/token`` works (always for shared-secret, else with a secret key)."""
        return self.grants.handshake_enabled

    @property
    def multi_user(self) -> bool:
        """Whether jobs run as the caller's system account."""
        return self.stores.multi_user

    @property
    def store(self) -> UserStore | None:
        """The user store (``None`` with auth off or on PAM)."""
        return self.stores.store

    @property
    def tokens(self) -> TokenStore | None:
        """The personal and refresh token store (``None`` with auth off)."""
        return self.stores.tokens

    def describe(self) -> dict[str, Any]:
        """The public ``GET /v1/auth`` body."""
        return {
            "backend": self.backend,
            "password_login": self.password_login,
            "shared_secret_handshake": self.handshake_enabled,
            "server_mode": self.settings.server_mode,
        }

    async def open(self) -> None:
        """Load the signing key, open the user store, create the ``FLUX_USER`` superuser.

        Raises:
            SettingsError: The key or store cannot be set up.
        """
        stores = self.stores
        if self.enabled:
            try:
                stores.signing_key, stores.key_source = load_signing_key(
                    self.settings.token_signing_key, self.settings.state_dir
                )
            except TokenError as exc:
                raise SettingsError(str(exc)) from None
            try:
                stores.tokens = TokenStore(self.settings.db_path)
            except TokenStoreError as exc:
                raise SettingsError(str(exc)) from None
            if self.backend != "pam":
                try:
                    stores.store = UserStore(self.settings.db_path)
                except UserStoreError as exc:
                    raise SettingsError(str(exc)) from None
            await self.passwords.open()
        log_auth_config(
            self.settings,
            password_login=self.password_login,
            handshake=self.handshake_enabled,
            key_source=stores.key_source,
        )

    def close(self) -> None:
        """Close the user store and the password threads."""
        self.passwords.close()
        if self.stores.tokens is not None:
            self.stores.tokens.close()
            self.stores.tokens = None
        if self.stores.store is not None:
            self.stores.store.close()
            self.stores.store = None

    # The routes' entry points, each one part's.

    async def check_password(self, name: str, password: str, address: str = "") -> Identity:
        """See :meth:`PasswordChecker.check`."""
        return await self.passwords.check(name, password, address)

    async def login(
        self, name: str, password: str, requested: str | None = None, address: str = ""
    ) -> Grant:
        """See :meth:`Grants.login`."""
        return await self.grants.login(name, password, requested, address)

    async def handshake(self, authorization: str | None, address: str = "") -> Grant:
        """See :meth:`Grants.handshake`."""
        return await self.grants.handshake(authorization, address)

    def refresh(self, token: str) -> Grant:
        """See :meth:`Grants.refresh`."""
        return self.grants.refresh(token)

    def create_personal_token(
        self, principal: Principal, name: str, scopes: frozenset[str], expires_in: float
    ) -> tuple[PersonalToken, str]:
        """See :meth:`PersonalTokens.create`."""
        return self.personal.create(principal, name, scopes, expires_in)

    def list_personal_tokens(
        self, principal: Principal, user: str | None = None
    ) -> list[PersonalToken]:
        """See :meth:`PersonalTokens.list`."""
        return self.personal.list(principal, user)

    def revoke_personal_token(self, principal: Principal, token_id: str) -> PersonalToken:
        """See :meth:`PersonalTokens.revoke`."""
        return self.personal.revoke(principal, token_id)

    def principal_from_token(self, token: str, method: str = "GET") -> Principal:
        """See :meth:`Credentials.from_token`."""
        return self.credentials.from_token(token, method)

    async def principal_from_basic(self, encoded: str, address: str = "") -> Principal:
        """See :meth:`Credentials.from_basic`."""
        return await self.credentials.from_basic(encoded, address)

    def recheck(self, principal: Principal) -> None:
        """See :meth:`Credentials.recheck`."""
        self.credentials.recheck(principal)
