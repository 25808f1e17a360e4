"""What a call was given, checked and encoded before anything is sent.

A job id, a command, the submit fields, a duration or the filters of a bulk cancel that the server
would refuse are refused here, as :class:`InvalidRequestError`, before a request exists. The submit
has one encoding every server reads (:func:`submit_encoding`), and carries an ``Idempotency-Key``
that lets a retry of it be answered with the first attempt's job (:func:`keyed`).
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from ._exceptions import InvalidRequestError
from ._types import CommandInput, DurationInput, JobId

__all__ = [
    "IDEMPOTENCY_HEADER",
    "MAX_SUBMIT_URL",
    "SUBMIT_FIELDS",
    "bulk_cancel_body",
    "invalid",
    "job_path",
    "keyed",
    "parse_duration",
    "submit_encoding",
    "submit_payload",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
"""A request carrying this header may be sent twice: the server answers the first one again."""

_INT_FIELDS = ("num_tasks", "cores_per_task", "gpus_per_task", "num_nodes", "runtime", "urgency")
_BOOL_FIELDS = ("exclusive", "is_launcher")
_STR_FIELDS = ("workdir", "name", "webhook_url", "queue")
SUBMIT_FIELDS = frozenset(
    (*_INT_FIELDS, *_BOOL_FIELDS, *_STR_FIELDS, "option_flags", "envars", "dependency")
)
"""Keyword arguments ``submit`` accepts besides the command."""
MAX_SUBMIT_URL = 6000
"""Longest submit URL sent as is. Servers cap the request line (Sanic at 8 KiB with the
headers, uvicorn's h11 near 16 KiB); a longer submit goes as a JSON body to our server."""


def invalid(message: str) -> InvalidRequestError:
    """The error of an argument refused before sending (as a 400 would say it)."""
    return InvalidRequestError(message, status_code=400, code="invalid_request")


def job_path(job_id: JobId, suffix: str = "") -> str:
    """The API path of a job, ``jobs/<id><suffix>``, its id URL-quoted.

    Raises:
        InvalidRequestError: ``job_id`` is empty or not an integer or text.
    """
    if isinstance(job_id, bool) or not isinstance(job_id, int | str) or str(job_id).strip() == "":
        raise invalid(f"{job_id!r} is not a valid job id")
    return f"jobs/{quote(str(job_id).strip(), safe='')}{suffix}"


def _check_command(command: CommandInput) -> str | list[str]:
    if isinstance(command, str):
        if not command.strip():
            raise invalid("A 'command' is minimally required.")
        return command
    if isinstance(command, Iterable) and not isinstance(command, bytes | Mapping):
        argv = list(command)
        if not argv or any(
            isinstance(a, bool) or not isinstance(a, str | int | float) for a in argv
        ):
            raise invalid("A command list must be non-empty and hold only strings or numbers.")
        return [str(a) for a in argv]
    raise invalid(f"A command must be a string or a list of strings, not {type(command).__name__}")


def submit_payload(command: CommandInput, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``submit`` arguments and return the JSON payload (fields set to None omitted).

    Raises:
        TypeError: An unknown keyword argument.
        InvalidRequestError: A value has the wrong type.
    """
    unknown = sorted(set(fields) - SUBMIT_FIELDS)
    if unknown:
        raise TypeError(
            f"submit() got unexpected keyword argument(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(SUBMIT_FIELDS))}"
        )
    payload: dict[str, Any] = {"command": _check_command(command)}
    for key, value in fields.items():
        if value is None:
            continue
        if key in _INT_FIELDS and (isinstance(value, bool) or not isinstance(value, int)):
            raise invalid(f"{key} must be an integer, not {value!r}")
        if key in _BOOL_FIELDS and not isinstance(value, bool):
            raise invalid(f"{key} must be true or false, not {value!r}")
        if key in _STR_FIELDS and not isinstance(value, str):
            raise invalid(f"{key} must be a string, not {value!r}")
        if key == "option_flags" and not isinstance(value, str | Mapping):
            raise invalid(f"option_flags must be 'k=v,k2=v2' or a mapping, not {value!r}")
        if key == "envars":
            if not isinstance(value, Mapping):
                raise invalid("Environment variables must be key/value pairs (dict)")
            value = {str(k): str(v) for k, v in value.items()}
        if key == "option_flags" and isinstance(value, Mapping):
            value = ",".join(f"{k}={v}" for k, v in value.items())
        if key == "dependency":
            value = _dependencies(value)
        payload[key] = value
    return payload


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: DurationInput) -> int:
    """Seconds in ``value``: seconds, a ``timedelta``, or text like ``30d``.

    Text units: ``s``, ``m``, ``h``, ``d``, ``w`` (``12h``, ``2w``, ``90m``); a bare number is
    seconds.

    Raises:
        InvalidRequestError: Not a positive duration.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise invalid(f"{value!r} is not a duration")
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        unit = _DURATION_UNITS.get(text[-1:]) if text else None
        number = text[:-1] if unit else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            raise invalid(
                f"{value!r} is not a duration: use e.g. 30d, 12h, 2w, 90m or seconds"
            ) from None
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise invalid(f"{value!r} is not a positive duration")
    return int(seconds)


def _dependencies(value: Any) -> str:
    """``afterok:1`` or a list of them, as the one comma-separated text the server reads."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or not all(isinstance(i, str) for i in items):
        raise invalid(f"dependency must be 'scheme:jobid' text or a list of them, not {value!r}")
    return ",".join(i.strip() for i in items if i.strip())


def bulk_cancel_body(
    ids: Iterable[JobId] | None, state: str | Iterable[str] | None, name: str | None,
    user: str | None, all: bool,
) -> dict[str, Any]:  # fmt: skip
    """The filters of ``cancel_jobs`` as the JSON body; refuses an empty filter before sending."""
    body: dict[str, Any] = {}
    if ids is not None:
        body["ids"] = [str(i) for i in ids]
    if state is not None:
        body["state"] = [state] if isinstance(state, str) else list(state)
    if name:
        body["name"] = name
    if user:
        body["user"] = user
    if all:
        body["all"] = True
    if not (body.get("ids") or body.get("state") or name or user or all):
        raise invalid("cancel_jobs needs at least one filter: ids, state, name, user, or all=True")
    return body


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def submit_encoding(
    command: CommandInput, fields: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str] | None]:
    """The one submit encoding every server reads: ``(query parameters, JSON body)``.

    Upstream 1.1.0 reads the fields only from the query string and takes the JSON body as the
    envars mapping; ours reads the same. An argv list travels as one ``shlex.join`` string, which
    the servers' ``shlex.split`` turns back into the same argv. Our extra fields (``name``,
    ``urgency``) are query parameters too: upstream ignores unknown ones.

    Raises:
        TypeError: An unknown keyword argument.
        InvalidRequestError: A value has the wrong type.
    """
    payload = submit_payload(command, fields)
    argv = payload.pop("command")
    envars = payload.pop("envars", None)
    params = {"command": argv if isinstance(argv, str) else shlex.join(argv)}
    params.update({key: _query_value(value) for key, value in payload.items()})
    return params, (envars or None)


def keyed(request: httpx.Request, key: str | None) -> httpx.Request:
    """``request`` with an ``Idempotency-Key``: ``key``, else a fresh random one."""
    request.headers[IDEMPOTENCY_HEADER] = key or uuid.uuid4().hex
    return request
