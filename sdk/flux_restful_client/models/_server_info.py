"""The server and who the client is on it: what ``/v1/auth`` says, ``/v1/me``, personal tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._convert import opt_float

__all__ = ["FEATURES", "Identity", "OURS", "PersonalToken", "ServerInfo", "UPSTREAM"]


FEATURES: Mapping[str, str] = {
    "stream": "the job frame stream (/v1/jobs/{id}/stream)",
    "events": "the job event feed (/v1/events)",
    "job_events": "job eventlogs (/v1/jobs/{id}/events)",
    "labels": "labelled output (/v1/jobs/{id}/output?labels=true)",
    "job_filters": "server-side job filters (/v1/jobs?state=&name=&user=)",
    "node_detail": "node detail (/v1/nodes?detail=true)",
    "batch": "batched stream frames (batch=true on /v1/jobs/{id}/stream and /v1/events)",
    "webhooks": "webhook subscriptions (/v1/webhooks)",
    "job_control": "dependencies, hold, release, urgency, signals, bulk cancel (/v1/jobs/cancel)",
    "password_login": "password login (/v1/login/access-token)",
    "me": "who-am-I (/v1/me)",
    "tokens": "personal access tokens (/v1/tokens)",
    "refresh_tokens": "refresh tokens (grant_type=refresh_token)",
    "batch_submit": "batch submit (/v1/jobs/batch)",
    "idempotent_submit": "idempotent submit (the Idempotency-Key header)",
    "dry_run": "dry-run submits (dry_run=true)",
    "jobspec_submit": "jobspec submit (/v1/jobs/jobspec)",
}
"""Features a server may offer beyond upstream's routes, by name, with what they are."""


OURS = "flux-restful"
"""``ServerInfo.kind`` of this project's server."""


UPSTREAM = "upstream"
"""``ServerInfo.kind`` of upstream's ``flux-restful-api`` (1.1.0 and older)."""


@dataclass(frozen=True)
class ServerInfo:
    """What a server is and offers, learnt once per client from ``GET /v1/auth``.

    Our server describes itself there (a ``server`` object with name, version and features);
    upstream 1.1.0 answers the same route without it, and older upstream servers answer 404.
    """

    url: str
    """The API host the client talks to."""
    kind: str
    """``"flux-restful"`` (this project's server) or ``"upstream"``."""
    version: str | None = None
    """The server's version, when it says (ours does; upstream's ``/v1/auth`` does not)."""
    features: frozenset[str] = frozenset()
    """Names from :data:`FEATURES` the server offers."""
    auth: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The ``/v1/auth`` body (backend, password login, handshake), ``{}`` when there is none."""

    @property
    def is_upstream(self) -> bool:
        """Whether this is upstream's server (which lacks our streams and feed)."""
        return self.kind == UPSTREAM

    def supports(self, feature: str) -> bool:
        """Whether the server offers ``feature`` (a name from :data:`FEATURES`)."""
        return feature in self.features

    def __str__(self) -> str:
        """Name the server for messages: ``flux-restful 0.1.0 at http://h:5000``."""
        if self.kind == OURS:
            return f"flux-restful {self.version or '(unknown version)'} at {self.url}"
        era = "1.1.0 or compatible" if self.auth else "before 1.1.0"
        return f"upstream flux-restful-api ({era}) at {self.url}"


@dataclass(frozen=True)
class PersonalToken:
    """A personal access token as ``/v1/tokens`` lists it (``token`` only when just created)."""

    id: str
    """Public id: what ``revoke_token`` takes."""
    name: str
    """What its owner called it (``ci``)."""
    user: str
    """Its owner."""
    scopes: tuple[str, ...]
    """What it may do: ``read``, ``submit``, ``admin``."""
    created: float
    """Creation time (epoch seconds)."""
    expires: float
    """Expiry (epoch seconds)."""
    last_used: float | None = None
    """When it last authenticated a request (to the minute), if ever."""
    token: str | None = field(default=None, repr=False)
    """The secret, sent once by ``create_token``: store it now, it cannot be shown again."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PersonalToken:
        """Build from one item of ``GET /v1/tokens`` (or the ``POST`` answer)."""
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            user=str(data.get("user", "")),
            scopes=tuple(str(s) for s in data.get("scopes", ())),
            created=float(data.get("created", 0)),
            expires=float(data.get("expires", 0)),
            last_used=opt_float(data.get("last_used")),
            token=data.get("token") if isinstance(data.get("token"), str) else None,
            raw=dict(data),
        )


@dataclass(frozen=True)
class Identity:
    """Who the server takes the caller for (``GET /v1/me``)."""

    user: str | None
    """API user name; ``None`` when the server runs without auth."""
    superuser: bool
    """Sees and touches every job (the dashboard offers "mine/all" only then)."""
    scopes: tuple[str, ...]
    """What the credentials allow: ``read``, ``submit``, ``admin``."""
    auth: str
    """How this client authenticated: ``anonymous``, ``password``, ``access_token``,
    ``personal_token``."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Identity:
        """Build from ``GET /v1/me``."""
        user = data.get("user")
        return cls(
            user=str(user) if user is not None else None,
            superuser=bool(data.get("superuser", False)),
            scopes=tuple(str(s) for s in data.get("scopes", ())),
            auth=str(data.get("auth", "")),
            raw=dict(data),
        )
