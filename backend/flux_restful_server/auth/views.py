"""Routes of the auth blueprint: ``/v1/token``, ``/v1/login/access-token``, ``/v1/auth``."""

from __future__ import annotations

from typing import Any

import orjson
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from .._version import __version__
from .errors import LoginFailed
from .guard import auth_service, client_address

auth_bp = Blueprint("auth", url_prefix="/v1")

SERVER_NAME = "flux-restful"
"""How this server names itself to clients, which tell it from upstream's by it."""
FEATURES = ("stream", "events", "job_events", "labels", "job_filters", "node_detail", "batch")
"""Routes and parameters beyond upstream 1.1.0's that every one of our servers offers."""


def _token_body(token: str) -> HTTPResponse:
    return json_response(
        {"access_token": token, "token_type": "Bearer"},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@auth_bp.post("/token")
async def token(request: Request[Any, Any]) -> HTTPResponse:
    """Upstream's shared-secret handshake; every failure is a 400, never a 401."""
    service = auth_service(request.app)
    authorization = request.headers.get("authorization")
    return _token_body(await service.handshake(authorization, client_address(request)))


def _login_fields(request: Request[Any, Any]) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            # orjson: its nesting limit raises a ValueError where json's raises RecursionError.
            body = orjson.loads(request.body or b"{}")
        except ValueError:
            raise LoginFailed("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise LoginFailed("The request body must be a JSON object.")
        return {k: v for k, v in body.items() if isinstance(v, str)}
    # Form body only, as OAuth2's password flow says: a password in the query string would
    # end up in access logs and proxies' logs.
    fields: dict[str, str] = {}
    if request.form:
        for key in ("username", "password", "scope"):
            value = request.form.get(key)
            if isinstance(value, str) and value:
                fields[key] = value
    return fields


@auth_bp.post("/login/access-token")
async def login_access_token(request: Request[Any, Any]) -> HTTPResponse:
    """OAuth2 password form (``username``, ``password``, optional ``scope``)."""
    service = auth_service(request.app)
    fields = _login_fields(request)
    username, password = fields.get("username", ""), fields.get("password", "")
    if not service.password_login:
        raise LoginFailed(f"The {service.backend} auth backend does not support password login.")
    if not username or not password:
        raise LoginFailed("Both username and password are required.")
    token = await service.login(username, password, fields.get("scope"), client_address(request))
    return _token_body(token)


@auth_bp.get("/auth")
async def describe(request: Request[Any, Any]) -> HTTPResponse:
    """Public description of how to authenticate here, and of this server for clients.

    Upstream 1.1.0 answers the same keys without ``server``; clients tell the two apart by it.
    """
    service = auth_service(request.app)
    features = [*FEATURES, "password_login"] if service.password_login else list(FEATURES)
    body = service.describe()
    body["server"] = {"name": SERVER_NAME, "version": __version__, "features": features}
    return json_response(body)
