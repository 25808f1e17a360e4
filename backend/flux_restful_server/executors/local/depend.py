"""Job dependencies on the local executor, judged as Flux's ``dependency-after`` plugin does.

A job with dependencies that are not met yet stays in ``DEPEND``: its log gets one
``dependency-add`` event per outstanding dependency (context ``{"description": "afterok:ƒ..."}``,
Flux's names), one ``dependency-remove`` as each is met, and ``depend`` once none is left. A
dependency that can never be met (``afterok`` on a job that failed, ``after`` on one that was
cancelled before it started) raises a ``dependency`` exception, which ends the job, as in Flux.
Which dependencies are outstanding is therefore in the log, so a restarted server rebuilds them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from ...domain.ids import InvalidJobId, f58, parse_job_id
from ...domain.request import DEPENDENCY_SCHEMES, Dependency
from ...domain.states import JobResult, JobState


class Verdict(enum.Enum):
    """Where a dependency stands."""

    MET = "met"
    WAITING = "waiting"
    NEVER = "never"


def describe(dependency: Dependency) -> str:
    """``afterok:ƒ2zqL5``: the description in the job's eventlog and its pending reason."""
    return dependency.describe()


def from_description(text: str) -> Dependency | None:
    """The dependency a ``dependency-add`` description names (``None`` if it names none)."""
    scheme, _, target = text.partition(":")
    if scheme not in DEPENDENCY_SCHEMES:
        return None
    try:
        return Dependency(scheme, parse_job_id(target))
    except InvalidJobId:
        return None


def judge(dependency: Dependency, record: Mapping[str, Any] | None) -> tuple[Verdict, str]:
    """Judge one dependency on the record of the job it names; the reason when it is never met."""
    target = f58(dependency.job_id)
    if record is None:
        return Verdict.NEVER, f"job {target} does not exist"
    state = record["state"]
    inactive = state == JobState.INACTIVE
    result = JobResult(record["result"]) if inactive and record.get("result") else None
    ended = f"job {target} ended {result.name if result else 'without a result'}"
    scheme = dependency.scheme
    if scheme == "after":
        if record.get("t_run") is not None:
            return Verdict.MET, ""
        if inactive:
            return Verdict.NEVER, f"{ended} before it started"
        return Verdict.WAITING, ""
    if not inactive:
        return Verdict.WAITING, ""
    if scheme == "afterany":
        return Verdict.MET, ""
    succeeded = result is JobResult.COMPLETED
    if scheme == "afterok":
        return (Verdict.MET, "") if succeeded else (Verdict.NEVER, ended)
    return (Verdict.NEVER, f"job {target} succeeded") if succeeded else (Verdict.MET, "")


def never_note(dependency: Dependency, why: str) -> str:
    """The note of the exception that ends a job whose dependency can never be met."""
    return f"dependency {describe(dependency)} can never be met: {why}"


def outstanding(events: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Dependency]:
    """The dependencies still outstanding after a job's ``(name, context)`` events, in order."""
    found: list[Dependency] = []
    for name, context in events:
        text = context.get("description")
        if not isinstance(text, str):
            continue
        dependency = from_description(text)
        if dependency is None:
            continue
        if name == "dependency-add" and dependency not in found:
            found.append(dependency)
        elif name == "dependency-remove" and dependency in found:
            found.remove(dependency)
    return found


def waiting_reason(dependencies: Iterable[Dependency]) -> str:
    """``waiting on afterok:ƒ2zqL5, afterany:ƒ3Ab``: the pending reason of a job in DEPEND."""
    return "waiting on " + ", ".join(describe(d) for d in dependencies)
