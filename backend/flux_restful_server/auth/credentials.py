"""A request's credentials to a :class:`Principal`: bearer tokens, HTTP Basic, and the recheck.

This runs on every authenticated request, so each path costs at most a signature check and
one or two indexed reads: a verified JWT string is kept (later uses re-check only expiry and
revocation), and Basic credentials are verified at most once a minute.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time

from .errors import Forbidden, InvalidCredentials, LoginFailed, TokenExpiredError
from .identity import AuthStores, Identity
from .login import PasswordChecker
from .principal import ANONYMOUS, Principal
from .token_store import PERSONAL_PREFIX
from .tokens import AccessClaims, InvalidToken, TokenExpired, decode_access_token

__all__ = ["SAFE_METHODS", "Credentials", "check_scope"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that only need the ``read`` scope; the others need ``submit``."""

_BASIC_CACHE_SECONDS = 60.0
_BASIC_CACHE_MAX = 1024
_FAILURE_CACHE_MAX = 4096
_TOKEN_CACHE_MAX = 4096


class Credentials:
    """Resolves bearer tokens and Basic credentials, and rechecks long-lived callers."""

    def __init__(self, stores: AuthStores, passwords: PasswordChecker) -> None:
        self._stores = stores
        self._passwords = passwords
        self._pat_touched: dict[str, float] = {}
        self._token_cache: dict[str, AccessClaims] = {}
        self._basic_cache: dict[bytes, tuple[str, float]] = {}
        self._basic_failures: dict[bytes, tuple[str, float]] = {}
        self._basic_checks: dict[bytes, asyncio.Task[Identity]] = {}

    def from_token(self, token: str, method: str = "GET") -> Principal:
        """Resolve a bearer token: a login's JWT or a personal access token.

        A JWT costs one signature check and one indexed read, a personal token two reads.

        Raises:
            InvalidCredentials: The token is invalid, expired, revoked, or its user is gone.
            Forbidden: The token's scope does not allow ``method``, or (multi-user mode) its
                user is not an allowed system account.
        """
        stores = self._stores
        if not stores.settings.auth_enabled:
            return ANONYMOUS
        if token.startswith(PERSONAL_PREFIX):
            return self._from_personal(token, method)
        claims = self._token_cache.get(token)
        if claims is None:
            try:
                claims = decode_access_token(stores.signing_key, token)
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
        if claims.backend != stores.backend:
            raise InvalidCredentials()
        identity = stores.current_identity(claims.sub, claims.version)
        if stores.family_revoked(claims.family):
            raise InvalidCredentials()
        check_scope(claims.scopes, method)
        return stores.principal(
            identity, scopes=claims.scopes, via="access_token", family=claims.family
        )

    def _from_personal(self, token: str, method: str) -> Principal:
        stores = self._stores
        assert stores.tokens is not None
        found = stores.tokens.find_personal(token)
        if found is None:
            raise InvalidCredentials()
        now = time.time()
        if found.expires <= now:
            raise TokenExpiredError()
        identity = stores.live_identity(found.user)
        check_scope(found.scopes, method)
        # last_used to the minute: one write per token and minute, not one per request.
        if now - self._pat_touched.get(found.id, 0.0) >= 60:
            if len(self._pat_touched) >= _TOKEN_CACHE_MAX:
                self._pat_touched.clear()
            self._pat_touched[found.id] = now
            stores.tokens.touch_personal(found.id, now)
        return stores.principal(
            identity, scopes=found.scopes, via="personal_token", token_id=found.id
        )

    async def from_basic(self, encoded: str, address: str = "") -> Principal:
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
        stores = self._stores
        if not self._passwords.enabled:
            raise InvalidCredentials()
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidCredentials() from None
        name, sep, password = decoded.partition(":")
        if not sep or not name or not password:
            raise InvalidCredentials()
        key = hmac.new(stores.signing_key, decoded.encode(), hashlib.sha256).digest()
        now = time.monotonic()
        cached = self._basic_cache.get(key)
        if cached is not None and cached[1] > now:
            identity = stores.current_identity(name, cached[0])
            return stores.principal(
                identity, scopes=stores.allowed_scopes(identity), via="password"
            )
        failed = self._basic_failures.get(key)
        if failed is not None and failed[1] > now and failed[0] == stores.password_version(name):
            raise InvalidCredentials()
        check = self._basic_checks.get(key)
        if check is None:
            check = asyncio.ensure_future(self._passwords.check(name, password, address))
            check.add_done_callback(lambda task: self._basic_checked(key, name, task))
            self._basic_checks[key] = check
        try:
            identity = await asyncio.shield(check)
        except LoginFailed:
            raise InvalidCredentials() from None
        return stores.principal(identity, scopes=stores.allowed_scopes(identity), via="password")

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
            self._basic_failures[key] = (self._stores.password_version(name), expires)

    def recheck(self, principal: Principal) -> None:
        """Check that ``principal`` may still act (one or two indexed reads).

        Raises:
            InvalidCredentials: Removed, deactivated, their tokens were revoked since (a new
                password, a revoked personal token or sign-in).
            Forbidden: (multi-user mode) no longer an allowed system account.
        """
        stores = self._stores
        if not stores.settings.auth_enabled or principal.name is None:
            return
        if principal.via == "personal_token":
            assert stores.tokens is not None and principal.token_id is not None
            if stores.tokens.get_personal(principal.token_id) is None:
                raise InvalidCredentials()
            identity = stores.live_identity(principal.name)
        else:
            identity = stores.current_identity(principal.name, principal.version)
        if stores.family_revoked(principal.family):
            raise InvalidCredentials()
        stores.principal(identity, scopes=principal.scopes, via=principal.via)


def check_scope(scopes: frozenset[str], method: str) -> None:
    """Refuse a request the token's scopes do not cover.

    GET, HEAD and OPTIONS need ``read``, any other method ``submit``.

    Raises:
        Forbidden: The scope is too narrow (403, naming the scope needed).
    """
    needed = "read" if method.upper() in SAFE_METHODS else "submit"
    if needed not in scopes:
        raise Forbidden(f"This token's scope does not allow this request (needs {needed}).")
