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


class RefreshRefused(LoginFailed):
    """A refresh token cannot be spent: unknown, expired, revoked, or its user changed (400)."""

    code = "invalid_grant"
    message = "The refresh token is unknown, revoked or expired."


class RefreshReuseDetected(RefreshRefused):
    """A spent refresh token came back, so it was copied: its whole sign-in is revoked (400)."""

    code = "refresh_token_reused"

    def __init__(self, message: str | None = None, *, user: str = "") -> None:
        """Create the refusal; ``user`` is whose sign-in was revoked (for the audit log)."""
        super().__init__(message)
        self.user = user
        """Whose sign-in was revoked."""


class BadTokenRequest(AuthLayerError):
    """A personal token cannot be created as asked (bad name, lifetime or scope; too many)."""

    status_code = 400
    code = "invalid_request"
    message = "Invalid token request"


class TokenNotFound(AuthLayerError):
    """No such live personal token, or not the caller's (404 either way, like jobs)."""

    status_code = 404
    code = "not_found"
    message = "Token not found"


class TokensUnavailable(AuthLayerError):
    """Personal and refresh tokens need a user to own them: auth is off on this server."""

    status_code = 400
    code = "tokens_unavailable"
    message = (
        "This server runs without authentication (FLUX_AUTH_BACKEND=none): there are no users "
        "to own tokens, and none are needed."
    )
