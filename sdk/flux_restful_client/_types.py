"""Type aliases shared by the SDK's modules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeAlias, TypedDict

import httpx

__all__ = [
    "JSON",
    "CommandInput",
    "DependencyInput",
    "DurationInput",
    "EnvInput",
    "JobId",
    "OptionFlagsInput",
    "SignalInput",
    "SubmitFields",
    "TimeoutInput",
]

JSON: TypeAlias = Any
"""A decoded JSON value, exactly as the server sent it."""
JobId: TypeAlias = int | str
"""A job id: an integer or any Flux encoding (``f58``, hex, dotted hex, words)."""
CommandInput: TypeAlias = str | Sequence[str | int | float]
"""A command line (shlex-split by the server) or an argv list."""
EnvInput: TypeAlias = Mapping[str, str]
"""Environment variables added to a job."""
OptionFlagsInput: TypeAlias = str | Mapping[str, Any]
"""Flux shell options as ``"k=v,k2=v2"`` or a mapping."""
DurationInput: TypeAlias = str | int | float | timedelta
"""A lifetime: seconds, a ``timedelta``, or text such as ``30d``, ``12h``, ``2w``, ``90m``."""
DependencyInput: TypeAlias = str | Sequence[str]
"""One dependency (``"afterok:ƒ2zqL5"``) or several."""
SignalInput: TypeAlias = int | str
"""A signal by number or name (``"SIGUSR1"``, ``"USR1"``)."""
TimeoutInput: TypeAlias = float | httpx.Timeout | None
"""An HTTP timeout in seconds, an ``httpx.Timeout``, or ``None`` for no timeout."""


class SubmitFields(TypedDict, total=False):
    """Optional fields of a job submission (upstream's, then ours)."""

    num_tasks: int | None
    """Number of tasks."""
    cores_per_task: int | None
    """Cores per task."""
    gpus_per_task: int | None
    """GPUs per task."""
    num_nodes: int | None
    """Number of nodes."""
    exclusive: bool | None
    """Allocate whole nodes (needs ``num_nodes``)."""
    is_launcher: bool | None
    """Run the command as a workflow launcher (nextflow, snakemake)."""
    option_flags: OptionFlagsInput | None
    """Flux shell options."""
    workdir: str | None
    """Working directory of the job."""
    envars: EnvInput | None
    """Environment variables added to the job."""
    runtime: int | None
    """Time limit in seconds (0: none)."""
    name: str | None
    """Job name."""
    urgency: int | None
    """Urgency 0-31 (default 16; 0 holds the job; above 16 for superusers only)."""
    dependency: DependencyInput | None
    """Jobs to wait for, in Flux's syntax: ``afterok:ID``, ``afternotok:ID``, ``afterany:ID``,
    ``after:ID`` (one, or several as a list)."""
    webhook_url: str | None
    """Our server: POST this job's events to this URL, signed (docs/webhooks.md); upstream
    ignores it."""
    queue: str | None
    """Queue to submit to (ours; upstream ignores it)."""
