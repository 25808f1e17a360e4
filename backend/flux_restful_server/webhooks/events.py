"""Which job events a webhook reports, and the JSON body each delivery carries.

Four job events are delivered: ``job.submitted`` (Flux ``submit``), ``job.started`` (``start``:
the tasks run), ``job.exception`` (``exception``) and ``job.finished`` (``clean``: the job is
inactive and its result known). A subscription names what it wants: those four by their short
names, a result (``completed``, ``failed``, ``canceled``, ``timeout``: ``job.finished`` with that
result), or ``all``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from ..domain.events import JobEvent
from ..domain.ids import f58
from ..domain.record import JobRecord
from ..domain.states import JobResult, JobState
from ..jobs.info import returncode

__all__ = ["EVENT_NAMES", "TYPES", "describe", "event_key", "matches", "parse_events", "payload"]

TYPES: dict[str, str] = {
    "submit": "submitted",
    "start": "started",
    "exception": "exception",
    "clean": "finished",
}
"""Flux eventlog event -> webhook event (delivered as ``job.<name>``)."""

RESULTS = tuple(r.name.lower() for r in JobResult)
EVENT_NAMES = ("all", *TYPES.values(), *RESULTS)
"""Every name a subscription's ``events`` may hold."""


class UnknownEvent(ValueError):
    """A subscription named an event that does not exist."""


def parse_events(value: object) -> frozenset[str]:
    """Validate a subscription's ``events``: a non-empty list of :data:`EVENT_NAMES`.

    Raises:
        UnknownEvent: With the names that are not events, or when the list is malformed.
    """
    if value is None:
        return frozenset({"all"})
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not value or len(value) > len(EVENT_NAMES):
        raise UnknownEvent(f"events must be a non-empty list of: {', '.join(EVENT_NAMES)}")
    names = []
    for item in value:
        if not isinstance(item, str):
            raise UnknownEvent(f"events must be strings, one of: {', '.join(EVENT_NAMES)}")
        names.append(item.strip().lower().removeprefix("job."))
    unknown = sorted({name for name in names if name not in EVENT_NAMES})
    if unknown:
        raise UnknownEvent(
            f"unknown event(s) {', '.join(map(repr, unknown))}: use {', '.join(EVENT_NAMES)}"
        )
    return frozenset(names)


def matches(events: Iterable[str], kind: str, result: str | None) -> bool:
    """Whether a subscription to ``events`` wants a ``kind`` event (with ``result``)."""
    wanted = set(events)
    if "all" in wanted or kind in wanted:
        return True
    return kind == "finished" and result is not None and result.lower() in wanted


ONCE = {"submit": 1, "start": 2, "clean": 3}
"""Events a job has once, and their keys."""


def event_key(event: JobEvent) -> int:
    """What makes an event one delivery per subscription, however it was read.

    An event read from the live feed and again from the job's eventlog (a per-submit
    subscription catching up) may carry different positions on Flux, so the key is not the
    position: events a job has once are keyed by name, exceptions by their time in microseconds.
    """
    return ONCE.get(event.name) or int(round(event.timestamp * 1_000_000))


def describe(event: JobEvent, record: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """``(kind, result)`` of a job event that webhooks report, else ``None``."""
    kind = TYPES.get(event.name)
    if kind is None:
        return None
    result = None
    if kind == "finished" and record.get("result"):
        result = JobResult(record["result"]).name
    return kind, result


def _iso(t: float | None) -> str | None:
    if not t:
        return None
    return datetime.fromtimestamp(t, tz=UTC).isoformat().replace("+00:00", "Z")


def payload(event: JobEvent, record: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The body of one delivery (no environment, no secret: what ``GET /v1/jobs/{id}`` shows)."""
    if kind == "finished":
        state = JobState.INACTIVE
    elif kind == "started":
        state = JobState.RUN
    elif kind == "submitted":
        state = JobState(event.state or JobState.NEW)
    else:
        state = JobState(record["state"])
    result = record.get("result") if kind == "finished" else None
    code = (
        returncode(cast(JobRecord, {**record, "state": int(state)})) if kind == "finished" else None
    )
    data: dict[str, Any] = {
        "id": event.job_id,
        "f58": f58(event.job_id),
        "event": event.name,
        "state": state.name,
        "result": JobResult(result).name if result else None,
        "returncode": code,
        "user": record.get("user"),
        "name": record.get("name"),
        "t_event": event.timestamp,
        "t_submit": record.get("t_submit"),
        "t_run": record.get("t_run"),
        "t_inactive": record.get("t_inactive") if kind == "finished" else None,
    }
    if kind == "exception":
        data["exception"] = {
            "type": str(event.context.get("type", "")),
            "severity": event.context.get("severity"),
            "note": str(event.context.get("note", "")),
        }
    return {"type": f"job.{kind}", "timestamp": _iso(event.timestamp), "data": data}
