"""Operations routes: liveness and readiness probes, Prometheus metrics; the audit log's hooks.

The probes answer without authentication (a kubelet or a load balancer has no credentials) and
say nothing a caller could not learn from a failed submit: whether the server is alive, and why
jobs cannot run right now. ``/metrics`` needs a superuser when auth is on, unless the operator
sets ``FLUX_METRICS_PUBLIC=true`` (for a scraper inside a trusted network). See
docs/operations.md.
"""

# sanic-ext's schema types are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sanic import Blueprint
from sanic.response import HTTPResponse, json, raw
from sanic_ext import openapi
from sanic_ext.extensions.openapi.types import Object, String

from .audit import open_audit_log
from .auth import Principal, authenticate, require_superuser
from .http import App, AppRequest
from .metrics import CONTENT_TYPE, Metrics
from .schemas import ERROR, answers, json_body

__all__ = ["ops_bp", "setup_ops", "state_dir_unwritable"]

ops_bp = Blueprint("ops")
PROBE_OK = Object({"status": String()}, required=["status"])
PROBE_UNAVAILABLE = Object(
    {"status": String(), "reason": String(description="Why jobs cannot run now.")},
    required=["status", "reason"],
)


def setup_ops(app: App) -> None:
    """Mount the probes and ``/metrics``; count requests and websockets, audit and log them.

    The audit log gets the actions that matter; the access log (when asked) every request.
    """
    metrics = Metrics(app.ctx.hub)
    app.ctx.metrics = metrics

    async def count_arrival(request: AppRequest) -> None:
        metrics.started(request)

    async def count_answer(request: AppRequest, response: HTTPResponse) -> None:
        metrics.answered(request, response)
        ctx = request.app.ctx
        if ctx.audit is not None:
            ctx.audit.answered(request, response)
        if ctx.access_log is not None:
            ctx.access_log.accessed(request, response.status, metrics.elapsed(request))

    async def websocket_opened(
        request: AppRequest, principal: Principal | None, outcome: str, code: int | None
    ) -> None:
        metrics.websocket_opened(request, outcome)
        ctx = request.app.ctx
        if ctx.audit is not None:
            ctx.audit.websocket(request, principal, outcome, code)
        if ctx.access_log is not None:
            ctx.access_log.accessed(request, 101, metrics.elapsed(request), websocket=outcome)

    async def open_logs(app: App) -> None:
        settings = app.ctx.settings
        if settings.audit_log:
            app.ctx.audit = open_audit_log(settings.audit_log)
        if settings.access_log:
            app.ctx.access_log = open_audit_log(settings.access_log, flag="--access-log")

    async def close_logs(app: App) -> None:
        for log in (app.ctx.audit, app.ctx.access_log):
            if log is not None:
                log.close()
        app.ctx.audit = app.ctx.access_log = None

    app.on_request(count_arrival, priority=1000)  # first: latency includes the other middleware
    app.on_response(count_answer)
    app.add_signal(websocket_opened, "streams.websocket.opened")
    app.before_server_start(open_logs)
    app.after_server_stop(close_logs)
    app.blueprint(ops_bp)


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


@ops_bp.get("/metrics")
@openapi.summary("Prometheus metrics")
@openapi.description(
    "Requests by route and status, latency histograms, jobs by state, submits, stream followers "
    "and lagged cut-offs, in Prometheus' text format. A superuser when auth is on, unless "
    "`FLUX_METRICS_PUBLIC=true`."
)
@openapi.response(200, {"text/plain": String()}, "Prometheus text exposition format")
@openapi.response("default", json_body(ERROR), "An error")
@openapi.secured("token")
async def metrics(request: AppRequest) -> HTTPResponse:
    ctx = request.app.ctx
    if not ctx.settings.metrics_public:
        require_superuser(await authenticate(request))
    assert ctx.metrics is not None
    return raw(await ctx.metrics.render(ctx.jobs), content_type=CONTENT_TYPE)


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
