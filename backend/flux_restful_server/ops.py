"""Operations routes: liveness and readiness probes for Kubernetes and load balancers.

Both answer without authentication (a kubelet or a load balancer has no credentials) and say
nothing a caller could not learn from a failed submit: whether the server is alive, and why
jobs cannot run right now. See docs/operations.md.
"""

# sanic-ext's schema types are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sanic import Blueprint
from sanic.response import HTTPResponse, json
from sanic_ext import openapi
from sanic_ext.extensions.openapi.types import Object, String

from .http import AppRequest
from .schemas import answers

__all__ = ["ops_bp", "state_dir_unwritable"]

ops_bp = Blueprint("ops")
PROBE_OK = Object({"status": String()}, required=["status"])
PROBE_UNAVAILABLE = Object(
    {"status": String(), "reason": String(description="Why jobs cannot run now.")},
    required=["status", "reason"],
)


@ops_bp.get("/healthz")
@openapi.summary("Liveness probe")
@openapi.description('`{"status": "ok"}` while the process serves requests. No authentication.')
@answers(PROBE_OK)
async def healthz(request: AppRequest) -> HTTPResponse:
    return json({"status": "ok"})


@ops_bp.get("/readyz")
@openapi.summary("Readiness probe")
@openapi.description(
    '`{"status": "ok"}` when jobs can be submitted and run now: the executor answers (the local '
    "job supervisor, or the Flux broker) and the state dir is writable. Otherwise 503 with "
    '`{"status": "unavailable", "reason": ...}`. No authentication.'
)
@answers(PROBE_OK, s503=PROBE_UNAVAILABLE)
async def readyz(request: AppRequest) -> HTTPResponse:
    ctx = request.app.ctx
    reason = await ctx.jobs.probe()
    if reason is None:
        reason = await asyncio.to_thread(state_dir_unwritable, ctx.settings.state_dir)
    if reason is not None:
        return json({"status": "unavailable", "reason": reason}, status=503)
    return json({"status": "ok"})


def state_dir_unwritable(path: Path) -> str | None:
    """``None`` when a file can be created, written and removed in ``path``; else why not."""
    probe = path / f".readyz-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"the state dir {path} is not writable ({exc.strerror})"
    return None
