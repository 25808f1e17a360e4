"""Webhook subscriptions, their secrets and their delivery logs (docs/webhooks.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._convert import opt_float, opt_int

__all__ = ["Webhook", "WebhookAttempt", "WebhookDelivery", "WebhookSecret"]


@dataclass(frozen=True)
class Webhook:
    """A webhook subscription (``/v1/webhooks``); its secret is never shown again."""

    id: str
    """``wh_...``."""
    url: str
    """Where deliveries go."""
    events: tuple[str, ...]
    """Events it wants (``all``, ``finished``, ``failed``, ...)."""
    paused: bool = False
    """Deliveries wait while paused."""
    pause_reason: str | None = None
    """Why it is paused."""
    job_name: str | None = None
    """Only jobs whose name contains this."""
    job_ids: tuple[int, ...] | None = None
    """Only these jobs."""
    description: str = ""
    """Free text."""
    user: str | None = None
    """Its owner."""
    per_job: bool = False
    """Made by ``webhook_url`` on a submit."""
    failing_since: float | None = None
    """When its deliveries started failing, while they do."""
    old_secret_expires: float | None = None
    """Until when the secret before the last rotation still signs."""
    created: float | None = None
    """When it was made (epoch seconds)."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON it was built from."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Webhook:
        """Build from the API's JSON."""
        ids = data.get("job_ids")
        return cls(
            id=str(data["id"]),
            url=str(data["url"]),
            events=tuple(str(e) for e in data.get("events") or ()),
            paused=bool(data.get("paused")),
            pause_reason=data.get("pause_reason"),
            job_name=data.get("job_name"),
            job_ids=tuple(int(i) for i in ids) if isinstance(ids, list) else None,
            description=str(data.get("description") or ""),
            user=data.get("user"),
            per_job=bool(data.get("per_job")),
            failing_since=opt_float(data.get("failing_since")),
            old_secret_expires=opt_float(data.get("old_secret_expires")),
            created=opt_float(data.get("created")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class WebhookSecret:
    """A subscription with its signing secret: the answer of ``add`` and ``rotate`` only."""

    webhook: Webhook
    """The subscription."""
    secret: str
    """``whsec_...``: keep it, to verify deliveries (:func:`verify_webhook`)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookSecret:
        """Build from the API's JSON."""
        return cls(Webhook.from_json(data["webhook"]), str(data["secret"]))


@dataclass(frozen=True)
class WebhookAttempt:
    """One try at a delivery."""

    n: int
    """1 for the first attempt."""
    t: float
    """When it ended (epoch seconds)."""
    status_code: int | None
    """The receiver's answer (``None``: none)."""
    error: str | None
    """What went wrong."""
    latency: float
    """Seconds it took."""


@dataclass(frozen=True)
class WebhookDelivery:
    """One job event for one subscription, and where its delivery stands."""

    id: int
    """The delivery's id (for ``redeliver``)."""
    webhook: str
    """The subscription."""
    job_id: int
    """The job."""
    type: str
    """``job.submitted``, ``job.started``, ``job.exception`` or ``job.finished``."""
    status: str
    """``pending``, ``delivered`` or ``failed`` (given up)."""
    attempts: int
    """Attempts so far."""
    msg_id: str = ""
    """The ``webhook-id`` header (the same on every attempt)."""
    last_status_code: int | None = None
    """The last attempt's status code."""
    last_error: str | None = None
    """The last attempt's error."""
    last_latency: float | None = None
    """Seconds the last attempt took."""
    next_attempt: float | None = None
    """When the next attempt is due (pending deliveries)."""
    created: float | None = None
    """When the event was recorded."""
    log: tuple[WebhookAttempt, ...] = ()
    """Every attempt, oldest first (in a subscription's delivery log)."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON it was built from."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookDelivery:
        """Build from the API's JSON."""
        return cls(
            id=int(data["id"]),
            webhook=str(data["webhook"]),
            job_id=int(data["job_id"]),
            type=str(data["type"]),
            status=str(data["status"]),
            attempts=int(data.get("attempts") or 0),
            msg_id=str(data.get("msg_id") or ""),
            last_status_code=opt_int(data.get("last_status_code")),
            last_error=data.get("last_error"),
            last_latency=opt_float(data.get("last_latency")),
            next_attempt=opt_float(data.get("next_attempt")),
            created=opt_float(data.get("created")),
            log=tuple(
                WebhookAttempt(
                    int(a["n"]),
                    float(a["t"]),
                    opt_int(a.get("status_code")),
                    a.get("error"),
                    float(a.get("latency") or 0),
                )
                for a in data.get("log") or ()
            ),
            raw=dict(data),
        )
