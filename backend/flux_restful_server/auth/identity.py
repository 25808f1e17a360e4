"""Who a user is now: the stores the service opened, and identities read from them.

Every credential (password, JWT, personal token, refresh token) ends here: the user is looked
up as they are at this moment, so a removal, a deactivation or a new password ends what was
issued before it, and the caller becomes a :class:`Principal`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from ..domain.owner import Owner
from ..settings import Settings
from .accounts import AccountRefused, AccountResolver
from .errors import Forbidden, InvalidCredentials
from .principal import ALL_SCOPES, Principal
from .store import UserStore
from .token_store import TokenStore

__all__ = ["AuthStores", "Identity"]


@dataclass(frozen=True, slots=True)
class Identity:
    """A user whose password or token checked out."""

    name: str
    """User name."""
    superuser: bool
    """Superuser by the store's flag or ``FLUX_ADMIN_USERS``."""
    version: str
    """Token version to embed in (or compare with) access tokens."""


@dataclass(slots=True)
class AuthStores:
    """What the service opened (filled in by ``AuthService.open``), shared by its parts."""

    settings: Settings
    """The server's settings."""
    accounts: AccountResolver = field(init=False)
    """System accounts (PAM users, multi-user mode's job owners)."""
    store: UserStore | None = None
    """The user store; ``None`` with auth off or on PAM."""
    tokens: TokenStore | None = None
    """Personal and refresh tokens; ``None`` with auth off."""
    signing_key: bytes = b""
    """The key access tokens are signed with."""
    key_source: str = ""
    """Where the signing key came from (for the start-up log)."""

    def __post_init__(self) -> None:
        self.accounts = AccountResolver(self.settings.min_uid)

    @property
    def backend(self) -> str:
        """The auth backend."""
        return self.settings.auth_backend

    @property
    def multi_user(self) -> bool:
        """Whether jobs run as the caller's system account."""
        return self.settings.auth_enabled and self.settings.server_mode == "multi-user"

    def family_revoked(self, family: str | None) -> bool:
        """Whether the sign-in ``family`` (if any) was revoked since its tokens were issued."""
        return family is not None and self.tokens is not None and self.tokens.family_revoked(family)

    def allowed_scopes(self, identity: Identity) -> frozenset[str]:
        """Every scope ``identity`` may hold: ``admin`` only for superusers."""
        return ALL_SCOPES if identity.superuser else ALL_SCOPES - {"admin"}

    def current_identity(self, name: str, version: str) -> Identity:
        """The user as they are now, provided ``version`` still matches their tokens.

        Raises:
            InvalidCredentials: Removed, deactivated, or the version moved on.
        """
        admin = name in self.settings.admin_users
        if self.backend == "pam":
            try:
                self.accounts.owner(name)
            except AccountRefused:
                raise InvalidCredentials() from None
            if version != "pam":
                raise InvalidCredentials()
            return Identity(name, admin, version)
        assert self.store is not None
        user = self.store.get(name)
        if (
            user is None
            or not user.is_active
            or not hmac.compare_digest(user.token_version, version)
        ):
            raise InvalidCredentials()
        return Identity(name, user.is_superuser or admin, version)

    def live_identity(self, name: str) -> Identity:
        """The user as they are now, whatever their token version.

        Personal tokens outlive password changes; removal and deactivation still end them.

        Raises:
            InvalidCredentials: Removed or deactivated.
        """
        if self.backend == "pam":
            return self.current_identity(name, "pam")
        assert self.store is not None
        user = self.store.get(name)
        if user is None or not user.is_active:
            raise InvalidCredentials()
        return self.current_identity(name, user.token_version)

    def password_version(self, name: str) -> str:
        """The user's token version (changes with the password); empty if unknown or PAM."""
        if self.store is None:
            return ""
        user = self.store.get(name)
        return user.token_version if user is not None else ""

    def principal(
        self,
        identity: Identity,
        *,
        scopes: frozenset[str],
        via: str,
        token_id: str | None = None,
        family: str | None = None,
    ) -> Principal:
        """The caller ``identity`` acts as, with what their credentials allow.

        Raises:
            Forbidden: (multi-user mode) not an allowed system account.
        """
        if self.multi_user:
            try:
                owner = self.accounts.owner(identity.name)
            except AccountRefused as exc:
                raise Forbidden(str(exc)) from None
        else:
            owner = Owner(user=identity.name)
        return Principal(
            name=identity.name,
            superuser=identity.superuser and "admin" in scopes,
            owner=owner,
            version=identity.version,
            scopes=scopes,
            via=via,
            token_id=token_id,
            family=family,
        )
