"""The SDK's one exception tree.

```
FluxRestfulError
  TransportError        could not reach the API (wraps httpx.TransportError, chained with `from`)
  ApiError              the API answered 4xx/5xx; has .status_code, .code, .response
    AuthError           401, or a refused login/token handshake
    ForbiddenError      403
    NotFoundError       404
    InvalidRequestError 400/405/409/422
    RateLimitedError    429; .retry_after (seconds) from the server's Retry-After
    ServerError         5xx
  StreamClosedError     a stream ended unexpectedly and could not be resumed
  UnsupportedByServer   the server does not offer a feature (e.g. an upstream server and
                        the frames stream); names the feature and the server
  UnexpectedAnswerError the URL answered, but not as a Flux RESTful API (HTML, a proxy's page,
                        JSON of an unknown shape); names the URL and what came back
  InsecureTransportError credentials would cross the network in clear text (plain http:// to
                        a host that is not this machine); raised before any connection
  WebhookVerificationError a webhook delivery's signature or timestamp does not verify
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ApiError",
    "AuthError",
    "FluxRestfulError",
    "ForbiddenError",
    "InsecureTransportError",
    "InvalidRequestError",
    "NotFoundError",
    "RateLimitedError",
    "ServerError",
    "StreamClosedError",
    "TransportError",
    "UnexpectedAnswerError",
    "UnsupportedByServer",
    "WebhookVerificationError",
]


class FluxRestfulError(Exception):
    """Base class of every error the SDK raises."""


class TransportError(FluxRestfulError):
    """The API could not be reached (connection refused, timeout, reset...)."""


class StreamClosedError(FluxRestfulError):
    """A stream ended unexpectedly and could not be resumed."""


class ApiError(FluxRestfulError):
    """The API answered with an error status.

    Attributes:
        status_code: HTTP status of the answer.
        code: Machine-readable error code from the body (``""`` when the server sent none).
        detail: The parsed JSON body (or the text body), as the server sent it.
        response: The ``httpx.Response``, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str = "",
        detail: object = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.response = response


class AuthError(ApiError):
    """Missing or refused credentials (401, or a refused login or token handshake)."""


class ForbiddenError(ApiError):
    """The caller may not do this (403)."""


class NotFoundError(ApiError):
    """No such job or route (404)."""


class InvalidRequestError(ApiError):
    """The request was refused as invalid (400, 405, 409, 422)."""


class RateLimitedError(ApiError):
    """Too many requests (429): the server's rate limit, or its sign-in throttle.

    Idempotent requests are retried after ``Retry-After`` (up to the client's ``max_wait``)
    before this is raised; a submit only when it carries an ``Idempotency-Key``.

    Attributes:
        retry_after: Seconds the server asked to wait, if it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """The server failed (5xx)."""


class UnsupportedByServer(FluxRestfulError):
    """The server does not offer what was asked (a route of ours, against an upstream server).

    Attributes:
        feature: What was asked, in words (e.g. ``"the job event feed (/v1/events)"``).
        server: Which server refused, e.g. ``"upstream flux-restful-api at http://h:5000"``.
    """

    def __init__(self, feature: str, server: str) -> None:
        super().__init__(f"{feature} is not offered by {server}")
        self.feature = feature
        self.server = server


class UnexpectedAnswerError(FluxRestfulError):
    """The URL answered, but not as a Flux RESTful API does.

    Attributes:
        url: The URL that answered.
        status_code: The HTTP status it answered with.
    """

    def __init__(self, message: str, *, url: str, status_code: int) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code


class InsecureTransportError(FluxRestfulError):
    """Credentials would be sent in clear text: plain ``http://`` to a host that is not loopback.

    Raised before any connection is opened. Use ``https://``, or ``insecure=True``
    (``--insecure``) on a network you trust.
    """


class WebhookVerificationError(FluxRestfulError):
    """A webhook delivery does not verify (see :func:`~flux_restful_client.verify_webhook`).

    A header is missing, the timestamp is more than five minutes away, or no signature was made
    with the secret.
    """
