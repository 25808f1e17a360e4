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
from .errors import (
    BadTokenRequest,
    Forbidden,
    InvalidCredentials,
    LoginFailed,
    RefreshRefused,
    RefreshReuseDetected,
    TokenExpiredError,
    TokenNotFound,
    TokensUnavailable,
)
from .passwords import hash_password, verify_password
from .principal import ALL_SCOPES, ANONYMOUS, Principal
from .ratelimit import RateLimits, parse_rates
from .store import UserExists, UserStore, UserStoreError, check_username
from .throttle import LoginThrottle
from .token_store import (
    PERSONAL_PREFIX,
    PersonalToken,
    RefreshReused,
    TokenStore,
    TokenStoreError,
)
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
        self.tokens: TokenStore | None = None
        self._pat_touched: dict[str, float] = {}
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
        try:
            self.tokens = TokenStore(self.settings.db_path)
        except TokenStoreError as exc:
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
        if self.tokens is not None:
            self.tokens.close()
            self.tokens = None
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

    def allowed_scopes(self, identity: Identity) -> frozenset[str]:
        """Every scope ``identity`` may hold: ``admin`` only for superusers."""
        return ALL_SCOPES if identity.superuser else ALL_SCOPES - {"admin"}

    def _requested_scopes(self, identity: Identity, requested: str | None) -> frozenset[str]:
        allowed = self.allowed_scopes(identity)
        if not requested or not requested.strip():
            return allowed
        asked = frozenset(requested.split())
        unknown = asked - set(SCOPES)
        if unknown:
            raise LoginFailed(f"Unknown scope: {', '.join(sorted(unknown))}")
        if asked - allowed:
            raise LoginFailed("The user may not have the admin scope")
        return asked

    def grant(self, identity: Identity, scopes: frozenset[str], family: str | None = None) -> Grant:
        """Sign an access token and issue the refresh token after it.

        A new sign-in family starts unless ``family`` continues one.
        """
        assert self.tokens is not None
        lifetime = self.settings.refresh_token_expires_days * 86400
        refresh, family = self.tokens.issue_refresh(
            identity.name, scopes, identity.version, lifetime, family
        )
        minutes = self.settings.access_token_expires_minutes
        access = issue_access_token(
            self.signing_key,
            user=identity.name,
            scopes=scopes,
            version=identity.version,
            backend=self.backend,
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
        identity = await self.check_password(name, password, address)
        return self.grant(identity, self._requested_scopes(identity, requested))

    async def handshake(self, authorization: str | None, address: str = "") -> Grant:
        """Run upstream's ``/v1/token`` handshake and return an access and a refresh token.

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

    def refresh(self, token: str) -> Grant:
        """Spend a refresh token for a new access token and the next refresh token.

        The scopes are those of the sign-in, less ``admin`` if the user is no longer a
        superuser; a password change, removal or deactivation since the sign-in refuses it.

        Raises:
            RefreshRefused: Unknown, expired or revoked token, or its user changed (400).
            RefreshReuseDetected: A spent token was used again; its family is revoked (400).
        """
        if not self.enabled or self.tokens is None:
            raise RefreshRefused("Refresh tokens need auth on this server.")
        try:
            grant = self.tokens.spend_refresh(token)
        except RefreshReused as exc:
            raise RefreshReuseDetected(str(exc), user=exc.user) from None
        except TokenStoreError as exc:
            raise RefreshRefused(str(exc)) from None
        try:
            identity = self._current_identity(grant.user, grant.version)
        except InvalidCredentials:
            self.tokens.revoke_family(grant.family)
            raise RefreshRefused(
                "The user was removed or deactivated, or changed their password, since this "
                "sign-in: sign in again."
            ) from None
        scopes = grant.scopes & self.allowed_scopes(identity)
        return self.grant(identity, scopes, grant.family)

    # -- personal access tokens ---------------------------------------------------------------

    def create_personal_token(
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
        longest = self.settings.personal_token_max_days * 86400
        if not 60 <= expires_in <= longest:
            raise BadTokenRequest(
                f"expires_in must be between 60 seconds and {self.settings.personal_token_max_days}"
                f" days ({longest} seconds), not {expires_in:g}"
            )
        try:
            return tokens.create_personal(principal.name, name, scopes, time.time() + expires_in)
        except TokenStoreError as exc:
            raise BadTokenRequest(str(exc)) from None

    def list_personal_tokens(
        self, principal: Principal, user: str | None = None
    ) -> list[PersonalToken]:
        """The caller's live tokens; a superuser's listing has everyone's (or ``user``'s)."""
        tokens = self._token_store()
        if not principal.superuser:
            return tokens.list_personal(principal.name)
        return tokens.list_personal(user)

    def revoke_personal_token(self, principal: Principal, token_id: str) -> PersonalToken:
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
        if not self.enabled or self.tokens is None:
            raise TokensUnavailable()
        return self.tokens

    # -- requests ---------------------------------------------------------------------------

    def principal_from_token(self, token: str, method: str = "GET") -> Principal:
        """Resolve a bearer token: a login's JWT or a personal access token.

        A JWT costs one signature check and one indexed read, a personal token two reads.

        Raises:
            InvalidCredentials: The token is invalid, expired, revoked, or its user is gone.
            Forbidden: The token's scope does not allow ``method``, or (multi-user mode) its
                user is not an allowed system account.
        """
        if not self.enabled:
            return ANONYMOUS
        if token.startswith(PERSONAL_PREFIX):
            return self._principal_from_personal(token, method)
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
        if claims.family is not None and self.tokens and self.tokens.family_revoked(claims.family):
            raise InvalidCredentials()
        _check_scope(claims.scopes, method)
        return self._principal(
            identity, scopes=claims.scopes, via="access_token", family=claims.family
        )

    def _principal_from_personal(self, token: str, method: str) -> Principal:
        assert self.tokens is not None
        found = self.tokens.find_personal(token)
        if found is None:
            raise InvalidCredentials()
        now = time.time()
        if found.expires <= now:
            raise TokenExpiredError()
        identity = self._live_identity(found.user)
        _check_scope(found.scopes, method)
        # last_used to the minute: one write per token and minute, not one per request.
        if now - self._pat_touched.get(found.id, 0.0) >= 60:
            if len(self._pat_touched) >= _TOKEN_CACHE_MAX:
                self._pat_touched.clear()
            self._pat_touched[found.id] = now
            self.tokens.touch_personal(found.id, now)
        return self._principal(
            identity, scopes=found.scopes, via="personal_token", token_id=found.id
        )

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
            return self._principal(identity, scopes=self.allowed_scopes(identity), via="password")
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
        return self._principal(identity, scopes=self.allowed_scopes(identity), via="password")

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
        """Check that ``principal`` may still act (one or two indexed reads).

        Raises:
            InvalidCredentials: Removed, deactivated, their tokens were revoked since (a new
                password, a revoked personal token or sign-in).
            Forbidden: (multi-user mode) no longer an allowed system account.
        """
        if not self.enabled or principal.name is None:
            return
        if principal.via == "personal_token":
            assert self.tokens is not None and principal.token_id is not None
            if self.tokens.get_personal(principal.token_id) is None:
                raise InvalidCredentials()
            identity = self._live_identity(principal.name)
        else:
            identity = self._current_identity(principal.name, principal.version)
        if (
            principal.family is not None
            and self.tokens
            and self.tokens.family_revoked(principal.family)
        ):
            raise InvalidCredentials()
        self._principal(identity, scopes=principal.scopes, via=principal.via)

    def _live_identity(self, name: str) -> Identity:
        """The user as they are now, whatever their token version.

        Personal tokens outlive password changes; removal and deactivation still end them.
        """
        if self.backend == "pam":
            return self._current_identity(name, "pam")
        assert self.store is not None
        user = self.store.get(name)
        if user is None or not user.is_active:
            raise InvalidCredentials()
        return self._current_identity(name, user.token_version)

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

    def _principal(
        self,
        identity: Identity,
        *,
        scopes: frozenset[str],
        via: str,
        token_id: str | None = None,
        family: str | None = None,
    ) -> Principal:
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


def _check_scope(scopes: frozenset[str], method: str) -> None:
    """Refuse a request the token's scopes do not cover.

    GET, HEAD and OPTIONS need ``read``, any other method ``submit``.

    Raises:
        Forbidden: The scope is too narrow (403, naming the scope needed).
    """
    needed = "read" if method.upper() in SAFE_METHODS else "submit"
    if needed not in scopes:
        raise Forbidden(f"This token's scope does not allow this request (needs {needed}).")


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
