"""Translate a :class:`JobRequest` into a Flux jobspec, and Flux output events into lines."""

from __future__ import annotations

import base64
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


def parse_ranks(text: Any) -> list[int]:
    """Expand an RFC 22 idset (``"0"``, ``"0-3,5"``) into task ranks."""
    ranks: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            ranks.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            continue
    return ranks or [0]


_LEVELS = {0: "FATAL", 1: "FATAL", 2: "FATAL", 3: "ERROR", 4: "WARN", 6: "DEBUG", 7: "TRACE"}


def output_lines(name: str, context: Mapping[str, Any]) -> list[tuple[str, int, bytes]]:
    """Turn one ``guest.output`` event (RFC 24) into ``(stream, rank, line)`` triples.

    ``data`` events give their lines (split, newlines kept); shell ``log`` events become stderr
    lines as ``flux job attach`` prints them; headers, redirects and EOF markers give nothing.
    """
    if name == "data":
        data = context.get("data")
        if data is None:
            return []
        if context.get("encoding") == "base64":
            raw = base64.b64decode(data)
        else:
            raw = str(data).encode("utf-8", "surrogateescape")
        repeat = context.get("repeat")
        if isinstance(repeat, int) and repeat > 1:
            raw *= repeat
        stream = "stderr" if context.get("stream") == "stderr" else "stdout"
        lines = raw.splitlines(keepends=True)
        return [
            (stream, rank, line) for rank in parse_ranks(context.get("rank", 0)) for line in lines
        ]
    if name == "log":
        level = _LEVELS.get(int(context.get("level", 5)), "")
        prefix = f"flux-shell[{context.get('rank', 0)}]: " + (f"{level}: " if level else "")
        if context.get("component"):
            prefix += f"{context['component']}: "
        text = f"{prefix}{context.get('message', '')}\n".encode("utf-8", "surrogateescape")
        return [("stderr", parse_ranks(context.get("rank", 0))[0], text)]
    return []
