"""Reading the API's answers: JSON, models, or the exception of the tree that matches.

:func:`raise_for_status` maps every error shape the two servers send (ours: ``detail`` and
``code``; upstream's: ``Message`` and ``Errors``; a proxy's HTML) to one :class:`ApiError`
subclass. :class:`ResponseParsing` turns each answer into the model a typed method returns, and
anything that is not a Flux RESTful API's answer into :class:`UnexpectedAnswerError`.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from ._auth import FluxAuth
from ._exceptions import (
    ApiError,
    AuthError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from ._server import describe_answer, not_the_api
from ._types import JSON
from .models import (
    BatchResult,
    CancelResult,
    DryRun,
    Identity,
    JobEvent,
    JobInfo,
    Node,
    OutputLine,
    PersonalToken,
    SignalResult,
    UrgencyChange,
)

__all__ = ["NO_JOB_MESSAGE", "ResponseParsing", "decode", "raise_for_status", "retry_after"]

T = TypeVar("T")

NO_JOB_MESSAGE = "There is no job for that identifier."
"""What the upstream client prints when a job does not exist."""
# What a model's ``from_json`` raises on JSON of another shape.
_MISFITS = (KeyError, TypeError, ValueError, AttributeError)


def _message_from_body(body: Any) -> tuple[str, str]:
    """Return (message, code) from any of the API's error shapes."""
    if not isinstance(body, dict):
        return (str(body) if body not in (None, "") else "", "")
    code = body.get("code") if isinstance(body.get("code"), str) else ""
    parts: list[str] = []
    detail = body.get("detail")
    if isinstance(detail, str):
        parts.append(detail)
    elif isinstance(detail, list):
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p not in ("query", "body"))
                parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
    if isinstance(body.get("Message"), str):
        parts.append(body["Message"])
    errors = body.get("Errors")
    if isinstance(errors, list) and errors:
        parts.append("; ".join(str(e) for e in errors))
    if isinstance(body.get("Error"), str):
        parts.append(body["Error"])
    return (" ".join(p.rstrip() for p in parts if p) or "", str(code or ""))


def decode(response: httpx.Response) -> tuple[bool, Any]:
    """``(True, the JSON value)``, or ``(False, the text)`` when the body is not JSON."""
    try:
        return True, response.json()
    except ValueError:
        return False, response.text


def _body(response: httpx.Response) -> Any:
    return decode(response)[1]


