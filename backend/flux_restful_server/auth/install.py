"""Install auth on an app: the ``auth`` blueprint, its listeners and its error rendering."""

from __future__ import annotations

from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from ..settings import Settings
from .errors import AuthLayerError
from .service import AuthService
from .views import auth_bp

__all__ = ["render_auth_error", "setup_auth"]


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
