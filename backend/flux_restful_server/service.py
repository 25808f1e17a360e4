"""Nodes and service control (API.md "Nodes, service, auth")."""

from __future__ import annotations

import asyncio

from sanic import Blueprint
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from .auth import authenticate, require_superuser
from .http import AppRequest, query_bool
from .schemas import NODES, answers

service_bp = Blueprint("service", url_prefix="/v1")


@service_bp.get("/nodes")
@openapi.summary("Nodes that are up")
@openapi.description(
    '`{"nodes": [names]}`, sorted; `detail=true` adds cores, GPUs and free counts.'
)
@openapi.parameter("detail", bool, "query")
@answers(NODES)
@openapi.secured("token")
async def nodes(request: AppRequest) -> HTTPResponse:
    await authenticate(request)
    infos = sorted((n for n in await request.app.ctx.jobs.nodes() if n.up), key=lambda n: n.name)
    body: dict[str, object] = {"nodes": [n.name for n in infos]}
    if query_bool(request, "detail", "details"):
        body["detail"] = [
            {
                "name": n.name,
                "cores": n.cores,
                "gpus": n.gpus,
                "cores_free": n.cores_free,
                "gpus_free": n.gpus_free,
            }
            for n in infos
        ]
    return json(body)


@service_bp.post("/service/stop")
@openapi.summary("Stop the server gracefully")
@openapi.description(
    "Superusers only when auth is on. Running jobs keep running and their records."
)
@openapi.secured("token")
async def stop_service(request: AppRequest) -> HTTPResponse:
    principal = await authenticate(request)
    require_superuser(principal)
    app = request.app
    # Answer first, then stop: the client gets its reply before the listener closes.
    asyncio.get_running_loop().call_later(0.1, app.stop)
    return json({"Message": "Service is stopping."})
