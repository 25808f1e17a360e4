"""One ``httpx.Auth`` flow for both clients: bearer token, challenge, handshake, refresh."""

from __future__ import annotations

import warnings
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning

from ._exceptions import AuthError

__all__ = ["FluxAuth", "get_encoded_auth"]


def get_encoded_auth(user: str, token: str, secret_key: str) -> str:
    """Build the ``/v1/token`` handshake JWT (upstream's helper of the same name).

    Args:
        user: User name.
        token: The user's password (upstream calls it a token).
        secret_key: The server's shared ``FLUX_SECRET_KEY``.
    """
    payload = {"user": user, "pass": token, "scope": "token"}
    with warnings.catch_warnings():
        # The key is the server's FLUX_SECRET_KEY (upstream's default is 12 bytes): the client
        # cannot choose another, so warning on every request would only be noise.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, secret_key, algorithm="HS256")


def _error_text(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        for key in ("detail", "Message", "message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return str(body)


class FluxAuth(httpx.Auth):
    """Authenticate API requests, serving both ``Client`` and ``AsyncClient``.

    Sends the cached access token as ``Authorization: Bearer``. On a 401 that carries a
    ``WWW-Authenticate`` challenge it renews the token and re-sends the original request once,
    unchanged (same query, same body): with the refresh token when it has one (no password
    needed; the server rotates it, so the new one replaces it), else by logging in (the
    ``/v1/token`` shared-secret handshake when a secret key is set, else the password form at
    ``/v1/login/access-token``). A refused login raises :class:`AuthError` with the server's
    reason; a refused refresh falls back to logging in when a password is known.
    """

    def __init__(
        self,
        *,
        base_url: str,
        user: str | None = None,
        password: str | None = None,
        secret_key: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        on_tokens: Callable[[str, str | None], None] | None = None,
    ) -> None:
        """Create the flow.

        Args:
            base_url: API root including the version prefix, e.g. ``http://h:5000/v1``.
            user: User name for logins.
            password: The user's password (``FLUX_TOKEN``).
            secret_key: Shared secret of the handshake (``FLUX_SECRET_KEY``).
            access_token: A token obtained earlier (``login``), used until the server refuses it.
            refresh_token: The refresh token that came with it, spent to renew it.
            on_tokens: Called with ``(access_token, refresh_token)`` whenever they change (the
                CLI stores them, so the next run has the rotated refresh token).
        """
        self.base_url = base_url.rstrip("/")
        """API root including the version prefix."""
        self.user = user
        """User name for logins."""
        self.password = password
        """The user's password."""
        self.secret_key = secret_key
        """Shared secret of the ``/v1/token`` handshake."""
        self.access_token = access_token
        """The cached access token, if any."""
        self.refresh_token = refresh_token
        """The refresh token to renew it with, if the server issued one."""
        self.on_tokens = on_tokens
        """Called when the tokens change."""

    @property
    def can_login(self) -> bool:
        """Whether credentials to log in are known."""
        return bool(self.user and self.password)

    @property
    def _token_urls(self) -> tuple[str, str]:
        return f"{self.base_url}/token", f"{self.base_url}/login/access-token"

    def build_login_request(self) -> httpx.Request:
        """The request that exchanges the credentials for an access token.

        Raises:
            AuthError: No user name and password are known.
        """
        if not (self.user and self.password):
            raise AuthError(
                "The server requires authentication: set FLUX_USER and FLUX_TOKEN "
                "(and FLUX_SECRET_KEY for the token handshake), or run 'flux-restful-cli login'.",
                status_code=401,
                code="not_authenticated",
            )
        token_url, login_url = self._token_urls
        if self.secret_key:
            handshake = get_encoded_auth(self.user, self.password, self.secret_key)
            return httpx.Request(
                "POST", token_url, headers={"Authorization": f"Bearer {handshake}"}
            )
        return httpx.Request(
            "POST", login_url, data={"username": self.user, "password": self.password}
        )

    def build_refresh_request(self) -> httpx.Request:
        """The request that spends the refresh token for a new access token (and refresh token)."""
        assert self.refresh_token
        return httpx.Request(
            "POST",
            self._token_urls[1],
            data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
        )

    def _accept_tokens(self, response: httpx.Response) -> str | None:
        """Cache the tokens of a successful login or refresh answer; the access token or None."""
        if response.status_code != 200:
            return None
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(token, str) or not token:
            return None
        refresh = body.get("refresh_token")
        self.access_token = token
        self.refresh_token = refresh if isinstance(refresh, str) and refresh else None
        if self.on_tokens is not None:
            self.on_tokens(token, self.refresh_token)
        return token

    def parse_login_response(self, response: httpx.Response) -> str:
        """Cache and return the access token from a login answer (its body must be read).

        Raises:
            AuthError: The server refused the login.
        """
        token = self._accept_tokens(response)
        if token is not None:
            return token
        how = "token handshake" if response.url.path.endswith("/token") else "password login"
        raise AuthError(
            f"Login refused ({how} as {self.user!r}, HTTP {response.status_code}): "
            f"{_error_text(response)}",
            status_code=401 if response.status_code == 200 else response.status_code,
            code="login_refused",
            response=response,
        )

    def _is_login(self, request: httpx.Request) -> bool:
        return str(request.url) in self._token_urls

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request``; on a challenge, log in and send it once more."""
        if self.access_token:
            request.headers["Authorization"] = f"Bearer {self.access_token}"
        response = yield request
        if not (self.can_login or self.refresh_token):
            return
        if response.status_code != 401 or "www-authenticate" not in response.headers:
            return
        self.access_token = None
        token = None
        if self.refresh_token:
            refreshed = yield self.build_refresh_request()
            token = self._accept_tokens(refreshed)
            if token is None:
                self.refresh_token = None  # spent, expired or revoked: only a login helps now
                if not self.can_login:
                    raise AuthError(
                        "The session expired and could not be renewed "
                        f"({_error_text(refreshed)}): log in again ('flux-restful-cli login'), "
                        "or set FLUX_USER and FLUX_TOKEN.",
                        status_code=401,
                        code="refresh_refused",
                        response=refreshed,
                    )
        if token is None:
            token = self.parse_login_response((yield self.build_login_request()))
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    # httpx reads every response of the flow when `requires_response_body` is set, which would
    # block on a stream until it ends; read only the login answers instead.
    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Drive :meth:`auth_flow` for ``httpx.Client``, reading login answers' bodies."""
        flow = self.auth_flow(request)
        next_request = next(flow)
        while True:
            response = yield next_request
            if self._is_login(response.request):
                response.read()
            try:
                next_request = flow.send(response)
            except StopIteration:
                break

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Drive :meth:`auth_flow` for ``httpx.AsyncClient``, reading login answers' bodies."""
        flow = self.auth_flow(request)
        next_request = next(flow)
        while True:
            response = yield next_request
            if self._is_login(response.request):
                await response.aread()
            try:
                next_request = flow.send(response)
            except StopIteration:
                break
