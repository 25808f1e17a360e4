"""Resolve the caller of a request into a :class:`Principal`."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .errors import Forbidden, InvalidCredentials, NotAuthenticated
from .principal import ANONYMOUS, Principal
from .service import AuthService

if TYPE_CHECKING:
    from sanic import Request, Sanic

__all__ = [
    "ANONYMOUS",
    "Principal",
    "auth_service",
    "authenticate",
    "authenticate_token",
    "client_address",
    "recheck",
    "rate_key",
    "require_superuser",
    "stream_slot",
]


def auth_service(app: Sanic[Any, Any]) -> AuthService:
    """Return the app's :class:`AuthService` (installed by ``setup_auth``).

    Raises:
        RuntimeError: ``setup_auth`` was not called for this app; refusing beats serving unguarded.
    """
    service = getattr(app.ctx, "auth", None)
    if service is None:
        raise RuntimeError("setup_auth(app) was not called: refusing to serve unauthenticated")
    assert isinstance(service, AuthService)
    return service


async def authenticate(request: Request[Any, Any], *, allow_query_token: bool = False) -> Principal:
    """Return the caller of ``request``; with auth off everyone is the anonymous superuser.

    Accepts ``Authorization: Bearer <access token>`` and, on password backends,
    ``Authorization: Basic``. With ``allow_query_token`` (streams opened by browsers, which cannot
    set headers on websockets or EventSource) a ``?token=`` access token is accepted too.

    Submits and expensive reads are counted against the caller's rate limits here.

    Raises:
        NotAuthenticated: No credentials (401).
        InvalidCredentials: Wrong, expired, forged or revoked credentials (401).
        Forbidden: Not allowed for this request (403).
        RateLimited: Over a rate limit (429 with ``Retry-After``).
    """
    principal = await _resolve(request, allow_query_token)
    request.ctx.principal = principal  # who acted, for the audit log
    route = request.route.name.partition(".")[2] if request.route is not None else ""
    auth_service(request.app).rates.admit(route, rate_key(request, principal))
    return principal


def rate_key(request: Request[Any, Any], principal: Principal) -> str:
    """Whose budget a request draws on: the user's, or the address's when anonymous."""
    if principal.name is not None:
        return f"user:{principal.name}"
    return f"address:{client_address(request)}"


def stream_slot(request: Request[Any, Any], principal: Principal) -> AbstractContextManager[None]:
    """Hold one of the caller's stream slots while a stream runs.

    Raises:
        RateLimited: The caller holds too many streams already (429).
    """
    return auth_service(request.app).rates.stream(rate_key(request, principal))


async def _resolve(request: Request[Any, Any], allow_query_token: bool) -> Principal:
    service = auth_service(request.app)
    if not service.enabled:
        return ANONYMOUS
    header = request.headers.get("authorization")
    if not header:
        token = request.args.get("token") if allow_query_token else None
        if not token:
            raise NotAuthenticated()
        return service.principal_from_token(token, request.method)
    scheme, _, credentials = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and credentials.strip():
        return service.principal_from_token(credentials.strip(), request.method)
    if scheme == "basic" and credentials.strip():
        return await service.principal_from_basic(credentials, client_address(request))
    raise InvalidCredentials()


def client_address(request: Request[Any, Any]) -> str:
    """The caller's address: the forwarded one when Sanic is configured to trust a proxy."""
    return str(request.remote_addr or request.ip or "")


def authenticate_token(app: Sanic[Any, Any], token: str, method: str = "GET") -> Principal:
    """Resolve an access token received outside the headers (a websocket's first frame).

    Raises:
        InvalidCredentials: Wrong, expired, forged or revoked token (401).
        Forbidden: Not allowed (403).
    """
    return auth_service(app).principal_from_token(token, method)


def recheck(app: Sanic[Any, Any], principal: Principal) -> None:
    """Check that ``principal`` may still act (long-lived streams call this periodically).

    Raises:
        InvalidCredentials: The user was removed or deactivated, or their password changed.
        Forbidden: (multi-user mode) no longer an allowed system account.
    """
    auth_service(app).recheck(principal)


def require_superuser(principal: Principal) -> None:
    """Allow superusers, and anyone when auth is off (``POST /v1/service/stop``).

    Raises:
        Forbidden: The caller is not a superuser (403).
    """
    if not principal.superuser:
        raise Forbidden()
