"""The two reads the dashboard needs that the SDK has no typed method for yet.

``GET /v1/jobs/{id}/events`` (the eventlog) and ``GET /v1/jobs/{id}/output?labels=true``.
When the SDK grows ``get_job_events`` / ``get_output(labels=True)`` these use them; until then
they send through the client's own request path, so auth, retries and errors stay the SDK's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flux_restful_client import AsyncClient, OutputLine

__all__ = ["EventlogEntry", "job_eventlog", "labelled_output"]


@dataclass(frozen=True)
class EventlogEntry:
    """One entry of a job's eventlog."""

    name: str
    """Event name (``submit``, ``alloc``, ``start``, ``finish``, ``clean``...)."""
    timestamp: float | None
    """When it happened (epoch seconds)."""
    context: dict[str, Any]
    """The event's context object."""


async def _get(client: AsyncClient, path: str, params: dict[str, str] | None = None) -> Any:
    response = await client._send(client._build("GET", path, params=params))  # noqa: SLF001
    return client._json(response)  # noqa: SLF001


async def job_eventlog(client: AsyncClient, job_id: int) -> list[EventlogEntry]:
    """The job's eventlog, oldest first.

    Raises:
        FluxRestfulError: The server refused or could not be reached.
    """
    method = getattr(client, "get_job_events", None)
    body = (
        await method(job_id) if method is not None else await _get(client, f"jobs/{job_id}/events")
    )
    items = body.get("events", []) if isinstance(body, dict) else body
    entries = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        ts = item.get("timestamp", item.get("t"))
        entries.append(
            EventlogEntry(
                name=str(item.get("name", item.get("event", ""))),
                timestamp=float(ts) if isinstance(ts, int | float) else None,
                context=dict(item.get("context") or {}),
            )
        )
    return entries


async def labelled_output(client: AsyncClient, job_id: int) -> list[OutputLine]:
    """The job's output so far with stream, rank and time (``[]`` before any output).

    Raises:
        FluxRestfulError: The server refused or could not be reached.
    """
    body = await _get(client, f"jobs/{job_id}/output", {"labels": "true"})
    output = body.get("Output") if isinstance(body, dict) else None
    lines = []
    for item in output or []:
        if isinstance(item, str):
            lines.append(OutputLine(data=item))
        elif isinstance(item, dict):
            t = item.get("t")
            lines.append(
                OutputLine(
                    data=str(item.get("data", "")),
                    stream=str(item.get("stream") or "stdout"),
                    rank=int(item.get("rank") or 0),
                    t=float(t) if isinstance(t, int | float) else None,
                )
            )
    return lines
