"""Holding and releasing a pending job (urgency 0 and back), for the API and the web UI alike."""

from __future__ import annotations

from .context import AppRequest

__all__ = ["DEFAULT_URGENCY", "urgency_before_hold"]

DEFAULT_URGENCY = 16
"""Flux's default urgency: what a job submitted held gets when released."""


async def urgency_before_hold(request: AppRequest, job_id: int) -> int:
    """The last urgency other than 0 in the job's eventlog (``submit``, ``urgency``), else 16.

    Raises:
        JobNotFound: The job is gone.
    """
    previous = DEFAULT_URGENCY
    for event in await request.app.ctx.jobs.eventlog(job_id):
        if event.name in ("submit", "urgency"):
            value = event.context.get("urgency")
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                previous = value
    return previous
