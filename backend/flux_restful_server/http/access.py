"""Who may see what: a job the caller may see (else 404, never 403), filters limited to them."""

from __future__ import annotations

from typing import Any

from ..auth.principal import Principal
from ..domain.errors import JobNotFound
from ..domain.query import JobFilter
from ..domain.record import JobRecord
from ..errors import job_not_found
from .context import AppRequest

__all__ = ["caller_filter", "visible_job"]


async def visible_job(request: AppRequest, principal: Principal, job_id: int) -> JobRecord:
    """Return a job's record if the caller may see it; 404 otherwise (never 403)."""
    try:
        record = await request.app.ctx.jobs.info(job_id)
    except JobNotFound:
        raise job_not_found(job_id) from None
    if not principal.sees_all and record.get("user") != principal.name:
        raise job_not_found(job_id)
    return record


def caller_filter(principal: Principal, **kwargs: Any) -> JobFilter:
    """A filter limited to what the caller may see."""
    return JobFilter(owner=None if principal.sees_all else principal.name, **kwargs)
