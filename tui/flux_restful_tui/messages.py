"""Messages to the app: from its workers (news) and from its screens (requests), past tense.

Screens never call the app: they post a ``...Requested`` message and the app, which owns
navigation, handles it.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from flux_restful_client import Event, JobInfo

__all__ = [
    "CancelRequested",
    "ConnectionChanged",
    "DetailRequested",
    "JobEventReceived",
    "JobsListed",
    "JobsRefreshed",
    "LogRequested",
    "NodesRequested",
    "ReloadRequested",
    "RetryRequested",
    "SubmitRequested",
    "UrgencyRequested",
]


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


@dataclass
class LogRequested(Message):
    """A screen asked to follow a job's output."""

    job_id: int
    """The job."""


@dataclass
class DetailRequested(Message):
    """A screen asked to show a job's info and eventlog."""

    job_id: int
    """The job."""


@dataclass
class CancelRequested(Message):
    """A screen asked to cancel jobs (the app confirms first)."""

    job_ids: list[int]
    """The jobs."""


@dataclass
class SubmitRequested(Message):
    """A screen asked for the submit form."""


@dataclass
class NodesRequested(Message):
    """A screen asked for the nodes view."""


@dataclass
class ReloadRequested(Message):
    """A screen asked to list every job again now."""


@dataclass
class RetryRequested(Message):
    """A screen asked to reconnect to the server now."""


@dataclass
class UrgencyRequested(Message):
    """A screen asked to hold, release or re-prioritise jobs (the app confirms first)."""

    job_ids: list[int]
    """The jobs."""
    action: str
    """``hold``, ``release`` or ``urgency`` (the app asks for the value)."""
