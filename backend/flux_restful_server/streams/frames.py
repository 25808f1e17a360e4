"""The JSON frames of ``/v1/jobs/{id}/stream`` and ``/v1/events`` and which ones a follower asked.

Frames are plain dicts, encoded once per entry with :func:`encode`; websocket and SSE carry the
same text. Turning frames into the bytes each transport writes, in bulk and cached across
followers, is :mod:`.wire`'s job; this module says what a frame holds and which frames a
follower asked for (``types=``, ``since=``, the feed's filters); see docs/streams.md.

Output bytes that are not valid UTF-8 are delivered as ``data`` with U+FFFD replacement
characters plus the exact bytes in ``data_b64`` (base64), so text clients keep working and
byte-exact clients lose nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..domain.events import JobEvent, LogEntry, OutputLine
from ..domain.ids import InvalidJobId, parse_job_id
from ..domain.record import JobRecord
from ..domain.states import STATE_AFTER, JobResult, JobState
from ..errors import BadRequest
from ..jobs.info import event_reason, returncode
from ..limits import MAX_INT, LimitError, bounded_int, show

JOB_FRAME_TYPES = frozenset({"output", "state", "event", "exception", "end"})
"""Values accepted by ``types=`` on the job stream (``end`` is always sent)."""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode(frame: dict[str, Any]) -> str:
    """One frame as compact JSON text."""
    return _dumps(frame)


def frame_type(entry: LogEntry) -> str:
    """The ``type`` a log entry is delivered as."""
    if isinstance(entry, OutputLine):
        return "output"
    if entry.name == "clean":
        return "end"
    if entry.name == "exception":
        return "exception"
    if entry.name in STATE_AFTER:
        return "state"
    return "event"


def output_frame(line: OutputLine) -> dict[str, Any]:
    """``{"seq", "type": "output", "stream", "rank", "data", "t"}`` (+ ``data_b64``)."""
    frame: dict[str, Any] = {
        "seq": line.seq,
        "type": "output",
        "stream": line.stream,
        "rank": line.rank,
        "data": "",
        "t": line.timestamp,
    }
    try:
        frame["data"] = line.data.decode()
    except UnicodeDecodeError:
        frame["data"] = line.data.decode(errors="replace")
        frame["data_b64"] = base64.b64encode(line.data).decode("ascii")
    return frame


def event_frame(event: JobEvent, kind: str) -> dict[str, Any]:
    """A state change, an exception, or another eventlog event of one job."""
    frame: dict[str, Any] = {"seq": event.seq, "type": kind}
    if kind == "state":
        frame["state"] = STATE_AFTER[event.name].name
    frame["name"] = event.name
    frame["context"] = dict(event.context)
    frame["t"] = event.timestamp
    return frame


def end_frame(event: JobEvent, record: JobRecord | None) -> dict[str, Any]:
    """The final frame, built from the ``clean`` event and the job's record at that moment."""
    result: str | None = None
    code: int | None = None
    if record is not None and record.get("state") == JobState.INACTIVE:
        result_code = record.get("result")
        if result_code:
            result = JobResult(result_code).name
        rc = returncode(record)
        code = rc if isinstance(rc, int) else None
    return {
        "seq": event.seq,
        "type": "end",
        "state": JobState.INACTIVE.name,
        "result": result,
        "returncode": code,
        "t": event.timestamp,
    }


def parse_types(text: str | None) -> frozenset[str] | None:
    """Parse ``types=output,state`` (``None`` when absent: every type).

    Raises:
        BadRequest: An unknown type, with the accepted ones.
    """
    if text is None or not text.strip():
        return None
    wanted = frozenset(t.strip().lower() for t in text.split(",") if t.strip())
    unknown = sorted(wanted - JOB_FRAME_TYPES)
    if unknown:
        raise BadRequest(
            f"types: unknown frame type(s) {', '.join(unknown)}; "
            f"use any of {', '.join(sorted(JOB_FRAME_TYPES))}"
        )
    return wanted | {"end"}


def parse_since(text: str | None, name: str = "since") -> int:
    """Parse a resume point: the last ``seq`` already seen (0, or absent, for everything).

    Raises:
        BadRequest: Not a non-negative integer.
    """
    if text is None or not text.strip():
        return 0
    try:
        return bounded_int(text, name)
    except LimitError:
        raise BadRequest(
            f"{name} must be a non-negative integer (a seq) up to {MAX_INT}, not {show(text)}"
        ) from None


def feed_frame(event: JobEvent) -> dict[str, Any]:
    """``{"seq": feed_seq, "id", "event", "state", "t", "user", "seq_job", "context"}``.

    ``state`` is the state the event moved the job to, or ``None`` for events that do not
    change it (``start``, ``exception``, ``release``, ...): the same whether replayed or live.
    Events that say why a job waits (``dependency-add``, a hold, a dependency that can never be
    met) add ``reason``, the job's pending reason in plain words.
    """
    state = STATE_AFTER.get(event.name)
    frame = {
        "seq": event.feed_seq,
        "id": event.job_id,
        "event": event.name,
        "state": state.name if state is not None else None,
        "t": event.timestamp,
        "user": event.user,
        "job_seq": event.seq,
        "context": dict(event.context),
    }
    reason = event_reason(event.name, event.context)
    if reason is not None:
        frame["reason"] = reason
    return frame


def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Which feed events a subscriber receives."""

    owner: str | None = None
    """Only this API user's jobs (non-superusers); ``None`` for everyone's."""
    users: frozenset[str] | None = None
    """``user=``: only jobs of these users."""
    states: frozenset[str] | None = None
    """``state=``: only events that move a job to one of these states."""
    ids: frozenset[int] | None = None
    """``ids=``: only these jobs."""

    @classmethod
    def parse(
        cls, owner: str | None, user: str | None, state: str | None, ids: str | None
    ) -> FeedFilter:
        """Build a filter from the query string.

        Raises:
            BadRequest: An unknown state or a malformed job id, with the reason.
        """
        users = frozenset(_split(user)) or None
        states: frozenset[str] | None = None
        if _split(state):
            names = {s.upper() for s in _split(state)}
            unknown = sorted(names - set(JobState.__members__))
            if unknown:
                raise BadRequest(
                    f"state: unknown state(s) {', '.join(unknown)}; "
                    f"use any of {', '.join(JobState.__members__)}"
                )
            states = frozenset(names)
        job_ids: frozenset[int] | None = None
        if _split(ids):
            try:
                job_ids = frozenset(parse_job_id(item) for item in _split(ids))
            except InvalidJobId as exc:
                raise BadRequest(f"ids: {exc}") from None
        return cls(owner, users, states, job_ids)

    def select(self, events: Iterable[JobEvent]) -> list[JobEvent]:
        """The events of ``events`` this subscriber may and wants to see."""
        out = []
        for event in events:
            if self.owner is not None and event.user != self.owner:
                continue
            if self.users is not None and event.user not in self.users:
                continue
            if self.ids is not None and event.job_id not in self.ids:
                continue
            if self.states is not None:
                state = STATE_AFTER.get(event.name)
                if state is None or state.name not in self.states:
                    continue
            out.append(event)
        return out
