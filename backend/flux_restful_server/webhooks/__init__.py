"""Webhooks: signed, retried, durable notifications of job events (issue 13, docs/webhooks.md).

```
config     FLUX_WEBHOOK_* settings          policy     URL rules, allowlist on resolved addresses
signing    Standard Webhooks headers        events     which job events, the delivery body
records    Hook, Delivery, Attempt          store      their tables: subscriptions, outbox, log
registry   subscriptions in memory          outbox     the deliveries a batch of events makes
dispatch   sending, retries, pausing        delivery   one attempt within every limit (httpx)
service    wiring: in (outbox), out (lock)  subscribe  request bodies -> subscriptions
views      the /v1/webhooks blueprint
```

Only :func:`setup_webhooks` is imported by the app factory; ``config`` is imported by the
settings, so this module imports nothing else at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..http import App

__all__ = ["setup_webhooks"]


def setup_webhooks(app: App) -> None:
    """Mount ``/v1/webhooks`` and create the service the executor's listeners start and stop."""
    from .metrics import WebhookCollector
    from .service import WebhookService
    from .views import webhooks_bp

    settings = app.ctx.settings
    service = WebhookService(settings.webhooks, settings.db_path)
    app.ctx.webhooks = service
    if app.ctx.metrics is not None:
        app.ctx.metrics.registry.register(WebhookCollector(service))
    app.blueprint(webhooks_bp)
