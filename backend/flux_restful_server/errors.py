"""The server's one error tree and where it becomes a response.

```
AppError (SanicException)     status_code, code, body; rendered as {**body, "code": code}
  BadRequest                  400
  NotFound                    404 (job_not_found: also for jobs the caller may not see)
  auth.errors.AuthLayerError  401/403/400/429/503 with their challenge headers
  web.access.PageError        any status, rendered as an HTML page by the web UI
```

Domain errors raised below the HTTP layer (executors, job ids) are not ``AppError``s; the
table ``DOMAIN_ERRORS`` maps them to a status and code here, in one place.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sanic import Request, Sanic
from sanic.config import Config
from sanic.constants import HTTP_METHODS
from sanic.exceptions import PayloadTooLarge, RequestTimeout, SanicException
from sanic.exceptions import ServiceUnavailable as SanicUnavailable
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, json

from .domain.errors import ExecutorUnavailable
from .domain.ids import InvalidJobId


class AppError(SanicException):
    """Base of our errors: ``status_code``, a machine ``code``, and the JSON body clients read."""

    status_code = 500
    code: ClassVar[str] = "internal"
    """Stable machine-readable code, sent beside upstream's keys."""
    quiet = True

    def __init__(
        self, message: str | None = None, *, body: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        """Create the error; ``body`` defaults to ``{"detail": message}``."""
        super().__init__(message, **kw)
        self.body = body if body is not None else {"detail": str(self)}


class BadRequest(AppError):
    status_code = 400
    code = "invalid_request"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    ExecutorUnavailable: (503, "unavailable"),
    InvalidJobId: (400, "invalid_job_id"),
}
"""Errors of the layers below HTTP, and the status and code each is answered with."""


def job_not_found(job_id: int | str) -> NotFound:
    """404 for a job that does not exist or that the caller may not see."""
    return NotFound(f"Job {job_id} not found", body={"detail": f"Job {job_id} not found"})


def render_app_error(request: Request[Any, Any], exception: Exception) -> HTTPResponse:
    """Render an :class:`AppError` as ``{**body, "code": code}`` with its headers."""
    assert isinstance(exception, AppError)
    body = {**exception.body, "code": exception.code}
    return json(body, status=exception.status_code, headers=exception.headers)


class JsonErrorHandler(ErrorHandler):
    """Render every exception as JSON: our bodies as they are, anything else as ``detail``.

    Sanic's own limit errors (body or headers too large, request or response timeout) say
    which limit was hit and its value.
    """

    def __init__(self, config: Config | None = None) -> None:
        super().__init__()
        self.config = config

    def _limit_message(self, exception: SanicException) -> str | None:
        config = self.config
        if config is None:
            return None
        if isinstance(exception, PayloadTooLarge):
            if "header" in str(exception).lower():
                return (
                    "The request headers (with the query string) exceed the limit of "
                    f"{config.REQUEST_MAX_HEADER_SIZE} bytes"
                )
            return f"The request body exceeds the limit of {config.REQUEST_MAX_SIZE} bytes"
        if isinstance(exception, RequestTimeout):
            return f"The request did not arrive within {config.REQUEST_TIMEOUT} s"
        if isinstance(exception, SanicUnavailable) and str(exception) == "Response Timeout":
            return f"The server could not answer within {config.RESPONSE_TIMEOUT} s"
        return None

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, AppError):
            return render_app_error(request, exception)
        for kind, (status, code) in DOMAIN_ERRORS.items():
            if isinstance(exception, kind):
                if status >= 500:
                    self.log(request, exception)
                return json({"detail": str(exception), "code": code}, status=status)
        if isinstance(exception, SanicException):
            status = exception.status_code
            message = self._limit_message(exception) or {
                404: "Not Found",
                405: "Method Not Allowed",
            }.get(status, str(exception))
            headers = dict(getattr(exception, "headers", None) or {})
            if status == 405 and "Allow" not in headers:
                headers["Allow"] = ", ".join(allowed_methods(request.app, request.path))
            return json({"detail": message, "code": _code(status)}, status=status, headers=headers)
        self.log(request, exception)
        return json({"detail": "Internal Server Error", "code": "internal"}, status=500)


def allowed_methods(app: Sanic[Any, Any], path: str) -> list[str]:
    """The methods a route of ``app`` answers at ``path`` (Sanic omits them on dynamic paths)."""
    allowed: list[str] = []
    for method in HTTP_METHODS:
        try:
            app.router.get(path, method, None)
        except SanicException:
            continue
        allowed.append(str(method.value))
    return allowed


def _code(status: int) -> str:
    return {
        400: "invalid_request",
        401: "not_authenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        408: "request_timeout",
        413: "payload_too_large",
        503: "unavailable",
    }.get(status, "error")


def install(app: Sanic[Any, Any]) -> None:
    """Make ``app`` answer every error in JSON."""
    app.error_handler = JsonErrorHandler(app.config)
