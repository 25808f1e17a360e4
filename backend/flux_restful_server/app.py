"""The Sanic application: the factory that assembles the blueprints, and its resources."""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Any

import orjson
from sanic.config import Config
from sanic.response import HTTPResponse, json
from sanic_ext import openapi
from sanic_ext.extensions.openapi.builders import SpecificationBuilder

from . import browser, errors
from .executors.hub import Hub
from .http import App, AppContext, AppRequest, dumps
from .http.limits import refuse_malformed_body
from .http.startup import (
    add_automatic_routes_at_once,
    inspect_openapi_models_once,
    say_where_it_serves,
)
from .http.stopping import stop_on_signals_from_the_first_answer
from .settings import Settings

if TYPE_CHECKING:
    from .executors.base import Executor

log = logging.getLogger("flux_restful")


_names = itertools.count()


def create_app(settings: Settings | None = None, *, name: str | None = None) -> App:
    """Build the server application. Nothing is opened until the server starts."""
    inspect_openapi_models_once()  # before the views' OpenAPI decorators run (their import)
    settings = settings or Settings.from_env()
    config = Config()
    config.FALLBACK_ERROR_FORMAT = "json"
    config.OAS_UI_DEFAULT = None
    config.OAS_URL_PREFIX = "/docs"
    config.OAS_UI_REDOC = False
    config.OAS_UI_SWAGGER = False  # its page loads from a CDN: web/apidocs.py serves /docs
    config.API_TITLE = "Flux RESTful API"
    config.API_DESCRIPTION = "Submit, watch and cancel Flux jobs over HTTP."
    config.API_VERSION = "1"
    config.KEEP_ALIVE_TIMEOUT = 75
    config.WEBSOCKET_PING_INTERVAL = 20
    config.GRACEFUL_SHUTDOWN_TIMEOUT = 5.0
    config.CORS = False
    config.REQUEST_MAX_SIZE = settings.request_max_size  # 413 past it (errors.py says the limit)
    config.RESPONSE_TIMEOUT = settings.response_timeout  # 503 past it
    config.WEBSOCKET_MAX_SIZE = 64 * 1024  # clients send one small auth frame (close 1009 past it)
    app = App(
        name or f"flux_restful_{next(_names)}",
        config=config,
        ctx=AppContext(settings=settings, hub=Hub(settings.stream_buffer)),
        strict_slashes=False,
        dumps=dumps,
        loads=orjson.loads,  # its nesting limit (1,024) is a 400, where json's recursion is a 500
    )
    app.extend(config={"oas_url_prefix": "/docs", "oas_uri_to_json": "/openapi.json"})
    app.ext.openapi.add_security_scheme("token", "http", scheme="bearer", bearer_format="JWT")
    errors.install(app)
    browser.install(app)
    app.on_request(refuse_malformed_body)
    add_automatic_routes_at_once(app)
    stop_on_signals_from_the_first_answer(app)
    say_where_it_serves(app)

    from .auth.install import setup_auth
    from .jobs.control import control_bp
    from .jobs.views import jobs_bp
    from .ops import setup_ops
    from .service import service_bp
    from .streams.views import streams_bp
    from .web import apidocs, notfound, web_bp
    from .webhooks import setup_webhooks

    app.blueprint(jobs_bp)
    app.blueprint(control_bp)
    setup_ops(app)
    app.blueprint(service_bp)
    app.blueprint(streams_bp)
    app.blueprint(web_bp)
    setup_webhooks(app)
    apidocs.install(app)
    notfound.install(app)
    setup_auth(app)

    app.add_route(openapi_json, "/openapi.json", name="openapi_json")
    app.before_server_start(start_executor)
    app.after_server_stop(stop_executor)
    return app


@openapi.exclude()
async def openapi_json(request: AppRequest) -> HTTPResponse:
    """The OpenAPI document at the root, where upstream's FastAPI serves it."""
    spec: dict[str, Any] = SpecificationBuilder().build(request.app).serialize()  # type: ignore[no-untyped-call]
    return json(spec)


def make_executor(settings: Settings, hub: Hub) -> Executor:
    """Instantiate the executor that ``settings.executor`` names (``auto`` prefers Flux)."""
    choice = settings.executor
    if choice in ("flux", "auto"):
        try:
            from .executors.flux import FluxExecutor, flux_available
        except ImportError:
            if choice == "flux":
                raise
        else:
            ok, reason = flux_available()
            if ok and settings.job_user is not None:
                from .settings import SettingsError

                raise SettingsError(
                    "--job-user works with the local executor only (Flux is reachable, so "
                    "--executor auto chose it): pass --executor local"
                )
            if ok:
                log.info("executor: flux (%s)", reason)
                return FluxExecutor(settings, hub)
            if choice == "flux":
                from .settings import SettingsError

                raise SettingsError(f"--executor flux: {reason}")
            log.info("executor: local (Flux is not available: %s)", reason)
    from .executors.local import LocalExecutor

    log.info(
        "executor: local, %d node(s) x %d cores x %d GPUs, state in %s",
        settings.nodes,
        settings.cores_per_node,
        settings.gpus_per_node,
        settings.state_dir,
    )
    return LocalExecutor(settings, hub)


async def start_executor(app: App) -> None:
    """Open the job store and re-attach jobs before the first request."""
    ctx = app.ctx
    ctx.executor = make_executor(ctx.settings, ctx.hub)
    if ctx.webhooks is not None:
        # Before the executor ingests anything: events recovered at start-up make deliveries.
        ctx.webhooks.open(ctx.executor)
    await ctx.executor.start()
    if ctx.webhooks is not None:
        await ctx.webhooks.start(ctx.executor)


async def stop_executor(app: App) -> None:
    """Close every stream with a final frame and release the store; jobs keep running."""
    if app.ctx.webhooks is not None:
        await app.ctx.webhooks.stop()
    if app.ctx.executor is not None:
        await app.ctx.executor.stop()
