"""The IO-free core shared by ``Client`` and ``AsyncClient``: configuration, assembled parts.

:class:`BaseClient` resolves the configuration (arguments, then the environment, then the settings
file), refuses credentials over plain HTTP to another machine, and holds what the client knows of
the server. The rest of the IO-free work is one part per idea, mixed in here (as Sanic assembles
its ``Sanic`` class from ``mixins/``):

- ``_arguments``: what a call was given, checked and encoded before anything is sent;
- ``_requests`` (:class:`RequestBuilding`): each call's ``httpx.Request``;
- ``_responses`` (:class:`ResponseParsing`): each answer as JSON, a model or an exception;
- ``_retry`` (:class:`RetryPolicy`): when a failed request is sent again.

The two clients only send (STYLE.md §7).
"""

from __future__ import annotations

import abc
import base64
import ipaddress
import os
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from ._arguments import invalid
from ._auth import FluxAuth
from ._exceptions import InsecureTransportError, UnsupportedByServer
from ._requests import RequestBuilding
from ._responses import ResponseParsing
from ._retry import MAX_RETRY_WAIT, RetryPolicy
from ._server import parse_server_info
from ._types import TimeoutInput
from ._version import __version__
from .models import FEATURES, ServerInfo
from .settings import (
    DEFAULT_HOST,
    Settings,
    SettingsError,
    load_refresh_token,
    load_token,
    save_token,
)

__all__ = ["BaseClient", "DEFAULT_TIMEOUT", "is_loopback", "tls_verify"]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""HTTP timeout of every request unless the client is given another."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine: ``localhost``, 127.0.0.0/8, ::1."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def tls_verify(ca: str | os.PathLike[str] | None) -> ssl.SSLContext | bool:
    """The ``verify=`` of httpx: the system's trust store, or only the CA bundle ``ca`` if given.

    Raises:
        SettingsError: The bundle is missing, unreadable or holds no PEM certificate.
    """
    if not ca:
        return True
    try:
        return ssl.create_default_context(cafile=os.fspath(ca))
    except FileNotFoundError:
        raise SettingsError(f"CA bundle {ca} (--ca / FLUX_RESTFUL_CA): no such file") from None
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise SettingsError(
            f"CA bundle {ca} (--ca / FLUX_RESTFUL_CA) cannot be loaded: {reason}; it must hold "
            "PEM certificates"
        ) from None


