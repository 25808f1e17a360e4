"""Job dependencies in Flux's syntax (``afterok:ID``), as ``flux submit --dependency`` takes them.

A submit may carry several: a JSON list, a comma-separated string, or the ``dependency`` query
parameter repeated. Each is ``scheme:jobid`` with a scheme of RFC 26's ``after`` family and the id
in any encoding Flux prints (decimal, ``ƒ`` f58, hex, dotted hex). Which jobs exist and whether
the caller may see them is checked by the view; whether they can still be met, by the executor.
"""

from __future__ import annotations

from typing import Any

from ..domain.ids import InvalidJobId, parse_job_id
from ..domain.request import DEPENDENCY_SCHEMES, Dependency
from ..limits import show

MAX_DEPENDENCIES = 64
"""Most dependencies one job may have."""

FLUX_ONLY_SCHEMES = ("begin-time", "singleton")
"""Schemes Flux has that are not job dependencies, named in the refusal so users know why."""


def parse_dependencies(value: Any, errors: list[str]) -> tuple[Dependency, ...]:
    """Parse the ``dependency`` submit field; problems are appended to ``errors``.

    Duplicates are kept once, in the order given.
    """
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, str):
        items: list[Any] = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, list):
        items = value
    else:
        errors.append(
            f"dependency must be 'scheme:jobid' text or a list of them, not {show(value)}"
        )
        return ()
    if len(items) > MAX_DEPENDENCIES:
        errors.append(f"a job may have at most {MAX_DEPENDENCIES} dependencies, not {len(items)}")
        return ()
    found: list[Dependency] = []
    for item in items:
        dependency = parse_dependency(item, errors)
        if dependency is not None and dependency not in found:
            found.append(dependency)
    return tuple(found)


def parse_dependency(item: Any, errors: list[str]) -> Dependency | None:
    """Parse one ``scheme:jobid``; ``None`` (with the reason in ``errors``) when malformed."""
    if not isinstance(item, str):
        errors.append(f"dependency must be 'scheme:jobid' text, not {show(item)}")
        return None
    scheme, sep, target = item.strip().partition(":")
    if not sep or not target.strip():
        errors.append(
            f"dependency {show(item)} must look like scheme:jobid (for example afterok:ƒ2zqL5)"
        )
        return None
    scheme = scheme.strip().lower()
    if scheme not in DEPENDENCY_SCHEMES:
        known = ", ".join(DEPENDENCY_SCHEMES)
        extra = (
            f" ({scheme} is a Flux scheme this server does not take on submit)"
            if scheme in FLUX_ONLY_SCHEMES
            else ""
        )
        errors.append(
            f"dependency {show(item)}: unknown scheme {show(scheme)}, one of {known}{extra}"
        )
        return None
    try:
        job_id = parse_job_id(target)
    except InvalidJobId:
        errors.append(f"dependency {show(item)}: {show(target.strip())} is not a job id")
        return None
    return Dependency(scheme, job_id)
