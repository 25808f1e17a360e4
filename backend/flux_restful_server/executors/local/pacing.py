"""Pacing a followed job's ingestion to its followers, so that a burst of output cuts none off.

While someone follows a job, a fast writer's output is taken in slices of at most half the
hub's per-follower limit, and the next slice waits until every follower has room for it (the log
file is the buffer). A follower that takes nothing for :data:`INGEST_GRACE` seconds no longer
holds the job back (it is cut off with a ``lagged`` frame).
"""

from __future__ import annotations

from collections.abc import Callable

from ..hub import Hub

INGEST_SLICE = 1 << 18
"""Bytes of a followed job's log ingested per turn of the event loop."""

INGEST_CHUNK = 1 << 22
"""Bytes of a job's log read at a time when nobody follows it."""

INGEST_WAIT = 0.002
"""Seconds between checks for room while the followers of a job catch up."""

INGEST_GRACE = 0.5
"""Seconds a followed job's ingestion waits for a follower that takes nothing before going on
(which cuts that follower off with a ``lagged`` frame)."""


class Pacer:
    """Decides when and how much of a followed job's log is ingested.

    Args:
        hub: Where the followers are (and where the next slice is scheduled).
        ingest: What to call for the next slice, with the job id.
    """

    def __init__(self, hub: Hub, ingest: Callable[[int], None]) -> None:
        self.hub = hub
        self._ingest = ingest

    def allowance(self, job_id: int) -> int | None:
        """How many records to ingest now, or ``None``: not now (the next slice is scheduled)."""
        hub = self.hub
        if hub.deferred(job_id):
            return None  # the next slice is already scheduled
        count = max(1, hub.limit // 2)
        full = hub.room(job_id) < count
        if full and hub.waited(job_id, True) < INGEST_GRACE:
            hub.defer(job_id, INGEST_WAIT, self._ingest)
            return None
        hub.waited(job_id, False)
        return count

    def read_on(self, job_id: int) -> None:
        """The log holds more than this slice: take the next one on the next turn of the loop."""
        self.hub.defer(job_id, 0, self._ingest)

    def pending(self, job_id: int) -> bool:
        """Whether a paced read of the job is under way (its next slice is scheduled)."""
        return self.hub.deferred(job_id)
