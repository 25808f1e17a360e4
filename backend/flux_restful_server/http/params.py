"""Reading a request's parameters: query booleans and integers, job ids, search expressions.

Every one is bounded before it is used, and every refusal is a 400 with the reason.
"""

from __future__ import annotations

from urllib.parse import unquote

from ..domain.ids import parse_job_id
from ..errors import BadRequest
from ..limits import LimitError, bounded_int, compile_search
from ..settings import SettingsError, parse_bool
from .context import AppRequest

__all__ = ["check_search_regex", "job_id_arg", "query_bool", "query_int"]


def query_bool(request: AppRequest, *names: str, default: bool = False) -> bool:
    """Read the first of ``names`` from the query string as a boolean (400 when it is not one)."""
    for name in names:
        value = request.args.get(name)
        if value is not None:
            try:
                return parse_bool(value, name=name)
            except SettingsError as exc:
                raise BadRequest(str(exc)) from None
    return default


def query_int(request: AppRequest, name: str, *, minimum: int = 0) -> int | None:
    """Read an optional integer from the query string, ``minimum`` to :data:`MAX_INT` (else 400)."""
    value = request.args.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        return bounded_int(value, name, minimum=minimum)
    except LimitError as exc:
        raise BadRequest(str(exc)) from None


def check_search_regex(pattern: str) -> None:
    """Refuse a search expression RE2 cannot run, or one over the length limit (400)."""
    try:
        compile_search(pattern)
    except LimitError as exc:
        raise BadRequest(str(exc)) from None


def job_id_arg(text: str) -> int:
    """Decode a job id from the path (400 with the reason when it is malformed).

    Sanic hands path parameters over still percent-encoded, so an f58 id (``ƒ...``) arrives
    as ``%C6%92...``: decode it first.
    """
    return parse_job_id(unquote(text))