class BaseClient(RequestBuilding, ResponseParsing, RetryPolicy, abc.ABC):
    """Configuration, request building and response parsing common to both clients."""

    _http: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        host: str | None = None,
        user: str | None = None,
        token: str | None = None,
        quiet: bool = False,
        secret_key: str | None = None,
        settings_file: str | os.PathLike[str] | None = None,
        prefix: str = "v1",
        attempts: int = 5,
        timeout: TimeoutInput = DEFAULT_TIMEOUT,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        access_token: str | None = None,
        backoff: float = 0.5,
        validate: bool = True,
        settings: Settings | None = None,
        ca: str | os.PathLike[str] | None = None,
        insecure: bool = False,
        refresh_token: str | None = None,
        max_wait: float = MAX_RETRY_WAIT,
    ) -> None:
        """Resolve the configuration (arguments, then environment, then the settings file).

        Args:
            host: API host, e.g. ``http://127.0.0.1:5000`` (else ``FLUX_RESTFUL_HOST``, else the
                settings file's ``host``).
            user: User name (else ``FLUX_USER``, else ``flux_user``).
            token: The user's password (else ``FLUX_TOKEN``, else ``flux_token``).
            quiet: Do not print upstream's "no job" notice.
            secret_key: Shared secret of the token handshake (else ``FLUX_SECRET_KEY``).
            settings_file: Settings file layered on the defaults.
            prefix: API version prefix.
            attempts: Tries per request for transient failures (and stream reconnections).
            timeout: HTTP timeout (seconds or ``httpx.Timeout``). Upstream used this name
                for the first retry sleep; here it bounds each request instead.
            base_url: Same as ``host`` (httpx's name); wins over it.
            transport: httpx transport to send through (sync for ``Client``, async for
                ``AsyncClient``), e.g. ``httpx.MockTransport`` in tests.
            headers: Extra headers sent with every request.
            access_token: A bearer token: a personal access token, or one from ``login`` (else
                ``FLUX_RESTFUL_TOKEN``, else the one ``flux-restful-cli login`` stored for this
                host).
            backoff: First sleep between retries, doubled each time.
            validate: Validate the settings file.
            settings: Already-loaded settings (wins over ``settings_file``).
            ca: CA bundle (PEM) that signed an ``https://`` server's certificate, instead of the
                system's trust store (else ``FLUX_RESTFUL_CA``).
            insecure: Send credentials over plain ``http://`` to a host that is not this
                machine; refused by default (:class:`InsecureTransportError`); else
                ``FLUX_RESTFUL_INSECURE=true``.
            refresh_token: Renews ``access_token`` when it expires, without the password
                (servers that issue refresh tokens; stored ones come with the stored token).
            max_wait: Longest ``Retry-After`` (seconds) a retried request waits out; past it
                the 429 or 503 is raised at once.

        Raises:
            InsecureTransportError: Credentials are configured for a plain ``http://`` host that
                is not loopback, and ``insecure`` is not set.
            SettingsError: The settings file or the CA bundle cannot be used.
        """
        if settings is None:
            settings = Settings(settings_file, validate=validate)
        self.settings = settings
        """The loaded settings file."""
        self.quiet = quiet
        """Whether upstream's notices are silenced."""
        resolved = base_url or host or os.environ.get("FLUX_RESTFUL_HOST") or settings.get("host")
        self.host = str(resolved or DEFAULT_HOST).rstrip("/")
        """API host, without the version prefix."""
        if not self.host.startswith(("http://", "https://")):
            raise invalid(f"Host {self.host!r} must start with http:// or https://")
        self.prefix = prefix.strip("/")
        """API version prefix."""
        self.attempts = max(1, int(attempts))
        """Tries per request for transient failures."""
        self.backoff = backoff
        """First sleep between retries."""
        self.max_wait = max_wait
        """Longest ``Retry-After`` waited out before re-sending."""
        self.timeout = timeout
        """HTTP timeout of each request."""
        self.ca = ca or os.environ.get("FLUX_RESTFUL_CA") or None
        """CA bundle trusted for ``https://`` hosts (``None``: the system's trust store)."""
        env_insecure = os.environ.get("FLUX_RESTFUL_INSECURE", "").strip().lower()
        self.insecure = insecure or env_insecure in ("1", "true", "yes", "on")
        """Whether credentials may travel over plain HTTP to another machine (argument, or
        ``FLUX_RESTFUL_INSECURE=true`` for scripts that cannot change, such as upstream's)."""
        given = access_token or os.environ.get("FLUX_RESTFUL_TOKEN") or None
        stored = None if given else load_token(self.host)
        self.auth = FluxAuth(
            base_url=self.api_url,
            user=user or os.environ.get("FLUX_USER") or settings.get("flux_user"),
            password=token or os.environ.get("FLUX_TOKEN") or settings.get("flux_token"),
            secret_key=secret_key or os.environ.get("FLUX_SECRET_KEY"),
            access_token=given or stored,
            refresh_token=refresh_token or (load_refresh_token(self.host) if stored else None),
            # A stored sign-in is renewed in place, so the next run has the rotated refresh token.
            on_tokens=self._store_tokens if stored else None,
        )
        """The authentication flow (holds the credentials and the cached token)."""
        self._server: ServerInfo | None = None
        url = httpx.URL(self.host)
        # An httpx.MockTransport answers in this process: nothing crosses a network.
        self._plain_remote = (
            url.scheme == "http"
            and not is_loopback(url.host)
            and not isinstance(transport, httpx.MockTransport)
        )
        self._verify = tls_verify(self.ca)
        self._http = self._open(transport)
        if headers:
            self._http.headers.update(headers)
        self._refuse_plain_http()

    def _store_tokens(self, access_token: str, refresh_token: str | None) -> None:
        save_token(self.host, access_token, refresh_token)

    @abc.abstractmethod
    def _open(
        self, transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None
    ) -> httpx.Client | httpx.AsyncClient:
        """Open the httpx client this client sends with (sync or async)."""

    # -- headers (upstream helpers) ----------------------------------------------------------
    def set_header(self, name: str, value: str) -> None:
        """Send a header with every request."""
        self._http.headers[name] = value

    def set_bearer_auth(self, token: str) -> None:
        """Authenticate with an access token (refreshed by logging in again when it expires)."""
        self._http.headers.pop("Authorization", None)
        self.auth.access_token = token

    def set_basic_auth(self, username: str, password: str) -> None:
        """Authenticate with HTTP Basic (accepted by servers with database users)."""
        self.auth.access_token = None
        pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._http.headers["Authorization"] = f"Basic {pair}"

    def reset(self) -> None:
        """Drop every custom header except ``Authorization`` (upstream helper)."""
        keep = self._http.headers.get("Authorization")
        self._http.headers.clear()
        self._http.headers["User-Agent"] = f"flux-restful-client/{__version__}"
        if keep:
            self._http.headers["Authorization"] = keep

    @property
    def api_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:5000/v1``."""
        return f"{self.host}/{self.prefix}" if self.prefix else self.host

    def _http_options(self) -> dict[str, Any]:
        return {
            "base_url": self.api_url + "/",
            "auth": self.auth,
            "timeout": self.timeout,
            "headers": {"User-Agent": f"flux-restful-client/{__version__}"},
            "verify": self._verify,
        }

    @property
    def _sends_credentials(self) -> bool:
        auth = self.auth
        return bool(
            auth.can_login
            or auth.access_token
            or auth.secret_key
            or "Authorization" in self._http.headers
        )

    def _refuse_plain_http(self) -> None:
        """Refuse, before any connection, to send credentials in clear text to another machine.

        Raises:
            InsecureTransportError: Plain ``http://``, a host that is not loopback, credentials
                configured, and ``insecure`` not set.
        """
        if not self._plain_remote or self.insecure or not self._sends_credentials:
            return
        raise InsecureTransportError(
            f"Refusing to send credentials to {self.host} over plain HTTP: anyone on the network "
            "between here and there could read the password or token. Use https:// (with --ca or "
            "FLUX_RESTFUL_CA for a private CA), or pass --insecure (insecure=True) if you trust "
            "that network."
        )

    def __str__(self) -> str:
        return "[flux-restful-client]"

    __repr__ = __str__

    # -- knowing the server ------------------------------------------------------------------
    def _parse_server_info(self, response: httpx.Response) -> ServerInfo:
        self._server = parse_server_info(self.host, response)
        return self._server

    def _require(self, server: ServerInfo, feature: str) -> None:
        """Raise :class:`UnsupportedByServer` unless ``server`` offers ``feature``."""
        if not server.supports(feature):
            raise UnsupportedByServer(FEATURES[feature].capitalize(), str(server))
