"""The errors raised below HTTP (by executors) for the API layer to map onto responses.

``errors.py`` at the top of the server maps each to a status and code (``DOMAIN_ERRORS`` and the
views' handlers); nothing here knows HTTP.
"""

from __future__ import annotations


class ExecutorError(Exception):
    """Base of the errors an executor raises for the API layer to map onto responses."""


class JobNotFound(ExecutorError):
    """The job does not exist (or is not visible to the caller)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"Job {job_id} not found")
        self.job_id = job_id


class JobInactive(ExecutorError):
    """The job is inactive, so it cannot be cancelled."""


class SubmitRefused(ExecutorError):
    """The executor refused a job request; the message says why."""


class UnsatisfiableRequest(SubmitRefused):
    """The request can never fit the resources of this executor."""


class JobStateConflict(ExecutorError):
    """The job is not in a state that allows the action; the message says why.

    For example the urgency of a running job, or a signal to a job that is not running.
    """


class ExecutorUnavailable(ExecutorError):
    """The executor cannot work right now (its state dir vanished, Flux is unreachable, ...)."""


class SubscriberLagged(ExecutorError):
    """A stream consumer fell too far behind and was cut off; it may resume after ``resume_seq``."""

    def __init__(self, resume_seq: int) -> None:
        super().__init__(f"consumer fell behind; resume with since={resume_seq}")
        self.resume_seq = resume_seq
