"""Submitting a job: the one path from submit fields to a job id, for the API and the web form.

The API and the web form differ only in where the fields come from and how a refusal is shown;
what the server accepts (its limits, GPUs, node count, default shell options), how a request is
validated and how it is handed to the executor are decided here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..auth.guard import Principal
from ..domain.request import JobRequest
from ..jobs.submit import SubmitPolicy, parse_submit
from .access import check_dependencies, check_urgency
from .context import AppRequest

__all__ = ["submit_job", "submit_policy", "validate_submit"]


def submit_policy(request: AppRequest) -> SubmitPolicy:
    """What this server accepts at submit (its resource limits, GPUs, nodes, default flags)."""
    settings = request.app.ctx.settings
    limits = request.app.ctx.jobs.limits()
    return SubmitPolicy(
        limits,
        settings.has_gpus or limits.gpus_per_node > 0,
        settings.number_nodes,
        settings.option_flags,
    )


def validate_submit(request: AppRequest, fields: Mapping[str, Any]) -> JobRequest:
    """Validate submit ``fields`` against this server's policy.

    Raises:
        SubmitError: With every problem found.
    """
    return parse_submit(fields, submit_policy(request))


async def submit_job(request: AppRequest, principal: Principal, job_request: JobRequest) -> int:
    """Submit a validated request as the caller and return the new job's id.

    Raises:
        UnsatisfiableRequest: The request can never fit this server's resources.
        SubmitRefused: The executor refused the job.
        ExecutorUnavailable: The executor cannot take jobs right now.
        Forbidden: An urgency above 16 from a caller who is not a superuser (403).
        NotFound: A dependency on a job the caller may not see (404).
    """
    check_urgency(principal, job_request.urgency)
    await check_dependencies(request, principal, job_request.dependencies)
    return await request.app.ctx.jobs.submit(job_request, principal.owner)
