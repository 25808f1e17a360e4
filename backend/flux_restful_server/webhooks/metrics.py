"""Webhook deliveries in ``/metrics``: attempts by outcome, and what is pending, when scraped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .service import WebhookService

__all__ = ["WebhookCollector"]


class WebhookCollector(Collector):
    """Reads the service's counters and the store's pending count at scrape time."""

    def __init__(self, service: WebhookService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "flux_restful_webhook_attempts",
            "Webhook delivery attempts since start, by outcome: delivered (2xx), retried "
            "(no answer, 408, 429, 5xx), failed (given up).",
            labels=["outcome"],
        )
        for outcome in ("delivered", "retried", "failed"):
            attempts.add_metric([outcome], self.service.counts[outcome])
        yield attempts
        yield CounterMetricFamily(
            "flux_restful_webhook_deliveries_queued",
            "Webhook deliveries recorded since start (one per event and subscription).",
            value=self.service.counts["queued"],
        )
        store = self.service.store
        pending = GaugeMetricFamily(
            "flux_restful_webhook_deliveries_pending",
            "Webhook deliveries waiting for an attempt (read when scraped).",
        )
        pending.add_metric([], store.pending_count() if store is not None else 0)
        yield pending
        yield GaugeMetricFamily(
            "flux_restful_webhook_subscriptions",
            "Webhook subscriptions, paused or not.",
            value=len(self.service.hooks),
        )
