"""Shape an executor's job-list record into the job info clients read (upstream's placeholders)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from ..domain.record import HELD, JobRecord
from ..domain.request import dependency_text
from ..domain.states import JobResult, JobState

PLACEHOLDER_KEYS = (
    "nnodes",
    "priority",
    "waitstatus",
    "nodelist",
    "ranks",
    "expiration",
    "duration",
    "t_depend",
    "t_run",
    "t_cleanup",
    "t_inactive",
)
"""Keys that upstream reports as ``""`` when Flux has no value yet."""


def returncode(info: JobRecord) -> int | str:
    """Upstream's ``returncode``: exit code, ``-signal``, ``-128`` if cancelled before running."""
    if info["state"] != JobState.INACTIVE:
        return ""
    status = info.get("waitstatus")
    if status is None:
        if info.get("exception_type") == "cancel" and info.get("t_run") is None:
            return -128
        return 1
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def runtime(info: JobRecord, now: float | None = None) -> float:
    """Seconds the job has run: until cleanup when finished, until now while running."""
    t_run = info.get("t_run")
    if not t_run:
        return 0.0
    end = info.get("t_cleanup") or (now if now is not None else time.time())
    return round(max(0.0, float(end) - float(t_run)), 6)


def pending_reason(record: JobRecord) -> str:
    """Why a job is not running, in plain words; ``""`` when it runs or ran.

    Executors set ``pending_reason`` on the records of waiting jobs (``waiting for 4 cores (2 free
    of 8)``, ``held (urgency 0)``, ``waiting on afterok:ƒ2zq...``); a job ended by a dependency
    that can never be met says so (``can never run: ...``).
    """
    reason = record.get("pending_reason")
    if isinstance(reason, str) and reason:
        return reason
    if (
        record.get("state") == JobState.INACTIVE
        and record.get("exception_type") == "dependency"
        and record.get("t_run") is None
    ):
        return f"can never run: {record.get('exception_note') or 'a dependency failed'}"
    return ""


def event_reason(name: str, context: Mapping[str, Any]) -> str | None:
    """The pending reason an eventlog event gives its job, for the event feed; ``None`` if none.

    ``dependency-add`` says what the job waits on, a ``priority`` or ``urgency`` of 0 that it is
    held, a ``dependency`` exception that it can never run, an ``annotations`` event with
    ``sched.reason_pending`` why the scheduler has not started it.
    """
    if name == "dependency-add" and isinstance(context.get("description"), str):
        return f"waiting on {dependency_text(context['description'])}"
    if (name == "priority" and context.get("priority") == 0) or (
        name == "urgency" and context.get("urgency") == 0
    ):
        return HELD
    if name == "exception" and context.get("type") == "dependency":
        return f"can never run: {context.get('note') or 'a dependency failed'}"
    if name == "annotations":  # a scheduler (Flux's, when it sets one, or ours) says why
        annotations = context.get("annotations")
        sched = annotations.get("sched") if isinstance(annotations, dict) else None
        reason = sched.get("reason_pending") if isinstance(sched, dict) else None
        if isinstance(reason, str) and reason:
            return reason
    return None


def job_info(record: JobRecord, now: float | None = None) -> dict[str, Any]:
    """Return the full job info of API.md for one job-list record."""
    info: dict[str, Any] = dict(record)
    state = JobState(info["state"])
    info["state"] = state.name
    result = info.get("result")
    info["result"] = JobResult(result).name if result else ""
    info["returncode"] = returncode(record)
    info["runtime"] = runtime(record, now)
    info["pending_reason"] = pending_reason(record)
    info.setdefault("queue", "")
    info.setdefault("annotations", {})
    occurred = info.get("exception_occurred")
    if state is JobState.INACTIVE or occurred:
        occurred = bool(occurred)
        info["exception_occurred"] = occurred
        info["success"] = bool(info.get("success"))
        info["exception"] = {
            "occurred": occurred,
            "severity": info.get("exception_severity") if occurred else "",
            "type": info.get("exception_type") or "",
            "note": info.get("exception_note") or "",
        }
    else:
        for key in (
            "exception_occurred",
            "exception_severity",
            "exception_type",
            "exception_note",
            "success",
        ):
            info[key] = ""
        info["exception"] = {"occurred": "", "severity": "", "type": "", "note": ""}
    for key in PLACEHOLDER_KEYS:
        if info.get(key) is None:
            info[key] = ""
    for key in ("exception_severity", "exception_type", "exception_note"):
        if info.get(key) is None:
            info[key] = ""
    return info


STATE_NAMES = {int(s): s.name for s in JobState}
RESULT_NAMES = {int(r): r.name for r in JobResult}


def job_summary(record: JobRecord) -> dict[str, Any]:
    """The short record of ``GET /v1/jobs``: id, state, result, name, submit time, user."""
    return {
        "id": record["id"],
        "state": STATE_NAMES[record["state"]],
        "result": RESULT_NAMES.get(record.get("result") or 0, ""),
        "name": record["name"],
        "user": record.get("user"),
        "t_submit": record["t_submit"],
        "pending_reason": pending_reason(record),
    }
