"""Who is asking for a page, and which job they may see: every refusal as an HTML error page.

The request layer (``http``) answers in JSON; a page answers the same refusals with a page a
person can read, through :class:`PageError`. Pages authenticate like the API (HTTP Basic on
password backends) and answer 401 with a Basic challenge, so the browser prompts and then sends
the same credentials on the pages' API calls.
"""

from __future__ import annotations

from sanic.response import HTTPResponse

from ..auth import AuthLayerError, Principal, auth_service, authenticate
from ..domain.ids import InvalidJobId
from ..domain.record import JobRecord
from ..errors import AppError
from ..http import AppRequest, job_id_arg, visible_job
from . import csrf
from .render import join, page, tag

__all__ = [
    "REALM",
    "PageError",
    "caller",
    "check_csrf",
    "page_job_id",
    "render_page_error",
    "visible",
]

REALM = 'Basic realm="Flux RESTful", charset="UTF-8"'
"""The Basic challenge of the pages (UTF-8 so non-ASCII passwords work)."""


class PageError(AppError):
    """Stop handling a page and answer with an HTML error page (a branch of ``AppError``)."""

    code = "page_error"

    def __init__(
        self, status: int, title: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, status_code=status, headers=headers or {})
        self.status = status
        """HTTP status of the page."""
        self.title = title
        """The page's heading."""


async def render_page_error(request: AppRequest, exc: PageError) -> HTTPResponse:
    """The HTML page of a :class:`PageError`, with its status and headers."""
    body = join([tag("h1", exc.title), tag("p", str(exc), class_="error")])
    return page(exc.title, body, status=exc.status, headers=exc.headers)


async def caller(request: AppRequest) -> Principal:
    """Authenticate a page request; 401 with a Basic challenge when credentials are missing.

    Raises:
        PageError: Not authenticated (401) or not allowed (403).
    """
    try:
        return await authenticate(request)
    except AuthLayerError as exc:
        service = auth_service(request.app)
        if exc.status_code == 429:
            raise PageError(429, "Too many requests", str(exc), dict(exc.headers)) from None
        if exc.status_code != 401:
            raise PageError(exc.status_code, "Not allowed", str(exc)) from None
        if not service.password_login:
            raise PageError(
                401,
                "Sign-in not available",
                "The web interface signs in with a user name and password, which this server's "
                f"auth backend ({service.backend}) does not accept. Use the API with a token.",
            ) from None
        raise PageError(
            401,
            "Sign in required",
            "This server requires a user name and password. Reload the page to sign in.",
            headers={"WWW-Authenticate": REALM},
        ) from None


def page_job_id(text: str) -> int:
    """Decode a job id from a page's path exactly as the API does (``ƒ...`` included).

    Raises:
        PageError: 400 with the reason when it is malformed.
    """
    try:
        return job_id_arg(text)
    except InvalidJobId as exc:
        raise PageError(400, "Invalid job id", str(exc)) from None


async def visible(request: AppRequest, principal: Principal, job_id: int) -> JobRecord:
    """The job's record if the caller may see it.

    Raises:
        PageError: 404 when it does not exist or belongs to someone else.
    """
    try:
        return await visible_job(request, principal, job_id)
    except AppError as exc:
        raise PageError(exc.status_code, "Job not found", f"Job {job_id} not found") from None


def check_csrf(request: AppRequest) -> None:
    """Refuse a POST that does not carry this browser's CSRF token.

    Raises:
        PageError: 403 with the reason.
    """
    try:
        csrf.check(request)
    except csrf.CsrfRejected as exc:
        raise PageError(403, "Request refused", str(exc)) from None
