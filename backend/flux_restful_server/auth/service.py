"""The auth service: one per app, opened at server start, used by the guard and the views."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ..domain.owner import Owner
from ..settings import Settings, SettingsError
from . import pam as pam_backend
from .accounts import AccountRefused, AccountResolver
from .config import check_auth_settings, mask
from .errors import Forbidden, InvalidCredentials, LoginFailed, TokenExpiredError
from .passwords import hash_password, verify_password
from .principal import ANONYMOUS, Principal
from .store import UserExists, UserStore, UserStoreError, check_username
from .throttle import LoginThrottle
from .tokens import (
    SCOPES,
    AccessClaims,
    HandshakeError,
    InvalidToken,
    TokenError,
    TokenExpired,
    decode_access_token,
    decode_handshake,
    issue_access_token,
    load_signing_key,
)

logger = logging.getLogger("flux_restful_server.auth")

PASSWORD_BACKENDS = frozenset({"database", "shared-secret", "pam"})
"""Backends where a user name and password can be checked (login form, handshake, Basic)."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that only need the ``read`` scope; the others need ``submit``."""

_BASIC_CACHE_SECONDS = 60.0
_BASIC_CACHE_MAX = 1024
_FAILURE_CACHE_MAX = 4096
_TOKEN_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class Identity:
    """A user whose password or token checked out."""

    name: str
    """User name."""
    superuser: bool
    """Superuser by the store's flag or ``FLUX_ADMIN_USERS``."""
    version: str
    """Token version to embed in (or compare with) access tokens."""


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
        self.store: UserStore | None = None
        self.accounts = AccountResolver(settings.min_uid)
        self.signing_key = b""
        self.key_source = ""
        self._pam: Any = None
        self._dummy_hash = ""
        self._basic_cache: dict[bytes, tuple[str, float]] = {}
        self._token_cache: dict[str, AccessClaims] = {}
        self._basic_failures: dict[bytes, tuple[str, float]] = {}
        self._basic_checks: dict[bytes, asyncio.Task[Identity]] = {}
        self.throttle = LoginThrottle()

    @property
    def enabled(self) -> bool:
        """Whether callers must authenticate."""
        return self.settings.auth_enabled

    @property
    def password_login(self) -> bool:
        """Whether user names and passwords are accepted (form login, Basic)."""
        return self.backend in PASSWORD_BACKENDS

    @property
    def handshake_enabled(self) -> bool:
        """Whether ``POST /v1/token`` works (always for shared-secret, else with a secret key)."""
        if self.backend == "shared-secret":
            return True
        return self.password_login and bool(self.settings.secret_key)

    @property
    def multi_user(self) -> bool:
        """Whether jobs run as the caller's system account."""
        return self.enabled and self.settings.server_mode == "multi-user"

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
        if not self.enabled:
            self._log_config()
            return
        try:
            self.signing_key, self.key_source = load_signing_key(
                self.settings.token_signing_key, self.settings.state_dir
            )
        except TokenError as exc:
            raise SettingsError(str(exc)) from None
        if self.backend == "pam":
            self._pam = pam_backend.load_pam()
        else:
            try:
                self.store = UserStore(self.settings.db_path)
            except UserStoreError as exc:
                raise SettingsError(str(exc)) from None
            await self._ensure_flux_user()
        self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
        self._log_config()

    def close(self) -> None:
        """Close the user store and the password threads."""
        self.throttle.close()
        if self.store is not None:
            self.store.close()
            self.store = None

    async def _ensure_flux_user(self) -> None:
        assert self.store is not None
        name, password = self.settings.flux_user, self.settings.flux_token
        if not name:
            return
        try:
            check_username(name)
        except UserStoreError as exc:
            raise SettingsError(f"FLUX_USER: {exc}") from None
        user = self.store.get(name)
        if password:
            if user is None:
                try:
                    self.store.add(
                        name, await asyncio.to_thread(hash_password, password), superuser=True
                    )
                except UserExists:
                    return  # another server worker, starting beside this one, just made it
                logger.info("Created superuser %s from FLUX_USER/FLUX_TOKEN", name)
                return
            ok, _ = await asyncio.to_thread(verify_password, password, user.password_hash)
            if not ok:
                new_hash = await asyncio.to_thread(hash_password, password)
                self.store.set_password(name, new_hash)
                logger.info("Updated the password of %s from FLUX_TOKEN", name)
        elif user is None:
            logger.warning(
                "FLUX_USER=%s is not a user and FLUX_TOKEN is unset, so no superuser was created",
                name,
            )
            return
        if not user or not user.is_superuser or not user.is_active:
            self.store.set_superuser(name, True)
            self.store.set_active(name, True)

    def _log_config(self) -> None:
        s = self.settings
        logger.info(
            "Auth: backend=%s, server mode=%s, password login=%s, handshake=%s",
            self.backend,
            s.server_mode,
            self.password_login,
            self.handshake_enabled,
        )
        if not self.enabled:
            return
        logger.info(
            "Auth: FLUX_USER=%s, FLUX_TOKEN=%s, FLUX_SECRET_KEY=%s, token signing key from %s, "
            "tokens last %d min, FLUX_ADMIN_USERS=%s, FLUX_MIN_UID=%d",
            s.flux_user or "(unset)",
            mask(s.flux_token),
            mask(s.secret_key),
            self.key_source,
            s.access_token_expires_minutes,
            ",".join(sorted(s.admin_users)) or "(none)",
            s.min_uid,
        )
        if s.secret_key and len(s.secret_key.encode()) < 32:
            logger.warning(
                "FLUX_SECRET_KEY is shorter than 32 bytes: anyone who sees one handshake can "
                "try to guess it offline; use a longer random secret"
            )

    # -- passwords --------------------------------------------------------------------------

    async def check_password(self, name: str, password: str, address: str = "") -> Identity:
        """Verify a user name and password (re-hashing outdated hashes), throttled per address.

        Raises:
            LoginFailed: Unknown user, wrong password, inactive user, or no password backend.
            LoginThrottled: ``address`` failed too often lately, or has too many checks under way.
            LoginBusy: Too many checks are waiting already.
        """
        if not self.password_login:
            raise LoginFailed(f"The {self.backend} auth backend does not support password login.")
        self.throttle.admit(address, name)
        async with self.throttle.slot(address):
            try:
                return await self._check_password(name, password)
            except LoginFailed:
                self.throttle.failed(address, name)
                raise

    async def _check_password(self, name: str, password: str) -> Identity:
        if self.backend == "pam":
            return await self._check_pam(name, password)
        assert self.store is not None
        user = self.store.get(name)
        stored = user.password_hash if user is not None else self._dummy_hash
        # Unknown users cost one verification too, so timing does not reveal who exists.
        ok, new_hash = await self.throttle.run(verify_password, password, stored)
        if user is None or not ok:
            raise LoginFailed()
        if not user.is_active:
            raise LoginFailed("Inactive user")
        if new_hash:
            self.store.set_password(name, new_hash, revoke_tokens=False)
        return Identity(
            name, user.is_superuser or name in self.settings.admin_users, user.token_version
        )

    async def _check_pam(self, name: str, password: str) -> Identity:
        try:
            self.accounts.owner(name)
        except AccountRefused:
            raise LoginFailed() from None
        ok = await self.throttle.run(
            pam_backend.pam_check, self._pam, self.settings.pam_service, name, password
        )
        if not ok:
            raise LoginFailed()
        return Identity(name, name in self.settings.admin_users, "pam")

    # -- tokens -----------------------------------------------------------------------------

    def issue(self, identity: Identity, requested: str | None = None) -> str:
        """Sign an access token for ``identity`` with the scopes it may have.

        Args:
            identity: Who.
            requested: Space-separated scopes asked for (OAuth2 ``scope``); all allowed if empty.

        Raises:
            LoginFailed: A requested scope is unknown or not allowed.
        """
        allowed = {"read", "submit"} | ({"admin"} if identity.superuser else set())
        scopes = set(allowed)
        if requested and requested.strip():
            asked = set(requested.split())
            unknown = asked - set(SCOPES)
            if unknown:
                raise LoginFailed(f"Unknown scope: {', '.join(sorted(unknown))}")
            if asked - allowed:
                raise LoginFailed("The user may not have the admin scope")
            scopes = asked
        return issue_access_token(
            self.signing_key,
            user=identity.name,
            scopes=frozenset(scopes),
            version=identity.version,
            backend=self.backend,
            expires_minutes=self.settings.access_token_expires_minutes,
        )

    async def login(
        self, name: str, password: str, requested: str | None = None, address: str = ""
    ) -> str:
        """Check a user name and password and return an access token.

        Raises:
            LoginFailed: Any failure (always a 400).
            LoginThrottled: Too many failures from ``address`` lately (429).
            LoginBusy: Too many checks waiting (503).
        """
        return self.issue(await self.check_password(name, password, address), requested)

    async def handshake(self, authorization: str | None, address: str = "") -> str:
        """Run upstream's ``/v1/token`` handshake and return an access token.

        Raises:
            LoginFailed: Any failure, with upstream 1.1.0's messages (always a 400).
            LoginThrottled: Too many failures from ``address`` lately (429).
            LoginBusy: Too many checks waiting (503).
        """
        if not self.handshake_enabled or not self.settings.secret_key:
            raise LoginFailed("The shared-secret token handshake is not enabled on this server.")
        try:
            creds = decode_handshake(self.settings.secret_key, authorization)
        except HandshakeError as exc:
            raise LoginFailed(str(exc)) from None
        return await self.login(creds.user, creds.password, address=address)

    # -- requests ---------------------------------------------------------------------------

    def principal_from_token(self, token: str, method: str = "GET") -> Principal:
        """Resolve a bearer access token (one signature check and one indexed read).

        Raises:
            InvalidCredentials: The token is invalid, expired, revoked, or its user is gone.
            Forbidden: The token's scope does not allow ``method``, or (multi-user mode) its
                user is not an allowed system account.
        """
        if not self.enabled:
            return ANONYMOUS
        claims = self._token_cache.get(token)
        if claims is None:
            try:
                claims = decode_access_token(self.signing_key, token)
            except TokenExpired:
                raise TokenExpiredError() from None
            except InvalidToken:
                raise InvalidCredentials() from None
            # The exact string was verified once; later uses only re-check expiry and revocation.
            if len(self._token_cache) >= _TOKEN_CACHE_MAX:
                self._token_cache.clear()
            self._token_cache[token] = claims
        elif claims.exp <= time.time():
            del self._token_cache[token]
            raise TokenExpiredError()
        if claims.backend != self.backend:
            raise InvalidCredentials()
        identity = self._current_identity(claims.sub, claims.version)
        needed = "read" if method.upper() in SAFE_METHODS else "submit"
        if needed not in claims.scopes:
            raise Forbidden(f"This token's scope does not allow this request (needs {needed}).")
        return self._principal(identity, superuser=identity.superuser and "admin" in claims.scopes)

    async def principal_from_basic(self, encoded: str, address: str = "") -> Principal:
        """Resolve HTTP Basic credentials (password backends only; verified at most once a minute).

        Browsers send the same credentials on every request, many at once: concurrent requests
        with the same credentials share one verification, and a wrong password is remembered
        for a minute too (until the user's password changes), so it is neither hashed again
        nor counted as another failure.

        Raises:
            InvalidCredentials: Malformed, wrong, or not accepted on this backend.
            Forbidden: (multi-user mode) not an allowed system account.
            LoginThrottled: Too many failures from ``address`` lately (429).
            LoginBusy: Too many checks waiting (503).
        """
        if not self.password_login:
            raise InvalidCredentials()
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidCredentials() from None
        name, sep, password = decoded.partition(":")
        if not sep or not name or not password:
            raise InvalidCredentials()
        key = hmac.new(self.signing_key, decoded.encode(), hashlib.sha256).digest()
        now = time.monotonic()
        cached = self._basic_cache.get(key)
        if cached is not None and cached[1] > now:
            identity = self._current_identity(name, cached[0])
            return self._principal(identity, superuser=identity.superuser)
        failed = self._basic_failures.get(key)
        if failed is not None and failed[1] > now and failed[0] == self._password_version(name):
            raise InvalidCredentials()
        check = self._basic_checks.get(key)
        if check is None:
            check = asyncio.ensure_future(self.check_password(name, password, address))
            check.add_done_callback(lambda task: self._basic_checked(key, name, task))
            self._basic_checks[key] = check
        try:
            identity = await asyncio.shield(check)
        except LoginFailed:
            raise InvalidCredentials() from None
        return self._principal(identity, superuser=identity.superuser)

    def _basic_checked(self, key: bytes, name: str, task: asyncio.Task[Identity]) -> None:
        """Remember the outcome of a Basic verification (success or wrong password)."""
        self._basic_checks.pop(key, None)
        if task.cancelled():
            return
        error = task.exception()  # retrieved here, so a check nobody awaits any more logs nothing
        expires = time.monotonic() + _BASIC_CACHE_SECONDS
        if error is None:
            if len(self._basic_cache) >= _BASIC_CACHE_MAX:
                self._basic_cache.clear()
            self._basic_cache[key] = (task.result().version, expires)
        elif isinstance(error, LoginFailed):
            if len(self._basic_failures) >= _FAILURE_CACHE_MAX:
                self._basic_failures.clear()
            self._basic_failures[key] = (self._password_version(name), expires)

    def _password_version(self, name: str) -> str:
        """The user's token version (changes with the password); empty if unknown or PAM."""
        if self.store is None:
            return ""
        user = self.store.get(name)
        return user.token_version if user is not None else ""

    def recheck(self, principal: Principal) -> None:
        """Check that ``principal`` is still the user it was (one indexed read).

        Raises:
            InvalidCredentials: Removed, deactivated, or their tokens were revoked since.
            Forbidden: (multi-user mode) no longer an allowed system account.
        """
        if not self.enabled or principal.name is None:
            return
        identity = self._current_identity(principal.name, principal.version)
        self._principal(identity, superuser=principal.superuser)

    def _current_identity(self, name: str, version: str) -> Identity:
        """The user as they are now, provided ``version`` still matches their tokens."""
        if self.backend == "pam":
            try:
                self.accounts.owner(name)
            except AccountRefused:
                raise InvalidCredentials() from None
            if version != "pam":
                raise InvalidCredentials()
            return Identity(name, name in self.settings.admin_users, version)
        assert self.store is not None
        user = self.store.get(name)
        if (
            user is None
            or not user.is_active
            or not hmac.compare_digest(user.token_version, version)
        ):
            raise InvalidCredentials()
        return Identity(name, user.is_superuser or name in self.settings.admin_users, version)

    def _principal(self, identity: Identity, *, superuser: bool) -> Principal:
        if self.multi_user:
            try:
                owner = self.accounts.owner(identity.name)
            except AccountRefused as exc:
                raise Forbidden(str(exc)) from None
        else:
            owner = Owner(user=identity.name)
        return Principal(
            name=identity.name, superuser=superuser, owner=owner, version=identity.version
        )
