"""Who may see and touch what: jobs (else 404, never 403), urgencies, dependencies.

A job the caller may not see is answered 404, filters are limited to the caller's jobs, only
superusers set urgencies above 16, and a dependency must name a job the caller may see.
"""

from __future__ import annotations

from typing import Any

from ..auth.errors import Forbidden
from ..auth.principal import Principal
from ..domain.errors import JobNotFound
from ..domain.query import JobFilter
from ..domain.record import JobRecord
from ..domain.request import Dependency
from ..errors import NotFound, job_not_found
from .context import AppRequest

__all__ = [
    "MAX_GUEST_URGENCY",
    "caller_filter",
    "check_dependencies",
    "check_urgency",
    "visible_job",
]

MAX_GUEST_URGENCY = 16
"""Highest urgency a user who is not a superuser may set (Flux: guests 0-16, the owner 0-31)."""


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


def check_urgency(principal: Principal, urgency: int) -> None:
    """Refuse an urgency above 16 from a caller who is not a superuser (403), as Flux does."""
    if urgency > MAX_GUEST_URGENCY and not principal.superuser:
        raise Forbidden(
            f"urgency {urgency}: only superusers may set an urgency above {MAX_GUEST_URGENCY} "
            f"(0-{MAX_GUEST_URGENCY} for everyone, as in Flux)"
        )


async def check_dependencies(
    request: AppRequest, principal: Principal, dependencies: tuple[Dependency, ...]
) -> None:
    """404 for a dependency on a job that does not exist or that the caller may not see."""
    for dependency in dependencies:
        try:
            await visible_job(request, principal, dependency.job_id)
        except NotFound:
            message = f"dependency {dependency.describe()}: job {dependency.job_id} not found"
            raise NotFound(message, body={"detail": message}) from None
