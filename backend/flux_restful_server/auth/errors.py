"""Errors of the auth layer, rendered as ``{"detail": ..., "code": ...}`` like upstream's."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import AppError


class AuthLayerError(AppError):
    """Base of the auth errors (a branch of ``errors.AppError``); the message is ``detail``."""

    code: ClassVar[str] = "auth_error"
    """Stable machine-readable code."""
    quiet = True

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        """Create the error, adding the class's default headers (the auth challenge)."""
        headers = dict(getattr(type(self), "challenge_headers", {}))
        headers.update(kwargs.pop("headers", None) or {})
        super().__init__(message, headers=headers, **kwargs)


class NotAuthenticated(AuthLayerError):
    """No credentials were sent to a protected route."""

    status_code = 401
    code = "not_authenticated"
    message = "Not authenticated"
    challenge_headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class InvalidCredentials(AuthLayerError):
    """The credentials are wrong, forged, expired, or their user is gone or inactive."""

    status_code = 401
    code = "invalid_credentials"
    message = "Could not validate credentials"
    challenge_headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class TokenExpiredError(InvalidCredentials):
    """The access token has expired (same response, distinct code)."""

    code = "token_expired"


class Forbidden(AuthLayerError):
    """The caller is known but may not do this."""

    status_code = 403
    code = "forbidden"
    message = "The user doesn't have enough privileges"


class LoginFailed(AuthLayerError):
    """``/v1/token`` or ``/v1/login/access-token`` refused (always 400, never 401)."""

    status_code = 400
    code = "login_failed"
    message = "Incorrect user or password"


class LoginThrottled(AuthLayerError):
    """Too many failed sign-ins (or checks under way) from one address: refused without hashing."""

    status_code = 429
    code = "too_many_attempts"
    message = "Too many failed sign-ins from your address; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int = 60) -> None:
        """Create the refusal; ``retry_after`` seconds go into ``Retry-After``."""
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class LoginBusy(AuthLayerError):
    """Too many password checks are waiting already."""

    status_code = 503
    code = "busy"
    message = "The server is checking too many passwords right now; try again shortly."
    challenge_headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}
