"""Prometheus metrics of one app, in a registry of its own (tests start many apps per process).

Counted in request middleware (requests, latency, submits) and read at scrape time from the
executor (jobs by state) and the stream hub (followers, lagged cut-offs). See docs/operations.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .domain.query import JobFilter
from .domain.states import JobState

if TYPE_CHECKING:
    from sanic import HTTPResponse, Request

    from .executors.base import Executor
    from .executors.hub import Hub

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; most API answers take milliseconds, a long listing or output read up to seconds."""
SUBMIT_ROUTES = frozenset({"/v1/jobs/submit", "/v1/jobs/batch", "/v1/jobs/jobspec"})
_PARAM_TYPE = re.compile(r"<(\w+):[^>]*>")


@lru_cache(maxsize=256)
def _template(path: str) -> str:
    """``v1/jobs/<job_id:str>`` as ``/v1/jobs/<job_id>``."""
    return "/" + _PARAM_TYPE.sub(r"<\1>", path.lstrip("/"))


class _HubCollector(Collector):
    """Open streams and cut-offs, read from the hub when scraped."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        followers = GaugeMetricFamily(
            "flux_restful_stream_followers",
            "Open streams: followers of one job's log, and of the server-wide event feed.",
            labels=["kind"],
        )
        followers.add_metric(["job"], self.hub.job_followers)
        followers.add_metric(["feed"], self.hub.feed_followers)
        yield followers
        yield CounterMetricFamily(
            "flux_restful_stream_lagged",
            "Stream followers cut off for falling FLUX_STREAM_BUFFER entries behind.",
            value=self.hub.lagged,
        )


class Metrics:
    """The metrics of one app and the middleware that counts them."""

    def __init__(self, hub: Hub) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        """This app's registry (never the process-global default one)."""
        self.requests = Counter(
            "flux_restful_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "flux_restful_request_duration_seconds",
            "Seconds from a request's arrival to its answer (streams: to their first byte).",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.submits = Counter(
            "flux_restful_submits",
            "Job submits by outcome: accepted, refused (4xx), unavailable (5xx).",
            ["outcome"],
            registry=self.registry,
        )
        self.websockets = Counter(
            "flux_restful_websocket_handshakes",
            "Websocket upgrades by route and outcome: accepted, or refused after the upgrade "
            "(first-frame auth, not found, over the stream cap).",
            ["route", "outcome"],
            registry=self.registry,
        )
        self.jobs = Gauge(
            "flux_restful_jobs",
            "Jobs the executor knows, by state (read when scraped).",
            ["state"],
            registry=self.registry,
        )
        self.registry.register(_HubCollector(hub))

    @staticmethod
    def route(request: Request[Any, Any]) -> str:
        """The route template (``/v1/jobs/<job_id>``), never the raw path: labels stay few."""
        route = request.route
        return _template(route.path) if route is not None else "unmatched"

    def started(self, request: Request[Any, Any]) -> None:
        """Note when the request arrived (request middleware)."""
        request.ctx.metrics_started = time.perf_counter()

    def elapsed(self, request: Request[Any, Any]) -> float | None:
        """Seconds since the request arrived (``None`` if its arrival was not seen)."""
        started = getattr(request.ctx, "metrics_started", None)
        return None if started is None else time.perf_counter() - started

    def websocket_opened(self, request: Request[Any, Any], outcome: str) -> None:
        """Count a websocket handshake (``accepted`` or ``refused``)."""
        self.websockets.labels(self.route(request), outcome).inc()

    def answered(self, request: Request[Any, Any], response: HTTPResponse) -> None:
        """Count the answer (response middleware)."""
        route = self.route(request)
        status = response.status
        self.requests.labels(route, request.method, str(status)).inc()
        started = getattr(request.ctx, "metrics_started", None)
        if started is not None:
            self.latency.labels(route, request.method).observe(time.perf_counter() - started)
        if route in SUBMIT_ROUTES and request.method == "POST":
            outcome = "accepted" if status < 400 else "refused" if status < 500 else "unavailable"
            self.submits.labels(outcome).inc()

    async def render(self, executor: Executor) -> bytes:
        """The text exposition, with the job counts read now."""
        for state in JobState:
            count = await executor.count(JobFilter(states=frozenset({state})))
            self.jobs.labels(state.name).set(count)
        return generate_latest(self.registry)