def raise_for_status(response: httpx.Response) -> None:
    """Raise the exception of the tree that matches an error response (its body must be read).

    Raises:
        AuthError: 401.
        ForbiddenError: 403.
        NotFoundError: 404.
        InvalidRequestError: Any other 4xx.
        ServerError: 5xx.
    """
    status = response.status_code
    if status < 400:
        return
    body = _body(response)
    message, code = _message_from_body(body)
    if not isinstance(body, dict | list):
        # Not the API's JSON: a proxy's or another server's page. Say where and what it was.
        message = (
            f"{response.request.method} {response.request.url} answered {describe_answer(response)}"
        )
    message = message or response.reason_phrase
    cls: type[ApiError]
    if status == 401:
        cls = AuthError
        message += (
            " (the server requires authentication: set FLUX_USER and FLUX_TOKEN, "
            "and FLUX_SECRET_KEY for the token handshake, or run 'flux-restful-cli login')"
        )
    elif status == 403:
        cls = ForbiddenError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        raise RateLimitedError(
            f"{message} (HTTP {status})",
            status_code=status,
            code=code or "too_many_requests",
            detail=body,
            response=response,
            retry_after=retry_after(response),
        )
    elif status >= 500:
        cls = ServerError
    else:
        cls = InvalidRequestError
    raise cls(
        f"{message} (HTTP {status})",
        status_code=status,
        code=code or response.reason_phrase.lower().replace(" ", "_"),
        detail=body,
        response=response,
    )


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks for (a number or an HTTP date), if any."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class ResponseParsing:
    """The answer of each call as its model; shared by both clients through ``BaseClient``."""

    quiet: bool
    """Whether upstream's notices are silenced."""
    auth: FluxAuth
    """The authentication flow, which reads login answers."""

    def _compat(self, response: httpx.Response, *, none_on_404: bool = False) -> JSON:
        """Upstream's contract: the JSON body, also for API refusals (400/404...).

        Authentication, permission and server failures raise; a 404 for a job prints
        upstream's notice and returns ``None`` where upstream did.
        """
        if response.status_code in (401, 403) or response.status_code >= 500:
            raise_for_status(response)
        if response.status_code == 404 and none_on_404:
            if not self.quiet:
                print(NO_JOB_MESSAGE)  # noqa: T201 - upstream prints this notice
            return None
        is_json, body = decode(response)
        if response.status_code >= 400 and not isinstance(body, dict):
            raise_for_status(response)
        if response.content and not is_json:
            raise not_the_api(response)
        return body if response.content else None

    @staticmethod
    def _json(response: httpx.Response) -> JSON:
        raise_for_status(response)
        if not response.content:
            return None
        is_json, body = decode(response)
        if not is_json:
            raise not_the_api(response)
        return body

    def _parse_as(self, response: httpx.Response, build: Callable[[Any], T]) -> T:
        """The answer built by ``build`` (a model's ``from_json``); ``not_the_api`` on a misfit."""
        body = self._json(response)
        try:
            return build(body)
        except _MISFITS:
            raise not_the_api(response) from None

    def _parse_job(self, response: httpx.Response) -> JobInfo:
        return self._parse_as(response, JobInfo.from_json)

    def _parse_jobs(self, response: httpx.Response) -> list[JobInfo]:
        return self._parse_as(response, _jobs_from_json)

    def _parse_submit(self, response: httpx.Response) -> int:
        body = self._json(response)
        try:
            return int(body["id"])
        except (KeyError, TypeError, ValueError):
            raise ApiError(
                f"Unexpected submit answer: {body!r}",
                status_code=response.status_code,
                code="unexpected_answer",
                detail=body,
                response=response,
            ) from None

    def _parse_batch(self, response: httpx.Response) -> BatchResult:
        """The batch answer; a 400 that carries per-entry results is an answer, not an error."""
        is_json, body = decode(response)
        if not (response.status_code == 400 and isinstance(body, dict) and "results" in body):
            body = self._json(response)
        try:
            return BatchResult.from_json(
                body, replayed=response.headers.get("Idempotent-Replayed") == "true"
            )
        except _MISFITS:
            raise not_the_api(response) from None

    def _parse_dry_run(self, response: httpx.Response) -> DryRun:
        return self._parse_as(response, DryRun.from_json)

    def _parse_urgency(self, response: httpx.Response) -> UrgencyChange:
        return self._parse_as(response, UrgencyChange.from_json)

    def _parse_signal(self, response: httpx.Response) -> SignalResult:
        return self._parse_as(response, SignalResult.from_json)

    def _parse_bulk_cancel(self, response: httpx.Response) -> CancelResult:
        return self._parse_as(response, CancelResult.from_json)

    def _parse_output(self, response: httpx.Response) -> list[str]:
        return self._parse_as(response, _output_from_json)

    def _parse_labelled_output(self, response: httpx.Response) -> list[OutputLine]:
        return self._parse_as(
            response, lambda body: [OutputLine.from_json(item) for item in _output_items(body)]
        )

    def _parse_job_events(self, response: httpx.Response) -> list[JobEvent]:
        return self._parse_as(response, _job_events_from_json)

    def _parse_nodes(self, response: httpx.Response) -> list[Node]:
        return self._parse_as(response, _nodes_from_json)

    def _parse_token(self, response: httpx.Response) -> str:
        return self.auth.parse_login_response(response)

    def _parse_identity(self, response: httpx.Response) -> Identity:
        body = self._json(response)
        if not isinstance(body, Mapping):
            raise not_the_api(response)
        return Identity.from_json(body)

    def _parse_personal_token(self, response: httpx.Response) -> PersonalToken:
        return self._parse_as(response, PersonalToken.from_json)

    def _parse_personal_tokens(self, response: httpx.Response) -> list[PersonalToken]:
        return self._parse_as(
            response, lambda body: [PersonalToken.from_json(item) for item in body["tokens"]]
        )


def _jobs_from_json(body: Any) -> list[JobInfo]:
    """A listing: ``{"jobs": [...]}``, upstream's ``{id: info}``, or a bare list."""
    if isinstance(body, dict):
        body = body.get("jobs", list(body.values()))
    return [JobInfo.from_json(item) for item in body]


def _output_items(body: Any) -> list[Any]:
    output = body.get("Output") if isinstance(body, dict) else None
    return output if isinstance(output, list) else []


def _output_from_json(body: Any) -> list[str]:
    return [
        item if isinstance(item, str) else str(item.get("data", "")) for item in _output_items(body)
    ]


def _job_events_from_json(body: Any) -> list[JobEvent]:
    items = body.get("events") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return []
    return [JobEvent.from_json(item) for item in items if isinstance(item, Mapping)]


def _nodes_from_json(body: Any) -> list[Node]:
    detail = body.get("detail")
    if isinstance(detail, list):  # ``detail=true``: per-node resources
        return [Node.from_json(item) for item in detail]
    return [Node.from_json(item) for item in body.get("nodes", [])]
