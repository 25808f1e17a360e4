"""Job states and results, numbered as in flux-core, and which event leads to which state."""

from __future__ import annotations

import enum


class JobState(enum.IntEnum):
    """Flux job states, numbered as in flux-core (``flux_job_state_t``)."""

    NEW = 1
    DEPEND = 2
    PRIORITY = 4
    SCHED = 8
    RUN = 16
    CLEANUP = 32
    INACTIVE = 64


class JobResult(enum.IntEnum):
    """Flux job results, numbered as in flux-core (``flux_job_result_t``)."""

    COMPLETED = 1
    FAILED = 2
    CANCELED = 4
    TIMEOUT = 8


ACTIVE_STATES = frozenset(s for s in JobState if s is not JobState.INACTIVE)
"""Every state but ``INACTIVE``."""

STATE_AFTER: dict[str, JobState] = {
    "submit": JobState.NEW,
    "validate": JobState.DEPEND,
    "depend": JobState.PRIORITY,
    "priority": JobState.SCHED,
    "alloc": JobState.RUN,
    "finish": JobState.CLEANUP,
    "clean": JobState.INACTIVE,
}
"""The state a job is in after each state-changing eventlog event (RFC 21, as in Flux)."""
