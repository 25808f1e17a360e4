"""Messages the dashboard's workers send to the app (dataclasses, past tense)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from flux_restful_client import Event, JobInfo

__all__ = ["ConnectionChanged", "JobEventReceived", "JobsListed", "JobsRefreshed"]


@dataclass
class JobsListed(Message):
    """A full listing arrived (at start, after a reconnect, or from a poll)."""

    jobs: list[JobInfo]
    """Every job the caller may see."""


@dataclass
class JobsRefreshed(Message):
    """Fresh info for a few jobs (after feed events named them)."""

    jobs: list[JobInfo]
    """The jobs' current info."""


@dataclass
class JobEventReceived(Message):
    """One event of the ``/v1/events`` feed."""

    event: Event
    """The event."""


@dataclass
class ConnectionChanged(Message):
    """The link to the server changed: ``live``, ``reconnecting``, ``polling`` or ``offline``."""

    state: str
    """New state."""
    detail: str = ""
    """Why (the error that caused it), for the status bar and notifications."""

    def can_replace(self, message: Message) -> bool:
        """Only the latest connection state matters."""
        return isinstance(message, ConnectionChanged)
