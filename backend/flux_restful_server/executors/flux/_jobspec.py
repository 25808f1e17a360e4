"""Translate a :class:`JobRequest` into a Flux jobspec (RFC 25 V1)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ...domain.environment import job_environment
from ...domain.owner import Owner
from ...domain.request import JobRequest


def shell_option_value(text: str) -> Any:
    """A shell option value as ``flux submit -o key=value`` reads it: JSON if it parses."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def build_jobspec(
    request: JobRequest,
    owner: Owner,
    *,
    server_options: Mapping[str, str],
    passthrough: tuple[str, ...],
    server_env: Mapping[str, str] | None = None,
) -> str:
    """Return the JSON jobspec (RFC 25 V1) for ``request``, submitted on behalf of ``owner``.

    Raises:
        ValueError: Flux rejects the shape of the request (for example ``exclusive`` without a
            node count); the message says why.
    """
    from flux.job import JobspecV1

    jobspec = JobspecV1.from_command(
        list(request.command),
        num_tasks=request.num_tasks,
        cores_per_task=request.cores_per_task,
        gpus_per_task=request.gpus_per_task or None,
        num_nodes=request.num_nodes,
        exclusive=request.exclusive,
    )
    jobspec.cwd = request.workdir or owner.home or os.getcwd()
    env = os.environ if server_env is None else server_env
    jobspec.environment = job_environment(env, request.envars, owner, passthrough)
    if request.runtime > 0:
        jobspec.duration = request.runtime
    if request.name or request.job_name != os.path.basename(request.command[0]):
        # Flux would derive an over-long default name from argv0 itself.
        jobspec.setattr("system.job.name", request.job_name)
    for key, value in {**server_options, **request.option_flags}.items():
        jobspec.setattr_shell_option(key, shell_option_value(value))
    jobspec.setattr("system.user", owner.user)
    if request.is_launcher:
        jobspec.setattr("system.flux_restful.launcher", True)
    return str(jobspec.dumps())
