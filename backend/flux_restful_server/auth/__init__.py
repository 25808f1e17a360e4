"""Authentication: who is calling, and what they may touch.

``setup_auth(app)`` installs it: the ``auth`` blueprint (``/v1/token``,
``/v1/login/access-token``, ``/v1/auth``), the listeners that open the user store and create the
``FLUX_USER`` superuser, and the error rendering. Job routes call :func:`authenticate`.
"""

from __future__ import annotations

from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from ..settings import Settings
from .errors import AuthLayerError, Forbidden, InvalidCredentials, LoginFailed, NotAuthenticated
from .guard import (
    ANONYMOUS,
    Principal,
    auth_service,
    authenticate,
    authenticate_token,
    recheck,
    require_superuser,
)
from .service import AuthService, check_auth_settings
from .views import auth_bp


def render_auth_error(request: Request[Any, Any], exception: Exception) -> HTTPResponse:
    """Render an auth error as ``{"detail", "code"}`` with its challenge header."""
    assert isinstance(exception, AuthLayerError)
    return json(
        {"detail": str(exception), "code": exception.code},
        status=exception.status_code,
        headers=exception.headers,
    )


def setup_auth(app: Sanic[Any, Any], settings: Settings | None = None) -> None:
    """Install auth on ``app``: blueprint, listeners, error rendering.

    Args:
        app: The application.
        settings: Server settings; ``app.ctx.settings`` when omitted.

    Raises:
        SettingsError: The auth configuration is unusable (said before the server starts).
    """
    settings = settings if settings is not None else app.ctx.settings
    service = AuthService(settings)
    app.ctx.auth = service
    app.blueprint(auth_bp)
    app.error_handler.add(AuthLayerError, render_auth_error)

    async def open_auth_service(app: Sanic[Any, Any]) -> None:
        await service.open()

    async def close_auth_service(app: Sanic[Any, Any]) -> None:
        service.close()

    app.register_listener(open_auth_service, "before_server_start")
    app.register_listener(close_auth_service, "after_server_stop")


__all__ = [
    "ANONYMOUS",
    "AuthLayerError",
    "AuthService",
    "Forbidden",
    "InvalidCredentials",
    "LoginFailed",
    "NotAuthenticated",
    "Principal",
    "auth_bp",
    "auth_service",
    "authenticate",
    "authenticate_token",
    "check_auth_settings",
    "recheck",
    "require_superuser",
    "setup_auth",
]
