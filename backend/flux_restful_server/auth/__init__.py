"""Authentication: who is calling, and what they may touch.

Job routes call :func:`authenticate`. ``auth.install.setup_auth(app)`` installs the rest: the
``auth`` blueprint (``auth/views.py``: ``/v1/token``, ``/v1/login/access-token``, ``/v1/auth``),
the listeners that open the user store and create the ``FLUX_USER`` superuser, and the error
rendering. This package does not import the blueprint, so the other blueprints can import it.
"""

from __future__ import annotations

from .config import check_auth_settings
from .errors import AuthLayerError, Forbidden, InvalidCredentials, LoginFailed, NotAuthenticated
from .guard import (
    ANONYMOUS,
    Principal,
    auth_service,
    authenticate,
    authenticate_token,
    recheck,
    require_superuser,
    stream_slot,
)
from .service import AuthService

__all__ = [
    "ANONYMOUS",
    "AuthLayerError",
    "AuthService",
    "Forbidden",
    "InvalidCredentials",
    "LoginFailed",
    "NotAuthenticated",
    "Principal",
    "auth_service",
    "authenticate",
    "authenticate_token",
    "check_auth_settings",
    "recheck",
    "require_superuser",
    "stream_slot",
]
