"""Routes of the auth blueprint: sign-in, who is calling, personal access tokens.

Sign-in is ``/v1/token`` and ``/v1/login/access-token``; who is calling, ``/v1/auth`` and
``/v1/me``; personal access tokens, ``/v1/tokens``.
"""

# sanic-ext's schema types are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from typing import Any

import orjson
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response
from sanic_ext import openapi

from .._version import __version__
from ..media import media_type
from ..schemas import (
    ME,
    TOKEN_CREATED,
    TOKEN_LIST,
    TOKEN_REQUEST,
    TOKEN_REVOKED,
    answers,
    json_body,
)
from .errors import BadTokenRequest, LoginFailed, RefreshRefused
from .grants import Grant
from .guard import auth_service, authenticate, client_address

DEFAULT_TOKEN_LIFETIME = 30 * 86400
"""Seconds a personal token lasts when ``expires_in`` is not given (30 days)."""
SCOPE_LEVELS = {
    "read": frozenset({"read"}),
    "submit": frozenset({"read", "submit"}),
    "admin": frozenset({"read", "submit", "admin"}),
}
"""What one ``scope`` word grants: each level includes the ones below it."""

auth_bp = Blueprint("auth", url_prefix="/v1")

SERVER_NAME = "flux-restful"
"""How this server names itself to clients, which tell it from upstream's by it."""
FEATURES = (
    "stream",
    "events",
    "job_events",
    "labels",
    "job_filters",
    "node_detail",
    "batch",
    "me",
    "tokens",
    "refresh_tokens",
    "webhooks",
    "batch_submit",
    "idempotent_submit",
    "dry_run",
    "jobspec_submit",
    "job_control",
)
"""Routes and parameters beyond upstream 1.1.0's that every one of our servers offers."""


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _token_body(grant: Grant) -> HTTPResponse:
    return json_response(grant.as_json(), headers=_NO_STORE)


@auth_bp.post("/token")
async def token(request: Request[Any, Any]) -> HTTPResponse:
    """Upstream's shared-secret handshake; every failure is a 400, never a 401."""
    service = auth_service(request.app)
    authorization = request.headers.get("authorization")
    return _token_body(await service.handshake(authorization, client_address(request)))


def _login_fields(request: Request[Any, Any]) -> dict[str, str]:
    content_type = media_type(request.headers.get("content-type", ""))
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
        for key in ("username", "password", "scope", "grant_type", "refresh_token"):
            value = request.form.get(key)
            if isinstance(value, str) and value:
                fields[key] = value
    return fields


@auth_bp.post("/login/access-token")
async def login_access_token(request: Request[Any, Any]) -> HTTPResponse:
    """OAuth2 password form (``username``, ``password``, optional ``scope``), or a refresh.

    A refresh sends ``grant_type=refresh_token`` and ``refresh_token``.
    """
    service = auth_service(request.app)
    fields = _login_fields(request)
    grant_type = fields.get("grant_type", "password")
    if grant_type == "refresh_token":
        refresh = fields.get("refresh_token", "")
        if not refresh:
            raise RefreshRefused("grant_type=refresh_token needs refresh_token.")
        return _token_body(service.refresh(refresh))
    if grant_type != "password":
        raise LoginFailed(f"grant_type must be password or refresh_token, not {grant_type[:40]!r}")
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


@auth_bp.get("/me")
@openapi.summary("Who is calling")
@openapi.description(
    "The caller's user name (`null` when auth is off), whether they are a superuser here (a "
    "superuser's token needs the `admin` scope for it), the scopes their credentials carry, and "
    "how they authenticated. Any credentials with the `read` scope may ask."
)
@answers(ME)
@openapi.secured("token")
async def me(request: Request[Any, Any]) -> HTTPResponse:
    principal = await authenticate(request)
    service = auth_service(request.app)
    token = None
    if principal.token_id is not None and service.tokens is not None:
        found = service.tokens.get_personal(principal.token_id)
        if found is not None:
            token = {"id": found.id, "name": found.name, "expires": int(found.expires)}
    return json_response(
        {
            "user": principal.name,
            "superuser": principal.superuser,
            "scopes": sorted(principal.scopes),
            "auth": principal.via,
            "backend": service.backend,
            "server_mode": service.settings.server_mode,
            "token": token,
        }
    )


