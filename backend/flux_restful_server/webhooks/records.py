"""What a webhook is: a subscription (:class:`Hook`), its deliveries and their attempts.

Plain records, with what the API shows of each; ``store`` keeps them in SQLite.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "DELIVERED",
    "FAILED",
    "PENDING",
    "Attempt",
    "Delivery",
    "Hook",
    "new_hook_id",
    "updated",
]

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
"""Delivery statuses: waiting for (another) attempt; answered 2xx; given up."""


def new_hook_id() -> str:
    """A fresh subscription id (``wh_`` and 16 hex digits)."""
    return "wh_" + secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Hook:
    """A subscription."""

    id: str
    """``wh_...``."""
    owner: str | None
    """The API user who made it (``None`` when auth is off)."""
    sees_all: bool
    """Its owner sees every job (a superuser, or auth off): events of all jobs may match."""
    url: str
    """Where deliveries go."""
    events: frozenset[str]
    """What it wants (``events.EVENT_NAMES``)."""
    job_name: str | None
    """Only jobs whose name contains this (case-insensitive)."""
    job_ids: frozenset[int] | None
    """Only these jobs."""
    description: str
    """Free text for people."""
    secret: str
    """Current signing secret."""
    old_secret: str | None
    """The secret before the last rotation, still signing until ``old_secret_until``."""
    old_secret_until: float | None
    """When the old secret stops signing."""
    paused: bool
    """Deliveries wait while paused."""
    pause_reason: str | None
    """Why it was paused (by its owner, or after failing for too long)."""
    failing_since: float | None
    """When its deliveries started failing (``None`` while they succeed)."""
    per_job: bool
    """Made by ``webhook_url`` on a submit, for that one job."""
    created: float
    """When it was made."""
    updated: float
    """When it last changed."""

    def signing_secrets(self, now: float) -> list[str]:
        """The secrets that sign a delivery now (the old one too during its grace period)."""
        if self.old_secret and self.old_secret_until and now < self.old_secret_until:
            return [self.secret, self.old_secret]
        return [self.secret]

    def wants_job(self, record: Mapping[str, Any]) -> bool:
        """Whether this subscription may and wants to hear about the job of ``record``."""
        if not self.sees_all and record.get("user") != self.owner:
            return False
        if self.job_ids is not None and record.get("id") not in self.job_ids:
            return False
        if self.job_name:
            return self.job_name.lower() in str(record.get("name") or "").lower()
        return True

    def public(self) -> dict[str, Any]:
        """What the API shows (never the secret)."""
        return {
            "id": self.id,
            "url": self.url,
            "events": sorted(self.events),
            "job_name": self.job_name,
            "job_ids": sorted(self.job_ids) if self.job_ids is not None else None,
            "description": self.description,
            "user": self.owner,
            "paused": self.paused,
            "pause_reason": self.pause_reason,
            "failing_since": self.failing_since,
            "per_job": self.per_job,
            "old_secret_expires": self.old_secret_until
            if self.old_secret and self.old_secret_until and self.old_secret_until > time.time()
            else None,
            "created": self.created,
            "updated": self.updated,
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a delivery."""

    n: int
    t: float
    status: int | None
    error: str | None
    latency: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one subscription, and where its delivery stands."""

    id: int
    hook_id: str
    job_id: int
    job_seq: int
    feed_seq: int
    type: str
    msg_id: str
    status: str
    attempts: int
    created: float
    next_at: float | None
    last_at: float | None
    last_status: int | None
    last_error: str | None
    last_latency: float | None
    done_at: float | None

    def public(self, attempts: list[Attempt] | None = None) -> dict[str, Any]:
        """What the delivery log shows."""
        body: dict[str, Any] = {
            "id": self.id,
            "webhook": self.hook_id,
            "job_id": self.job_id,
            "type": self.type,
            "msg_id": self.msg_id,
            "status": self.status,
            "attempts": self.attempts,
            "created": self.created,
            "next_attempt": self.next_at if self.status == PENDING else None,
            "last_attempt": self.last_at,
            "last_status_code": self.last_status,
            "last_error": self.last_error,
            "last_latency": self.last_latency,
            "done": self.done_at,
        }
        if attempts is not None:
            body["log"] = [
                {"n": a.n, "t": a.t, "status_code": a.status, "error": a.error,
                 "latency": a.latency}
                for a in attempts
            ]  # fmt: skip
        return body


def updated(hook: Hook, **changes: Any) -> Hook:
    """A copy of ``hook`` with ``changes`` and a fresh ``updated`` time."""
    return replace(hook, updated=time.time(), **changes)
