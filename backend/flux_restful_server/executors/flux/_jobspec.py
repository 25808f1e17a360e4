"""Translate a :class:`JobRequest` into a Flux jobspec (RFC 25 V1)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from typing import Any

from ...domain.environment import JobEnvironments
from ...domain.owner import Owner
from ...domain.request import JobRequest


def shell_option_value(text: str) -> Any:
    """A shell option value as ``flux submit -o key=value`` reads it: JSON if it parses."""
    try:
        return json.loads(text)
    except ValueError:
        return text


KEY_ATTRIBUTE = "flux_restful"
"""``attributes.system.<this>.idempotency`` holds a submit's idempotency key (``_index``)."""


def build_jobspec(
    request: JobRequest,
    owner: Owner,
    *,
    server_options: Mapping[str, str],
    environments: JobEnvironments,
    queue: str | None = None,
    key: Mapping[str, Any] | None = None,
) -> str:
    """Return the JSON jobspec (RFC 25 V1) for ``request``, submitted on behalf of ``owner``.

    A request that carries a user's jobspec is that document, with the API user recorded, the
    server's job environment under its own, and the default cwd when it names none. ``queue``
    is set when the instance has named queues; ``key`` (an idempotency key, its fingerprint
    and the job's index in its request) is recorded under ``attributes.system.flux_restful``.

    Raises:
        ValueError: Flux rejects the shape of the request (for example ``exclusive`` without a
            node count); the message says why.
    """
    if request.jobspec is not None:
        document = copy.deepcopy(dict(request.jobspec))
        system = document.setdefault("attributes", {}).setdefault("system", {})
        given = system.get("environment")
        system["environment"] = environments.build(given if isinstance(given, dict) else {}, owner)
        system.setdefault("cwd", request.workdir or owner.home or os.getcwd())
        system["user"] = owner.user  # never the document's own claim
        system.pop(KEY_ATTRIBUTE, None)
        if queue is not None:
            system["queue"] = queue
        elif system.get("queue") == "default":
            del system["queue"]  # the instance has one anonymous queue, which we call default
        if key is not None:
            system[KEY_ATTRIBUTE] = {"idempotency": dict(key)}
        return json.dumps(document)

    from flux.job import JobspecV1

    jobspec = JobspecV1.from_command(
        list(request.command),
        num_tasks=request.num_tasks,
        cores_per_task=request.cores_per_task,
        gpus_per_task=request.gpus_per_task or None,
        num_nodes=request.num_nodes,
        exclusive=request.exclusive,
        # Given here, not set afterwards: without it the factory copies os.environ first
        # (three quarters of its time, for an environment replaced at once).
        environment=environments.build(request.envars, owner),
        cwd=request.workdir or owner.home or os.getcwd(),
    )
    if request.runtime > 0:
        jobspec.duration = request.runtime
    if request.name or request.job_name != os.path.basename(request.command[0]):
        # Flux would derive an over-long default name from argv0 itself.
        jobspec.setattr("system.job.name", request.job_name)
    for name, value in {**server_options, **request.option_flags}.items():
        jobspec.setattr_shell_option(name, shell_option_value(value))
    jobspec.setattr("system.user", owner.user)
    if request.is_launcher:
        jobspec.setattr("system.flux_restful.launcher", True)
    if queue is not None:
        jobspec.setattr("system.queue", queue)
    if key is not None:
        jobspec.setattr(f"system.{KEY_ATTRIBUTE}.idempotency", dict(key))
    if request.dependencies:
        # RFC 26: the dependency-after plugin takes the id in any encoding; decimal is plain.
        jobspec.setattr(
            "system.dependencies",
            [{"scheme": d.scheme, "value": str(d.job_id)} for d in request.dependencies],
        )
    return str(jobspec.dumps())