def _token_request(request: Request[Any, Any]) -> tuple[str, frozenset[str], float]:
    """``(name, scopes, expires_in)`` from a ``POST /v1/tokens`` JSON body (400 otherwise)."""
    try:
        body = orjson.loads(request.body or b"")
    except ValueError:
        raise BadTokenRequest('The request body must be JSON: {"name": ..., ...}.') from None
    if not isinstance(body, dict):
        raise BadTokenRequest("The request body must be a JSON object.")
    name = body.get("name")
    if not isinstance(name, str):
        raise BadTokenRequest("name is required: a text saying what the token is for.")
    scope = body.get("scope", "read")
    if isinstance(scope, str) and scope in SCOPE_LEVELS:
        scopes = SCOPE_LEVELS[scope]
    elif (
        isinstance(scope, list)
        and scope
        and all(isinstance(s, str) and s in SCOPE_LEVELS for s in scope)
    ):
        scopes = frozenset(scope)
    else:
        raise BadTokenRequest("scope must be read, submit or admin, or a list of them.")
    expires_in = body.get("expires_in", DEFAULT_TOKEN_LIFETIME)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        raise BadTokenRequest("expires_in must be a number of seconds.")
    if not -(2**53) < expires_in < 2**53:
        raise BadTokenRequest("expires_in is out of range.")
    return name, scopes, float(expires_in)


@auth_bp.post("/tokens")
@openapi.summary("Create a personal access token")
@openapi.description(
    "For scripts and CI: a token to send as `Authorization: Bearer` instead of a password. The "
    "answer's `token` is the secret, shown this once (the server keeps only its hash). Its "
    "scopes cannot go beyond the caller's own; `admin` is for superusers. Needs `submit`."
)
@openapi.body(json_body(TOKEN_REQUEST))
@answers(TOKEN_CREATED, status=201)
@openapi.secured("token")
async def create_token(request: Request[Any, Any]) -> HTTPResponse:
    principal = await authenticate(request)
    service = auth_service(request.app)
    name, scopes, expires_in = _token_request(request)
    token, secret = service.create_personal_token(principal, name, scopes, expires_in)
    request.ctx.audit_token = token.id
    return json_response({**token.as_json(), "token": secret}, status=201, headers=_NO_STORE)


@auth_bp.get("/tokens")
@openapi.summary("List personal access tokens")
@openapi.description(
    "The caller's live tokens, newest first, without their secrets. A superuser (with the "
    "`admin` scope) sees everyone's, or one user's with `user=`."
)
@openapi.parameter("user", str, "query")
@answers(TOKEN_LIST)
@openapi.secured("token")
async def list_tokens(request: Request[Any, Any]) -> HTTPResponse:
    principal = await authenticate(request)
    tokens = auth_service(request.app).list_personal_tokens(principal, request.args.get("user"))
    return json_response({"tokens": [token.as_json() for token in tokens]})


@auth_bp.delete("/tokens/<token_id:str>")
@openapi.summary("Revoke a personal access token")
@openapi.description(
    "Revoke one of the caller's tokens (a superuser: anyone's); it stops working at once, open "
    "streams included. Another user's token answers 404, like one that does not exist."
)
@answers(TOKEN_REVOKED)
@openapi.secured("token")
async def revoke_token(request: Request[Any, Any], token_id: str) -> HTTPResponse:
    principal = await authenticate(request)
    token = auth_service(request.app).revoke_personal_token(principal, token_id)
    request.ctx.audit_token = token.id
    return json_response({"Message": "Token revoked.", "id": token.id})
