"""The typed application, its context and requests: what every handler is given."""

from __future__ import annotations

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


App: TypeAlias = Sanic[Config, AppContext]
AppRequest: TypeAlias = Request[App, Any]
