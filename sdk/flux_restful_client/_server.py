"""Knowing the server: what ``GET /v1/auth`` says it is, and stand-ins for what upstream lacks.

The stand-in that runs on the client: job filters (resuming upstream's output stream is a reader in
``_streams.py``).

IO-free, like ``_base.py``: the clients send the requests and feed the answers in here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ._exceptions import UnexpectedAnswerError
from .models import FEATURES, OURS, UPSTREAM, JobInfo, ServerInfo

__all__ = ["describe_answer", "filter_jobs", "not_the_api", "parse_server_info"]

_STATE_GROUPS = {
    "ACTIVE": {"DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP"},
    "PENDING": {"DEPEND", "PRIORITY", "SCHED"},
    "RUNNING": {"RUN", "CLEANUP"},
}
_RESULTS = {"COMPLETED", "FAILED", "CANCELED", "TIMEOUT"}


def describe_answer(response: httpx.Response) -> str:
    """Describe an answer that is not the API's JSON (status, content type, its start)."""
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    text = " ".join(response.text[:120].split())
    return f"HTTP {response.status_code} {kind}" + (f": {text!r}" if text else " (empty)")


def not_the_api(response: httpx.Response) -> UnexpectedAnswerError:
    """The error for an answer that is not what a Flux RESTful API sends."""
    return UnexpectedAnswerError(
        f"{response.request.url} does not answer as a Flux RESTful API "
        f"({describe_answer(response)}). Is the host right (FLUX_RESTFUL_HOST / --host), "
        "with no proxy in the way?",
        url=str(response.request.url),
        status_code=response.status_code,
    )


def parse_server_info(host: str, response: httpx.Response) -> ServerInfo:
    """Tell which server answered ``GET /v1/auth`` (its body must be read).

    Ours answers with a ``server`` object (name, version, features); upstream 1.1.0 with its auth
    description only; upstream before 1.1.0 has no such route (FastAPI's 404 ``{"detail": "Not
    Found"}``). Anything else is not a Flux RESTful API.

    Raises:
        UnexpectedAnswerError: HTML, a proxy's error page, or JSON of a shape we do not know.
    """
    try:
        body: Any = response.json()
    except ValueError:
        raise not_the_api(response) from None
    if response.status_code == 404 and body == {"detail": "Not Found"}:
        return ServerInfo(url=host, kind=UPSTREAM, features=frozenset({"password_login"}))
    if response.status_code != 200 or not isinstance(body, dict) or "backend" not in body:
        raise not_the_api(response)
    server = body.get("server")
    if isinstance(server, dict) and server.get("name") == OURS:
        offered = server.get("features")
        features = (
            frozenset(f for f in offered if f in FEATURES) if isinstance(offered, list) else ()
        )
        version = server.get("version")
        return ServerInfo(
            url=host,
            kind=OURS,
            version=version if isinstance(version, str) else None,
            features=frozenset(features),
            auth=body,
        )
    login = {"password_login"} if body.get("password_login") else set()
    return ServerInfo(url=host, kind=UPSTREAM, features=frozenset(login), auth=body)


def _wanted_states(value: str) -> tuple[set[str], set[str]]:
    states: set[str] = set()
    results: set[str] = set()
    for word in (w.strip().upper() for w in value.split(",")):
        if word in _RESULTS:
            states.add("INACTIVE")
            results.add(word)
        elif word in _STATE_GROUPS:
            states |= _STATE_GROUPS[word]
        elif word:
            states.add(word)
    return states, results


def filter_jobs(jobs: Iterable[JobInfo], filters: Mapping[str, Any]) -> list[JobInfo]:
    """Apply ``list_jobs`` filters on the client, for a server that ignores them (upstream).

    The same meaning as our server's: ``state`` (names, results or ``active``/``pending``/
    ``running``, comma-separated), ``user``, ``name`` (substring), ``since`` (epoch seconds),
    ``after`` (the id listed before the first one wanted) and ``limit``, newest first.
    """
    selected = sorted(jobs, key=lambda job: job.t_submit or 0.0, reverse=True)
    if filters.get("state"):
        states, results = _wanted_states(str(filters["state"]))
        selected = [
            j
            for j in selected
            if j.state in states and (not results or j.state != "INACTIVE" or j.result in results)
        ]
    if filters.get("user"):
        selected = [j for j in selected if j.user == filters["user"]]
    if filters.get("name"):
        selected = [j for j in selected if str(filters["name"]) in j.name]
    if filters.get("since") is not None:
        selected = [j for j in selected if (j.t_submit or 0.0) >= float(filters["since"])]
    if filters.get("after") is not None:
        ids = [str(j.id) for j in selected]
        after = str(filters["after"])
        selected = selected[ids.index(after) + 1 :] if after in ids else []
    if filters.get("limit") is not None:
        selected = selected[: int(filters["limit"])]
    return selected
