"""Install auth on an app: the ``auth`` blueprint, its listeners, the rendering of its errors."""

from __future__ import annotations

from typing import Any

from sanic import Sanic

from ..errors import render_app_error
from ..settings import Settings
from .errors import AuthLayerError
from .service import AuthService
from .views import auth_bp

__all__ = ["setup_auth"]


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
    # Also on an app without errors.JsonErrorHandler (a blueprint mounted alone, in tests).
    app.error_handler.add(AuthLayerError, render_app_error)

    async def open_auth_service(app: Sanic[Any, Any]) -> None:
        await service.open()

    async def close_auth_service(app: Sanic[Any, Any]) -> None:
        service.close()

    app.register_listener(open_auth_service, "before_server_start")
    app.register_listener(close_auth_service, "after_server_stop")
