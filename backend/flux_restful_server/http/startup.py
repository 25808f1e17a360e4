"""Start-up fixes: sanic-ext's routes and OpenAPI models built once; where the server answers."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from sanic_ext.config import PRIORITY
from sanic_ext.extensions.openapi import types as openapi_types

from .context import App

log = logging.getLogger("flux_restful")


def add_automatic_routes_at_once(app: App) -> None:
    """Let sanic-ext add its HEAD and OPTIONS routes without re-finalizing Sanic per route.

    sanic-ext adds a HEAD route for every GET and an OPTIONS route for every path in a
    ``before_server_start`` listener, when the app already counts as started: each route then
    goes through ``Sanic.amend``, which rebuilds the signal router (generated code) for every
    one. That was 1.5 s of a 3.3 s start (py-spy), in every server and every spawned worker.
    Around sanic-ext's listener the app counts as not started, so the routes are just added;
    sanic-ext finalizes the router itself once it is done, and the signal router never changed.
    """

    @app.listener("before_server_start", priority=PRIORITY + 1)
    def _before(app: App) -> None:
        app.state.is_started = False

    @app.listener("before_server_start", priority=PRIORITY - 1)
    def _after(app: App) -> None:
        app.state.is_started = True


def inspect_openapi_models_once() -> None:
    """Make sanic-ext inspect an OpenAPI model object once, not once per keyword it was given.

    Every ``openapi.parameter``/``response``/``body`` of the views builds model objects, and
    sanic-ext's ``Definition.guard`` recomputed ``_properties(self)`` (``getmembers`` and
    ``get_type_hints``) inside its comprehension, for each keyword: 1,307 inspections for our
    routes, 0.45 s of every start. The replacement is the same filter with the inspection done
    once (nothing it reads changes in between). A sanic-ext whose ``guard`` reads differently is
    left as it is.
    """
    definition: Any = openapi_types.Definition
    if getattr(definition.guard, "inspects_once", False):
        return
    if "_properties(self).keys()" not in inspect.getsource(definition.guard):
        return

    def guard(self: object, fields: dict[str, Any]) -> dict[str, Any]:
        known = openapi_types._properties(self)
        return {k: v for k, v in fields.items() if k in known or k.startswith("x-")}

    guard.inspects_once = True  # type: ignore[attr-defined]
    guard.replaces = definition.guard  # type: ignore[attr-defined]
    definition.guard = guard


def say_where_it_serves(app: App) -> None:
    """Log the address each server process answers on, once its port is open.

    Sanic's banner (``motd``) is off, and nothing else said where to point a browser or a client.
    """

    @app.after_server_start
    def _serving(app: App) -> None:
        where = app.serve_location
        log.info("serving on %s (web UI at /, API docs at /docs); Ctrl-C stops it", where)
