"""Typed views of the API's JSON: job info, stream frames, events, nodes, the server.

Every model keeps the JSON it was built from in ``raw``, so nothing the server sends is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BatchEntry",
    "BatchResult",
    "DryRun",
    "CancelResult",
    "Event",
    "FEATURES",
    "Frame",
    "Identity",
    "JobInfo",
    "Node",
    "OutputLine",
    "PersonalToken",
    "ServerInfo",
    "SignalResult",
    "TERMINAL_STATE",
    "UrgencyChange",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSecret",
]

TERMINAL_STATE = "INACTIVE"
"""The Flux state a job ends in."""


def _opt_int(value: Any) -> int | None:
    """Return ``value`` as an int, or ``None`` for upstream's ``""`` placeholders."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _opt_str(value: Any) -> str | None:
    """Return ``value`` as text, or ``None`` for ``""`` and anything that is not text."""
    return value if isinstance(value, str) and value else None


def _opt_float(value: Any) -> float | None:
    """Return ``value`` as a float, or ``None`` for upstream's ``""`` placeholders."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class JobInfo:
    """A job as ``GET /v1/jobs/{id}`` describes it."""

    id: int
    """Job id (decimal)."""
    state: str
    """Flux state name: ``DEPEND`` ... ``RUN``, ``CLEANUP``, ``INACTIVE``."""
    result: str = ""
    """``COMPLETED``, ``FAILED``, ``CANCELED``, ``TIMEOUT``, or ``""`` while active."""
    returncode: int | None = None
    """Exit code once the job ended (negative for a signal), else ``None``."""
    name: str = ""
    """Job name (the command's first word unless given)."""
    user: str | None = None
    """API user who submitted the job, when the server records one."""
    runtime: float | None = None
    """Seconds the job has been running (or ran)."""
    t_submit: float | None = None
    """Submit time (epoch seconds)."""
    pending_reason: str | None = None
    """Why the job is not running yet, in plain words (``held (urgency 0)``, ``waiting for 4
    cores (2 free of 8)``, ``waiting on afterok:ƒ2zq...``), else ``None``."""
    urgency: int | None = None
    """The job's urgency (0 held, 16 default, 31 expedited), when the server reports it."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @property
    def is_held(self) -> bool:
        """Whether the job waits with urgency 0 (``hold_job``) until released."""
        return self.urgency == 0 and not self.is_done

    @property
    def is_done(self) -> bool:
        """Whether the job reached its final state."""
        return self.state == TERMINAL_STATE

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobInfo:
        """Build from the API's job-info object."""
        state = data.get("state", "")
        return cls(
            id=int(data["id"]),
            state=str(state) if state is not None else "",
            result=str(data.get("result") or ""),
            returncode=_opt_int(data.get("returncode")),
            name=str(data.get("name") or ""),
            user=data.get("user") if isinstance(data.get("user"), str) else None,
            runtime=_opt_float(data.get("runtime")),
            t_submit=_opt_float(data.get("t_submit")),
            pending_reason=_opt_str(data.get("pending_reason")),
            urgency=_opt_int(data.get("urgency")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class UrgencyChange:
    """The answer to ``hold_job``, ``release_job`` and ``set_urgency``."""

    id: int
    """The job."""
    urgency: int
    """Its urgency now."""
    old_urgency: int
    """Its urgency before (the same when nothing changed)."""
    message: str = ""
    """The server's words (``Job is held.``, ``Job is not held.``...)."""

    @property
    def changed(self) -> bool:
        """Whether the urgency changed."""
        return self.urgency != self.old_urgency

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UrgencyChange:
        """Build from the API's answer."""
        return cls(
            id=int(data["id"]),
            urgency=int(data["urgency"]),
            old_urgency=int(data["old_urgency"]),
            message=str(data.get("Message") or ""),
        )


@dataclass(frozen=True)
class SignalResult:
    """The answer to ``signal_job``."""

    id: int
    """The job."""
    signal: int
    """The signal's number."""
    name: str
    """The signal's name (``SIGUSR1``)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignalResult:
        """Build from the API's answer."""
        return cls(id=int(data["id"]), signal=int(data["signal"]), name=str(data["name"]))


@dataclass(frozen=True)
class CancelResult:
    """The answer to ``cancel_jobs``: which jobs were asked to cancel."""

    ids: tuple[int, ...]
    """The jobs asked to cancel (active jobs matching the filters that the caller may cancel)."""
    message: str = ""
    """The server's words (``3 jobs requested to cancel.``)."""

    @property
    def count(self) -> int:
        """How many jobs were asked to cancel."""
        return len(self.ids)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CancelResult:
        """Build from the API's answer."""
        return cls(
            ids=tuple(int(i) for i in data.get("ids", [])), message=str(data.get("Message") or "")
        )


@dataclass(frozen=True)
class Frame:
    """One frame of ``/v1/jobs/{id}/stream``.

    ``type`` is ``output``, ``state``, ``end``, ``ping`` or an eventlog event name
    (``exception``...). Fields that a frame type does not carry are ``None``.
    """

    type: str
    """Frame type."""
    seq: int | None = None
    """Per-job sequence number (``None`` for keepalive pings)."""
    stream: str | None = None
    """``stdout`` or ``stderr`` (output frames)."""
    rank: int | None = None
    """Task rank that wrote the output (output frames)."""
    data: str | None = None
    """Output text, usually one line with its newline (output frames)."""
    state: str | None = None
    """Job state (state and end frames)."""
    result: str | None = None
    """Job result (end frames)."""
    returncode: int | None = None
    """Exit code (end frames)."""
    t: float | None = None
    """Timestamp (epoch seconds)."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Frame:
        """Build from one decoded JSON frame."""
        state = data.get("state")
        result = data.get("result")
        return cls(
            type=str(data.get("type", "")),
            seq=_opt_int(data.get("seq")),
            stream=data.get("stream") if isinstance(data.get("stream"), str) else None,
            rank=_opt_int(data.get("rank")),
            data=data.get("data") if isinstance(data.get("data"), str) else None,
            state=str(state) if state is not None else None,
            result=str(result) if result is not None else None,
            returncode=_opt_int(data.get("returncode")),
            t=_opt_float(data.get("t")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class OutputLine:
    """One piece of a job's output, labelled with where it came from."""

    data: str
    """The text, usually one line including its newline."""
    stream: str = "stdout"
    """``stdout`` or ``stderr``."""
    rank: int = 0
    """Task rank that wrote it."""
    t: float | None = None
    """When it was written (epoch seconds), if known."""

    @classmethod
    def from_json(cls, item: Any) -> OutputLine:
        """Build from an entry of ``GET /v1/jobs/{id}/output?labels=true`` (or a bare string)."""
        if not isinstance(item, Mapping):
            return cls(data=str(item))
        return cls(
            data=str(item.get("data", "")),
            stream=str(item.get("stream") or "stdout"),
            rank=_opt_int(item.get("rank")) or 0,
            t=_opt_float(item.get("t")),
        )

    @classmethod
    def from_frame(cls, frame: Frame) -> OutputLine:
        """Build from an ``output`` frame."""
        return cls(
            data=frame.data or "", stream=frame.stream or "stdout", rank=frame.rank or 0, t=frame.t
        )


@dataclass(frozen=True)
class Event:
    """One entry of the ``/v1/events`` feed."""

    seq: int
    """Feed sequence number (pass it as ``since`` to resume after this event)."""
    id: int
    """Job id."""
    event: str
    """Eventlog event name (``submit``, ``start``, ``finish``, ``clean``...)."""
    state: str | None = None
    """Job state after the event."""
    t: float | None = None
    """Timestamp (epoch seconds)."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        """Build from one decoded JSON event."""
        state = data.get("state")
        return cls(
            seq=int(data.get("seq", 0)),
            id=int(data.get("id", 0)),
            event=str(data.get("event", "")),
            state=str(state) if state is not None else None,
            t=_opt_float(data.get("t")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Node:
    """A node that is up."""

    name: str
    """Host name."""
    cores: int | None = None
    """Cores on the node (``detail=true`` only)."""
    gpus: int | None = None
    """GPUs on the node (``detail=true`` only)."""
    free_cores: int | None = None
    """Cores not allocated to a job (``detail=true`` only)."""
    free_gpus: int | None = None
    """GPUs not allocated to a job (``detail=true`` only)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Node:
        """Build from a node name or a detailed node object."""
        if isinstance(data, str):
            return cls(name=data)
        return cls(
            name=str(data.get("name", "")),
            cores=_opt_int(data.get("cores")),
            gpus=_opt_int(data.get("gpus")),
            free_cores=_opt_int(data.get("cores_free", data.get("free_cores"))),
            free_gpus=_opt_int(data.get("gpus_free", data.get("free_gpus"))),
        )


@dataclass(frozen=True)
class JobEvent:
    """One entry of a job's eventlog (``GET /v1/jobs/{id}/events``)."""

    name: str
    """Event name (``submit``, ``alloc``, ``start``, ``finish``, ``clean``...)."""
    timestamp: float | None = None
    """When it happened (epoch seconds)."""
    context: Mapping[str, Any] = field(default_factory=dict)
    """The event's context object."""
    seq: int | None = None
    """Position in the eventlog."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobEvent:
        """Build from one eventlog entry."""
        context = data.get("context")
        return cls(
            name=str(data.get("name", data.get("event", ""))),
            timestamp=_opt_float(data.get("timestamp", data.get("t"))),
            context=dict(context) if isinstance(context, Mapping) else {},
            seq=_opt_int(data.get("seq")),
        )


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


@dataclass(frozen=True)
class BatchEntry:
    """The result of one entry of a batch submit (``submit_many``)."""

    index: int
    """Position of the entry in the batch, from 0."""
    id: int | None = None
    """The job's id when it was accepted."""
    status: int | None = None
    """The HTTP status the entry failed with (400), when it failed."""
    code: str | None = None
    """Machine code of the failure (``invalid_request``, ``refused``, ``unsatisfiable``)."""
    detail: str | None = None
    """Why it failed, for people."""
    errors: tuple[str, ...] = ()
    """Every problem found in the entry."""
    request: Mapping[str, Any] | None = None
    """In a dry run: the normalised request."""
    jobspec: Mapping[str, Any] | None = None
    """In a dry run on the flux executor: the jobspec it would submit."""

    @property
    def ok(self) -> bool:
        """Whether the entry was accepted (or, in a dry run, is valid)."""
        return self.status is None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchEntry:
        """Build from one item of the answer's ``results``."""
        errors = data.get("errors")
        return cls(
            index=int(data["index"]),
            id=_opt_int(data.get("id")),
            status=_opt_int(data.get("status")),
            code=data.get("code") if isinstance(data.get("code"), str) else None,
            detail=data.get("detail") if isinstance(data.get("detail"), str) else None,
            errors=tuple(str(e) for e in errors) if isinstance(errors, list) else (),
            request=data.get("request") if isinstance(data.get("request"), Mapping) else None,
            jobspec=data.get("jobspec") if isinstance(data.get("jobspec"), Mapping) else None,
        )


@dataclass(frozen=True)
class BatchResult:
    """The answer to a batch submit: one entry per job, in the order they were given."""

    entries: tuple[BatchEntry, ...]
    """Every entry's result, in order."""
    message: str = ""
    """The server's summary (``"Submitted 4 of 5 jobs."``)."""
    dry_run: bool = False
    """Whether nothing was submitted (a dry run)."""
    replayed: bool = False
    """Whether the server answered a retry of an earlier request with its ids."""

    @property
    def ids(self) -> list[int | None]:
        """The job ids in order, ``None`` for an entry that failed."""
        return [entry.id for entry in self.entries]

    @property
    def failed(self) -> list[BatchEntry]:
        """The entries that failed."""
        return [entry for entry in self.entries if not entry.ok]

    @property
    def ok(self) -> bool:
        """Whether every entry was accepted (or is valid, in a dry run)."""
        return not self.failed

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, replayed: bool = False) -> BatchResult:
        """Build from the answer of ``POST /v1/jobs/batch``."""
        return cls(
            entries=tuple(BatchEntry.from_json(item) for item in data["results"]),
            message=str(data.get("Message", "")),
            dry_run=bool(data.get("dry_run", False)),
            replayed=replayed,
        )


@dataclass(frozen=True)
class DryRun:
    """What a dry-run submit answers: the request as the server would run it."""

    request: Mapping[str, Any]
    """The normalised request (command as argv, counts, name, envars, queue...)."""
    jobspec: Mapping[str, Any] | None = None
    """The jobspec the flux executor would submit (``None`` on the local executor)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DryRun:
        """Build from a dry-run answer."""
        jobspec = data.get("jobspec")
        return cls(
            request=dict(data["request"]),
            jobspec=dict(jobspec) if isinstance(jobspec, Mapping) else None,
        )


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
            last_used=_opt_float(data.get("last_used")),
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
            failing_since=_opt_float(data.get("failing_since")),
            old_secret_expires=_opt_float(data.get("old_secret_expires")),
            created=_opt_float(data.get("created")),
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
            last_status_code=_opt_int(data.get("last_status_code")),
            last_error=data.get("last_error"),
            last_latency=_opt_float(data.get("last_latency")),
            next_attempt=_opt_float(data.get("next_attempt")),
            created=_opt_float(data.get("created")),
            log=tuple(
                WebhookAttempt(
                    int(a["n"]),
                    float(a["t"]),
                    _opt_int(a.get("status_code")),
                    a.get("error"),
                    float(a.get("latency") or 0),
                )
                for a in data.get("log") or ()
            ),
            raw=dict(data),
        )
