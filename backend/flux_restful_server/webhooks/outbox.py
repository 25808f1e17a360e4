"""What deliveries a batch of one job's events makes, for the subscriptions that may want it.

Pure: the service writes the rows inside the local executor's transaction, or with the flux
feed's cursor, so a committed event always has its deliveries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson

from ..domain.events import JobEvent
from .events import describe, event_key, matches, payload
from .records import Hook

if TYPE_CHECKING:
    from ..executors.base import Executor

__all__ = ["RecordFn", "Row", "flux_record", "rows_for"]

RecordFn: TypeAlias = Callable[[], Mapping[str, Any] | None]
"""Reads the job's record, once and only if an event may be delivered."""
Row: TypeAlias = tuple[str, int, int, int, str, bytes]
"""A delivery to add: subscription, job, event key, feed seq, type, payload."""


def rows_for(hooks: list[Hook], events: list[JobEvent], record: RecordFn) -> list[Row]:
    """The deliveries a batch of one job's events makes to ``hooks`` (its candidates)."""
    if not events or not hooks:
        return []
    rows: list[Row] = []
    info: Mapping[str, Any] | None = None
    for event in events:
        if event.name not in ("submit", "start", "exception", "clean"):
            continue
        if info is None:
            info = record()
            if info is None:
                return rows
        described = describe(event, info)
        if described is None:
            continue
        kind, result = described
        body: bytes | None = None
        for hook in hooks:
            if not (matches(hook.events, kind, result) and hook.wants_job(info)):
                continue
            if body is None:
                body = orjson.dumps(payload(event, info, kind))
            key = event_key(event)
            rows.append((hook.id, event.job_id, key, event.feed_seq, f"job.{kind}", body))
    return rows


def flux_record(executor: Executor, job_id: int) -> Mapping[str, Any] | None:
    """A job-list-like record of a Flux job from the executor's journal index."""
    from ..executors.flux import FluxExecutor

    if not isinstance(executor, FluxExecutor):
        return None
    summary = executor.index.jobs.get(job_id)
    if summary is None:
        return None
    return {
        "id": job_id,
        "user": summary.user,
        "name": summary.name,
        "state": int(summary.state),
        "result": int(summary.result) if summary.result is not None else None,
        "t_submit": summary.t_submit,
        "t_run": None,
        "waitstatus": summary.status,
        "exception_type": summary.exception_type,
    }
