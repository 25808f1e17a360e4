"""One ``httpx.Auth`` flow for both clients: bearer token, challenge, handshake, refresh."""

from __future__ import annotations

import warnings
from collections.abc import AsyncGenerator, Generator
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
    ``WWW-Authenticate`` challenge, and when credentials are known, it logs in (the ``/v1/token``
    shared-secret handshake when a secret key is set, else the password form at
    ``/v1/login/access-token``), caches the new token and re-sends the original request once,
    unchanged (same query, same body). An expired token is replaced the same way. A refused
    login raises :class:`AuthError` with the server's reason.
    """

    def __init__(
        self,
        *,
        base_url: str,
        user: str | None = None,
        password: str | None = None,
        secret_key: str | None = None,
        access_token: str | None = None,
    ) -> None:
        """Create the flow.

        Args:
            base_url: API root including the version prefix, e.g. ``http://h:5000/v1``.
            user: User name for logins.
            password: The user's password (``FLUX_TOKEN``).
            secret_key: Shared secret of the handshake (``FLUX_SECRET_KEY``).
            access_token: A token obtained earlier (``login``), used until the server refuses it.
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

    def parse_login_response(self, response: httpx.Response) -> str:
        """Cache and return the access token from a login answer (its body must be read).

        Raises:
            AuthError: The server refused the login.
        """
        if response.status_code == 200:
            try:
                body = response.json()
                token = body["access_token"]
            except (ValueError, KeyError, TypeError):
                token = None
            if isinstance(token, str) and token:
                self.access_token = token
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
        if (
            response.status_code != 401
            or "www-authenticate" not in response.headers
            or not self.can_login
        ):
            return
        self.access_token = None
        login_response = yield self.build_login_request()
        token = self.parse_login_response(login_response)
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
