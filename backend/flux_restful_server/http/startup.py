"""Start-up fixes: sanic-ext's routes and OpenAPI models built faster; early stop signals."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from functools import partial
from typing import Any

from sanic.log import logger as sanic_log
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


def stop_on_signals_from_the_first_answer(app: App) -> None:
    """Stop gracefully on SIGTERM, SIGINT and a hangup, from the moment the port answers.

    Sanic installs its handlers after it starts serving; a signal in between met the default
    action: SIGTERM killed the server uncleanly (status -15, nothing shut down), SIGINT raised
    a KeyboardInterrupt traceback. This installs the same handler (``app.stop``, which keeps a
    stop asked during start-up until the server runs) before serving starts; Sanic's own
    replaces it after. Sanic leaves SIGHUP alone, so closing the server's terminal killed it
    uncleanly: it now stops as on SIGTERM, unless SIGHUP was ignored when it started
    (``nohup``), which keeps it serving. With ``--workers N`` the process manager gets the same
    three signals, through :func:`_stop_the_manager_from_its_loop`.
    """
    signals = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signals.append(signal.SIGHUP)

    @app.listener("before_server_start", priority=_LAST)
    def _install(app: App) -> None:
        loop = asyncio.get_running_loop()
        for signum in signals:
            loop.add_signal_handler(signum, partial(app.stop, terminate=False))

    @app.listener("main_process_ready")
    def _install_in_the_manager(app: App) -> None:  # only with several workers
        _stop_the_manager_from_its_loop(app.manager, signals)


def say_where_it_serves(app: App) -> None:
    """Log the address each server process answers on, once its port is open.

    Sanic's banner (``motd``) is off, and nothing else said where to point a browser or a client.
    """

    @app.after_server_start
    def _serving(app: App) -> None:
        where = app.serve_location
        log.info("serving on %s (web UI at /, API docs at /docs); Ctrl-C stops it", where)


def _stop_the_manager_from_its_loop(manager: Any, signals: list[signal.Signals]) -> None:
    """Have ``--workers N``'s process manager stop from its monitor loop, not in the handler.

    Sanic's manager shuts down inside its signal handler, which writes the shared worker state
    through a ``multiprocessing`` proxy; a signal that lands while the manager's loop is itself
    inside a proxy call (it polls the workers' acknowledgements as they come up) interleaves two
    calls on one connection, and the manager waited forever for an answer, its workers already
    gone (seen with SIGTERM a moment after "Worker ready"). Here the handler only posts
    Sanic's own ``__TERMINATE__`` message to the manager's monitor pipe, and the loop shuts
    down when it reads it; a second signal kills the workers at once, as Sanic's does. SIGHUP,
    which Sanic's manager does not handle (a hangup killed it and left its workers serving), is
    handled the same way. A Sanic whose manager lacks these pieces keeps its own handlers.
    """
    if not all(hasattr(manager, n) for n in ("monitor_publisher", "_handle_terminate", "kill")):
        return
    asked: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        if asked:
            manager.kill()  # raises ServerKilled out of serve(), as Sanic's second signal does
        asked.append(signum)
        sanic_log.info("Received signal %s. Shutting down.", signal.Signals(signum).name)
        manager.monitor_publisher.send("__TERMINATE__")

    for signum in signals:
        signal.signal(signum, stop)


_LAST = -1_000_000
"""A listener priority after every other listener's of the same event."""
