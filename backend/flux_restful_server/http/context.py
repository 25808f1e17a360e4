"""The typed application, its context and requests: what every handler is given."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from sanic import Request, Sanic
from sanic.config import Config

from ..executors.hub import Hub
from ..jobs.cache import ResponseCache
from ..jobs.idempotency import KeyLocks
from ..settings import Settings

if TYPE_CHECKING:
    from ..audit import AuditLog
    from ..auth.service import AuthService
    from ..executors.base import Executor
    from ..metrics import Metrics
    from ..webhooks.service import WebhookService

__all__ = ["App", "AppContext", "AppRequest"]


@dataclass
class AppContext:
    """What every handler can reach through ``request.app.ctx``."""

    settings: Settings
    """The server's settings."""
    hub: Hub = field(default_factory=Hub)
    """Fans job log entries and events out to streams."""
    executor: Executor | None = None
    """Runs the jobs; set when the server starts."""
    auth: AuthService | None = None
    """Users, passwords and tokens; set by ``setup_auth``."""
    cache: ResponseCache = field(default_factory=ResponseCache)
    """Encoded responses of finished jobs and unchanged listings."""
    metrics: Metrics | None = None
    """This app's Prometheus registry and counters; set by ``ops.setup_ops``."""
    audit: AuditLog | None = None
    """Where audited actions are recorded, when ``settings.audit_log`` is set."""
    access_log: AuditLog | None = None
    """Where every request is logged (JSON lines), when ``settings.access_log`` is set."""
    webhooks: WebhookService | None = None
    """Webhook subscriptions and deliveries; set by ``setup_webhooks``."""
    submit_keys: KeyLocks = field(default_factory=KeyLocks)
    """One submit at a time per idempotency key (a retry waits for its first attempt)."""

    @property
    def jobs(self) -> Executor:
        """The executor, which exists whenever a request is being served."""
        assert self.executor is not None
        return self.executor


class App(Sanic[Config, AppContext]):
    """The server's Sanic application: Sanic's, with a stop that is kept until the server runs."""

    __slots__ = ()

    def stop(self, terminate: bool = True, unregister: bool = False) -> None:
        """Stop the server, now if it serves, else as soon as it does.

        Sanic stops on SIGTERM and SIGINT by calling this, which stops the event loop. Before
        it runs the loop for serving (``run_forever``) it runs its start-up steps with
        ``run_until_complete``, and the port already answers during them: a stop then ended
        that step, not the server, which served on until it was killed. Whoever starts the
        server, waits for it to answer and stops it at once (systemd, a script, a test) hit
        that every time.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if getattr(self.state, "is_running", True) or loop is None:  # a Sanic without it: as before
            super().stop(terminate, unregister)
            return
        task = loop.create_task(self._stop_once_running(terminate, unregister))
        _STOPPING.add(task)
        task.add_done_callback(_STOPPING.discard)

    async def _stop_once_running(self, terminate: bool, unregister: bool) -> None:
        while not self.state.is_running:  # Sanic sets it just before it runs the loop to serve
            await asyncio.sleep(0.01)
        super().stop(terminate, unregister)


_STOPPING: set[asyncio.Task[None]] = set()
"""Stops waiting for the server to run (the loop keeps only weak references to tasks)."""

AppRequest: TypeAlias = Request[App, Any]
