"""When a request that failed is sent again, and what a failure that is not retried says.

The one rule both clients follow (STYLE.md §14): a request that never left this machine may be
re-sent whatever it is; one that may have arrived is re-sent only when it is idempotent (a
``GET``..., or a submit with an ``Idempotency-Key`` to a server known to honour it), so a job is
never created twice. A refused certificate or a bad URL is never retried.
"""

from __future__ import annotations

import os
import ssl

import httpx

from ._arguments import IDEMPOTENCY_HEADER
from ._exceptions import TransportError
from ._responses import retry_after
from .models import ServerInfo

__all__ = ["MAX_RETRY_WAIT", "RetryPolicy"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_WAIT = 60.0
"""Longest ``Retry-After`` the client waits out by default; a longer one is raised at once."""
# Errors raised before a byte of the request left this machine: safe to retry any method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NEVER_RETRY = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error under an httpx transport error, if the handshake is what failed."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class RetryPolicy:
    """Whether and when to re-send; shared by both clients through ``BaseClient``."""

    host: str
    """API host (named in transport errors)."""
    ca: str | os.PathLike[str] | None
    """CA bundle trusted for ``https://`` hosts (named when a certificate is refused)."""
    attempts: int
    """Tries per request for transient failures."""
    backoff: float
    """First sleep between retries, doubled each time."""
    max_wait: float
    """Longest ``Retry-After`` waited out before re-sending."""
    _server: ServerInfo | None

    def _retry_delay(
        self,
        request: httpx.Request,
        attempt: int,
        *,
        exc: httpx.TransportError | None = None,
        response: httpx.Response | None = None,
    ) -> float | None:
        """Seconds to wait before re-sending ``request``, or ``None`` to stop.

        A request is re-sent after connection failures (it never left), and, when it is
        idempotent, after other transport errors and 429/502/503/504, waiting what the answer's
        ``Retry-After`` asks (at most :attr:`max_wait`; a longer wait is not waited out but
        raised). Idempotent means a GET, HEAD, OPTIONS, PUT or DELETE, or a submit that carries
        an ``Idempotency-Key`` to a server known to honour it (ours: it answers the retry with
        the first attempt's job). Any other submit that may have reached the server is never
        sent twice (upstream ignores the key).
        """
        if attempt + 1 >= self.attempts:
            return None
        idempotent = request.method in _IDEMPOTENT or self._keyed_retry(request)
        if exc is not None:
            if isinstance(exc, _NEVER_RETRY) or _tls_failure(exc) is not None:
                return None  # neither a refused certificate nor a bad URL mends itself
            if not (isinstance(exc, _NOT_SENT) or idempotent):
                return None
        elif response is None or response.status_code not in _RETRY_STATUSES or not idempotent:
            return None
        backoff = float(min(self.backoff * 2**attempt, 10.0))
        asked = retry_after(response) if response is not None else None
        if asked is None:
            return backoff
        return asked if asked <= self.max_wait else None

    def _keyed_retry(self, request: httpx.Request) -> bool:
        """Whether ``request`` carries a key the server honours, so re-sending it is safe."""
        server = self._server
        return (
            IDEMPOTENCY_HEADER in request.headers
            and server is not None
            and server.supports("idempotent_submit")
        )

    def _must_know_server(self, request: httpx.Request, exc: httpx.TransportError) -> bool:
        """Whether the server must be identified to decide on re-sending ``request`` after ``exc``.

        A keyed submit that may have arrived can be re-sent only to a server that honours keys;
        the clients ask it once (``server_info``) when that is not yet known.
        """
        return (
            self._server is None
            and IDEMPOTENCY_HEADER in request.headers
            and not isinstance(exc, (*_NOT_SENT, *_NEVER_RETRY))
        )

    def _transport_error(self, request: httpx.Request, exc: httpx.TransportError) -> TransportError:
        reason = str(exc) or type(exc).__name__
        tls = _tls_failure(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            return TransportError(
                f"The TLS certificate of {self.host} is not trusted "
                f"({tls.verify_message or tls.reason}): pass the CA bundle that signed it with "
                "--ca or FLUX_RESTFUL_CA" + (f" (now {self.ca})" if self.ca else "")
            )
        if tls is not None:
            return TransportError(
                f"TLS handshake with {self.host} failed ({tls.reason or tls}): is the server "
                "serving HTTPS on that port (http:// for a plain server)?"
            )
        return TransportError(
            f"Could not reach the Flux RESTful API at {self.host} "
            f"({request.method} {request.url.path}): {type(exc).__name__}: {reason}"
        )
