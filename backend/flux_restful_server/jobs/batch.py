"""Batch submit: many job requests in one HTTP request, each validated as a single submit is.

A batch is a JSON array of job objects (``[{"command": ...}, ...]``), an object ``{"jobs":
[...]}``, or one job plus ``cc``, an RFC 22 idset as Flux's ``flux submit --cc`` takes it
(``0-9``: ten copies, ``{cc}`` in the command, name and workdir replaced by each id, and
``FLUX_JOB_CC`` set in each job's environment). Query-string fields are defaults for every
entry. Each entry fails alone (its index and reason in the answer); a batch that is not one of
these shapes, empty, or over the limit is refused whole, before any job is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..domain.request import JobRequest
from ..limits import show
from .submit import SubmitError, SubmitPolicy, parse_submit

CC_PLACEHOLDER = "{cc}"
"""Replaced by each copy's id in ``command``, ``name`` and ``workdir`` (as ``flux submit``)."""
MAX_CC_ID = 2**31 - 1
"""Largest id of a ``cc`` idset."""


class BatchError(ValueError):
    """The batch as a whole is malformed, empty or too big; nothing was submitted."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a batch: the request to submit, or why it is invalid."""

    index: int
    """Position in the batch, from 0."""
    request: JobRequest | None = None
    """The validated request (``None`` when invalid)."""
    error: SubmitError | None = None
    """Why it is invalid."""


def parse_idset(text: str, limit: int) -> list[int]:
    """Expand an RFC 22 idset (``"3"``, ``"0-9"``, ``"1,4-6"``, ``"[0-3]"``), at most ``limit`` ids.

    Raises:
        BatchError: Not an idset, or more than ``limit`` ids (the message names the limit).
    """
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    ids: list[int] = []
    seen: set[int] = set()
    for part in body.split(","):
        low_text, dash, high_text = part.strip().partition("-")
        if not (low_text.isdigit() and (not dash or high_text.isdigit())) or len(part) > 40:
            raise BatchError(
                f"cc must be an idset such as 0-9 or 1,3,5-7 (Flux's --cc), not {show(text)}"
            )
        low = int(low_text)
        high = int(high_text) if dash else low
        if high < low or high > MAX_CC_ID:
            raise BatchError(f"cc range {part.strip()!r} must go up, to at most {MAX_CC_ID}")
        if len(ids) + (high - low + 1) > limit:
            raise BatchError(too_big(len(ids) + (high - low + 1), limit))
        for value in range(low, high + 1):
            if value not in seen:
                seen.add(value)
                ids.append(value)
    return ids


def too_big(count: int, limit: int) -> str:
    """The refusal of a batch over the limit."""
    return (
        f"A batch holds at most {limit} jobs (FLUX_MAX_BATCH), this one has {count:,}: "
        "split it into several requests"
    )


def batch_entries(body: Any, query: Mapping[str, Any], limit: int) -> tuple[list[Any], str | None]:
    """Find the job objects of a batch body and its ``cc``.

    Raises:
        BatchError: The body is not a batch, or the batch is empty or too big.
    """
    cc = query.get("cc")
    if isinstance(body, dict) and "jobs" in body:
        entries = body["jobs"]
        cc = body.get("cc", cc)
        if not isinstance(entries, list):
            raise BatchError('"jobs" must be a JSON array of job objects')
    elif isinstance(body, dict):
        cc = body.pop("cc", cc) if "cc" in body else cc
        entries = [body]
    elif isinstance(body, list):
        entries = body
    elif body is None and query.get("command") is not None:
        entries = [{}]  # one job described by the query string alone
    else:
        raise BatchError(
            'A batch is a JSON array of job objects, {"jobs": [...]}, or one job with cc'
        )
    if cc is not None and not isinstance(cc, str | int) or isinstance(cc, bool):
        raise BatchError(f"cc must be an idset such as 0-9, not {show(cc)}")
    if cc is not None and len(entries) != 1:
        raise BatchError(f"cc copies one job: send one job with it, not {len(entries)}")
    if not entries:
        raise BatchError(f"A batch needs at least one job (and at most {limit})")
    if len(entries) > limit:
        raise BatchError(too_big(len(entries), limit))
    return entries, None if cc is None else str(cc)


def parse_batch(
    body: Any, query: Mapping[str, Any], policy: SubmitPolicy, limit: int
) -> list[Entry]:
    """Validate every entry of a batch; invalid entries carry their error.

    Raises:
        BatchError: The batch itself is malformed, empty or over ``limit`` jobs.
    """
    entries, cc = batch_entries(body, query, limit)
    defaults = {k: v for k, v in query.items() if k not in ("cc", "dry_run")}
    if cc is not None:
        ids = parse_idset(cc, limit)
        template = _entry(0, entries[0], defaults, policy)
        if template.request is None:
            assert template.error is not None
            raise template.error  # every copy would fail the same way
        return [Entry(i, copy_request(template.request, cc_id)) for i, cc_id in enumerate(ids)]
    return [_entry(i, entry, defaults, policy) for i, entry in enumerate(entries)]


def _entry(index: int, entry: Any, defaults: Mapping[str, Any], policy: SubmitPolicy) -> Entry:
    if not isinstance(entry, dict):
        error = SubmitError(
            [f"A batch entry must be a JSON object with a command, not {show(entry)}"]
        )
        return Entry(index, error=error)
    try:
        return Entry(index, parse_submit({**defaults, **entry}, policy))
    except SubmitError as exc:
        return Entry(index, error=exc)


def copy_request(request: JobRequest, cc: int) -> JobRequest:
    """The copy ``cc`` of ``request``: ``{cc}`` replaced, ``FLUX_JOB_CC`` set (as Flux does)."""
    text = str(cc)
    return replace(
        request,
        command=tuple(arg.replace(CC_PLACEHOLDER, text) for arg in request.command),
        name=request.name.replace(CC_PLACEHOLDER, text) if request.name else None,
        workdir=request.workdir.replace(CC_PLACEHOLDER, text) if request.workdir else None,
        envars={**request.envars, "FLUX_JOB_CC": text},
    )


def valid(entries: Sequence[Entry]) -> list[tuple[int, JobRequest]]:
    """The valid entries as ``(index, request)`` pairs, in order."""
    return [(e.index, e.request) for e in entries if e.request is not None]
