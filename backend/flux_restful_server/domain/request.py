"""A validated job submission, independent of how it arrived on the wire."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..limits import MAX_NAME
from .ids import f58

DEPENDENCY_SCHEMES = ("after", "afterany", "afterok", "afternotok")
"""Flux's dependency schemes (RFC 26, ``flux submit --dependency``): ``after`` waits for the job
to start, ``afterany`` for it to end, ``afterok`` to end successfully, ``afternotok`` to fail."""


@dataclass(frozen=True, slots=True)
class Dependency:
    """A job's dependency on another job (``afterok:ID``)."""

    scheme: str
    """One of :data:`DEPENDENCY_SCHEMES`."""
    job_id: int
    """The job depended on."""

    def describe(self) -> str:
        """``afterok:ƒ2zqL5``: how the job's eventlog and its pending reason name it."""
        return f"{self.scheme}:{f58(self.job_id)}"


FLUX_DEPENDENCY_NAMES = {
    "after-start": "after",
    "after-finish": "afterany",
    "after-success": "afterok",
    "after-failure": "afternotok",
}
"""How Flux's dependency-after plugin names outstanding dependencies (``after-success=ID``)."""


def dependency_text(text: str) -> str:
    """A dependency description as users write it: ``after-success=3664815`` is ``afterok:ƒAd...``.

    Descriptions already in that form (the local executor's) are returned as they are.
    """
    name, sep, value = text.partition("=")
    scheme = FLUX_DEPENDENCY_NAMES.get(name)
    if not sep or scheme is None or not value.isdigit():
        return text
    return f"{scheme}:{f58(int(value))}"


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A validated job submission, independent of how it arrived on the wire."""

    command: tuple[str, ...]
    """The argv to run; never passed through a shell."""
    num_tasks: int = 1
    """Number of task processes."""
    cores_per_task: int = 1
    """Cores allocated to each task."""
    gpus_per_task: int = 0
    """GPUs allocated to each task."""
    num_nodes: int | None = None
    """Nodes to spread the tasks over; ``None`` lets the scheduler choose."""
    exclusive: bool = False
    """Allocate whole nodes."""
    option_flags: Mapping[str, str] = field(default_factory=dict)
    """Job shell options (``-o key=value`` in Flux), recorded on the job."""
    envars: Mapping[str, str] = field(default_factory=dict)
    """Environment given by the user, added on top of the allowlisted environment."""
    workdir: str | None = None
    """Working directory of the tasks; ``None`` is the owner's default."""
    runtime: float = 0.0
    """Time limit in seconds; 0 means none."""
    is_launcher: bool = False
    """Run the command as a workflow launcher (still tracked as a job)."""
    name: str | None = None
    """Job name; defaults to the basename of the first argv element."""
    urgency: int = 16
    """Flux urgency, 0 (held) to 31 (expedite); 16 by default."""
    queue: str | None = None
    """Queue to submit to; ``None`` is the instance's default queue."""
    jobspec: Mapping[str, Any] | None = None
    """A Flux jobspec given by the user, submitted as is by the flux executor (the fields above
    are what the local executor runs of it); ``None`` for the usual field submit."""
    unsupported: tuple[str, ...] = ()
    """What of ``jobspec`` the fields above cannot express, one reason each: the local
    executor refuses such a job, the flux executor lets Flux decide."""
    dependencies: tuple[Dependency, ...] = ()
    """Jobs this one waits for (``afterok:ID``...); it stays in ``DEPEND`` until all are met."""

    @property
    def job_name(self) -> str:
        """The name to record: ``name``, else argv0's basename, cut to :data:`MAX_NAME`."""
        program = self.command[0]
        return (self.name or os.path.basename(program) or program)[:MAX_NAME]


@dataclass(frozen=True, slots=True)
class SubmitKey:
    """An ``Idempotency-Key`` as the executor records it with every job one request created."""

    user: str | None
    """The API user the key belongs to (keys of different users never meet)."""
    key: str
    """The key as the client sent it."""
    fingerprint: str
    """Digest of the request the key first came with; a different request with it is a 409."""


@dataclass(frozen=True, slots=True)
class Submitted:
    """What an executor remembers of a key: the request's fingerprint and the jobs it made."""

    fingerprint: str
    """The fingerprint recorded with the jobs."""
    ids: Mapping[int, int]
    """Job id by position of the job in its request (0 for a single submit)."""
