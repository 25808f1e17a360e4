"""What the streams carry: a job's frames, its output lines, the job event feed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._convert import opt_float, opt_int

__all__ = ["Event", "Frame", "OutputLine"]


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
            seq=opt_int(data.get("seq")),
            stream=data.get("stream") if isinstance(data.get("stream"), str) else None,
            rank=opt_int(data.get("rank")),
            data=data.get("data") if isinstance(data.get("data"), str) else None,
            state=str(state) if state is not None else None,
            result=str(result) if result is not None else None,
            returncode=opt_int(data.get("returncode")),
            t=opt_float(data.get("t")),
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
            rank=opt_int(item.get("rank")) or 0,
            t=opt_float(item.get("t")),
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
            t=opt_float(data.get("t")),
            raw=dict(data),
        )
