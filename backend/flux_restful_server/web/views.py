"""The web UI blueprint: home, live jobs table, submit form, job detail, cancel (API.md "Web UI").

Pages authenticate like the API (HTTP Basic on password backends) and answer 401 with a Basic
challenge, so the browser prompts and then sends the same credentials on the pages' API calls.
Everything shown is escaped; forms are CSRF-protected; messages after a redirect are fixed
texts chosen by a code, never text taken from the URL.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from sanic import Blueprint
from sanic.response import HTTPResponse, redirect

from ..auth import AuthLayerError, Principal, auth_service, authenticate
from ..domain.errors import JobInactive, JobNotFound, SubmitRefused, UnsatisfiableRequest
from ..domain.ids import InvalidJobId
from ..domain.query import Page
from ..domain.record import JobRecord
from ..errors import AppError, BadRequest
from ..http import AppRequest, caller_filter, job_id_arg, visible_job
from ..jobs.info import job_info
from ..jobs.submit import MISSING_COMMAND, SubmitError, SubmitPolicy, parse_submit
from ..limits import LimitError, bounded_int
from . import csrf
from .assets import static_response
from .render import Safe, esc, fill, join, page, tag

web_bp = Blueprint("web")

PAGE_SIZE = 50
REALM = 'Basic realm="Flux RESTful", charset="UTF-8"'
MESSAGES = {
    "submitted": "Your job was submitted.",
    "launcher": "Your launcher was submitted; the jobs it spawns appear in the jobs table.",
    "cancel-requested": "Job is requested to cancel.",
    "cancel-inactive": "Job cannot be cancelled: job is inactive.",
}
"""Messages a redirect can ask a page to show, by code (never text from the URL)."""

SUBMIT_TEXT_FIELDS = (
    "command",
    "name",
    "workdir",
    "runtime",
    "num_tasks",
    "cores_per_task",
    "gpus_per_task",
    "num_nodes",
    "urgency",
    "option_flags",
    "envars",
)
SUBMIT_CHECKBOXES = ("exclusive", "is_launcher")


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
    body = join([tag("h1", exc.title), tag("p", str(exc), class_="error")])
    return page(exc.title, body, status=exc.status, headers=exc.headers)


web_bp.exception(PageError)(render_page_error)


async def caller(request: AppRequest) -> Principal:
    """Authenticate a page request; 401 with a Basic challenge when credentials are missing.

    Raises:
        PageError: Not authenticated (401) or not allowed (403).
    """
    try:
        return await authenticate(request)
    except AuthLayerError as exc:
        service = auth_service(request.app)
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


def user_of(principal: Principal) -> str | None:
    return principal.name


def flash(request: AppRequest) -> str | None:
    code = request.args.get("msg")
    return MESSAGES.get(code) if code else None


def local_path(target: str | None) -> str:
    """A redirect target that stays on this server (anything else becomes ``/``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 for c in target):
        return "/"
    return target


def job_id_from_path(text: str) -> int:
    try:
        return job_id_arg(text)
    except InvalidJobId as exc:
        raise PageError(400, "Invalid job id", str(exc)) from None


async def visible(request: AppRequest, principal: Principal, job_id: int) -> JobRecord:
    try:
        return await visible_job(request, principal, job_id)
    except AppError as exc:
        raise PageError(exc.status_code, "Job not found", f"Job {job_id} not found") from None


def when(timestamp: Any) -> str:
    """An epoch time as ``YYYY-MM-DD HH:MM:SS UTC`` (empty when unset)."""
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(timestamp)))


def seconds(value: Any) -> str:
    if value in ("", None):
        return ""
    return f"{float(value):.1f}s"


def badge(kind: str, value: Any) -> Safe:
    text = str(value) if value not in ("", None) else "-"
    return tag("span", text, class_=f"badge {kind}-{text.lower()}")


# -- static files and home -----------------------------------------------------------------


@web_bp.get("/static/<name:str>")
async def static(request: AppRequest, name: str) -> HTTPResponse:
    response = static_response(name, request.headers.get("if-none-match"))
    if response is None:
        raise PageError(404, "Not found", f"There is no static file {name!r}.")
    return response


@web_bp.get("/")
async def home(request: AppRequest) -> HTTPResponse:
    service = auth_service(request.app)
    user = None
    if service.enabled and request.headers.get("authorization"):
        with contextlib.suppress(AuthLayerError):
            user = (await authenticate(request)).name
    limits = request.app.ctx.jobs.limits()
    if not service.enabled:
        auth_text = "Authentication is off: everyone may submit and see all jobs."
    elif service.password_login:
        auth_text = (
            f"Sign in with your user name and password ({service.backend} backend); "
            "you see your own jobs."
        )
    else:
        auth_text = (
            f"This server uses the {service.backend} backend: the web pages cannot sign you in; "
            "use the API, the CLI or the terminal dashboard with a token."
        )
    signin = (
        tag("a", "Sign in", href="/login?next=/jobs", class_="button")
        if service.enabled and service.password_login and user is None
        else ""
    )
    body = fill(
        "home.html",
        {
            "nodes": limits.nodes,
            "cores": limits.cores_per_node,
            "gpus": limits.gpus_per_node,
            "mode": request.app.ctx.settings.server_mode,
            "auth": auth_text,
            "signin": signin,
        },
    )
    return page("Home", body, user=user, active="home", message=flash(request))


@web_bp.get("/login")
async def login(request: AppRequest) -> HTTPResponse:
    """Ask for Basic credentials here (directory ``/``) so the browser reuses them everywhere."""
    await caller(request)
    return redirect(local_path(request.args.get("next")), status=303)


# -- jobs table ----------------------------------------------------------------------------

JOB_COLUMNS = (
    "ID",
    "Name",
    "User",
    "State",
    "Result",
    "Return code",
    "Runtime",
    "Tasks",
    "Submitted",
)


def job_row(info: dict[str, Any]) -> Safe:
    cells = [
        tag("a", info["id"], href=f"/job/{info['id']}"),
        esc(info.get("name")),
        esc(info.get("user") or ""),
        badge("state", info["state"]),
        badge("result", info["result"]) if info["result"] else esc(""),
        esc(info.get("returncode")),
        esc(seconds(info.get("runtime"))),
        esc(info.get("ntasks")),
        esc(when(info.get("t_submit"))),
    ]
    return tag("tr", join(tag("td", c) for c in cells))


@web_bp.get("/jobs")
async def jobs(request: AppRequest) -> HTTPResponse:
    principal = await caller(request)
    executor = request.app.ctx.jobs
    query = (request.args.get("q") or "").strip()
    try:
        start = bounded_int(request.args.get("start") or "0", "start")
    except LimitError:
        start = 0
    total = await executor.count(caller_filter(principal))
    records = await executor.query(
        caller_filter(principal, text=query or None), Page(limit=PAGE_SIZE, offset=start)
    )
    rows = join(job_row(job_info(r)) for r in records)
    if not records:
        rows = tag("tr", tag("td", "No jobs yet." if not query else "No matching jobs.", colspan=9))
    body = fill(
        "jobs.html",
        {
            "query": query,
            "start": start,
            "page_size": PAGE_SIZE,
            "total": total,
            "head": join(tag("th", c, scope="col") for c in JOB_COLUMNS),
            "rows": rows,
        },
    )
    return page("Jobs", body, user=user_of(principal), active="jobs", message=flash(request))


# -- submit --------------------------------------------------------------------------------


def _policy(request: AppRequest) -> SubmitPolicy:
    settings = request.app.ctx.settings
    limits = request.app.ctx.jobs.limits()
    return SubmitPolicy(
        limits,
        settings.has_gpus or limits.gpus_per_node > 0,
        settings.number_nodes,
        settings.option_flags,
    )


def parse_envars(text: str) -> tuple[dict[str, str], list[str]]:
    """Read ``KEY=value`` lines (blank lines and ``#`` comments skipped)."""
    env: dict[str, str] = {}
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            errors.append(f"Environment line {number} must look like KEY=value, not {line!r}")
            continue
        env[key] = value
    return env, errors


def submit_form(
    request: AppRequest,
    token: str,
    values: dict[str, str],
    errors: list[str],
) -> Safe:
    policy = _policy(request)
    gpus = policy.has_gpus
    max_nodes = policy.number_nodes or policy.limits.nodes

    def checked(name: str) -> Safe:
        return Safe(" checked") if values.get(name) else Safe("")

    error_list = (
        tag(
            "div",
            join(
                [
                    tag("p", "The job was not submitted:"),
                    tag("ul", join(tag("li", e) for e in errors)),
                ]
            ),
            class_="errors",
            role="alert",
        )
        if errors
        else ""
    )
    fields = {name: values.get(name, "") for name in SUBMIT_TEXT_FIELDS}
    return fill(
        "submit.html",
        {
            **fields,
            "csrf_field": csrf.FIELD,
            "csrf_token": token,
            "errors": error_list,
            "exclusive_checked": checked("exclusive"),
            "is_launcher_checked": checked("is_launcher"),
            "max_nodes": max_nodes,
            "cores": policy.limits.cores_per_node,
            "gpus_disabled": Safe("") if gpus else Safe(" disabled"),
            "gpus_note": "" if gpus else "This server has no GPUs.",
        },
    )


@web_bp.get("/jobs/submit")
async def submit_page(request: AppRequest) -> HTTPResponse:
    principal = await caller(request)
    token, new = csrf.token(request)
    body = submit_form(request, token, {}, [])
    response = page("Submit a job", body, user=user_of(principal), active="submit")
    if new:
        csrf.remember(request, response, token)
    return response


@web_bp.post("/jobs/submit")
async def submit(request: AppRequest) -> HTTPResponse:
    principal = await caller(request)
    check_csrf(request)
    form = request.form
    values = {name: ((form.get(name) if form else None) or "") for name in SUBMIT_TEXT_FIELDS}
    for name in SUBMIT_CHECKBOXES:
        values[name] = "on" if form and form.get(name) else ""
    fields: dict[str, Any] = {k: v for k, v in values.items() if v.strip() != ""}
    envars, errors = parse_envars(values["envars"])
    fields["envars"] = envars
    job_request = None
    try:
        job_request = parse_submit(fields, _policy(request))
    except SubmitError as exc:
        errors = [*errors, *exc.errors]
    if job_request is not None and not errors:
        try:
            job_id = await request.app.ctx.jobs.submit(job_request, principal.owner)
        except (UnsatisfiableRequest, SubmitRefused) as exc:
            errors.append(str(exc))
        else:
            code = "launcher" if job_request.is_launcher else "submitted"
            return redirect(f"/job/{job_id}?msg={code}", status=303)
    if MISSING_COMMAND in errors:
        errors = [
            ("Please enter a command. " + MISSING_COMMAND) if e == MISSING_COMMAND else e
            for e in errors
        ]
    token, new = csrf.token(request)
    body = submit_form(request, token, values, errors)
    response = page("Submit a job", body, user=user_of(principal), active="submit", status=400)
    if new:
        csrf.remember(request, response, token)
    return response


def check_csrf(request: AppRequest) -> None:
    try:
        csrf.check(request)
    except csrf.CsrfRejected as exc:
        raise PageError(403, "Request refused", str(exc)) from None


# -- job detail and cancel -----------------------------------------------------------------


def _detail_rows(info: dict[str, Any]) -> Safe:
    nodes = info.get("nnodes")
    if info.get("nodelist"):
        nodes = f"{nodes} ({info['nodelist']})"
    exception = info.get("exception") or {}
    rows: list[tuple[str, Any, str]] = [
        ("ID", info["id"], "id"),
        ("Name", info.get("name"), "name"),
        ("User", info.get("user") or "", "user"),
        ("State", badge("state", info["state"]), "state"),
        ("Result", badge("result", info["result"]) if info["result"] else "", "result"),
        ("Return code", info.get("returncode"), "returncode"),
        ("Runtime", seconds(info.get("runtime")), "runtime"),
        ("Tasks", info.get("ntasks"), "ntasks"),
        ("Cores", info.get("ncores"), "ncores"),
        ("Nodes", nodes, "nodes"),
        ("Ranks", info.get("ranks"), "ranks"),
        ("Urgency", info.get("urgency"), "urgency"),
        ("Priority", info.get("priority"), "priority"),
        ("Working directory", info.get("cwd"), "cwd"),
        ("Submitted", when(info.get("t_submit")), "t_submit"),
        ("Exception", exception.get("note") if exception.get("occurred") else "", "exception"),
    ]
    return join(
        tag("tr", join([tag("th", label, scope="row"), tag("td", value, data_field=key)]))
        for label, value, key in rows
    )


OUTPUT_PAGE_BYTES = 1 << 20
"""Output shown per page of the job view (``?output_page=N`` for the next ones)."""


def _output_page_number(request: AppRequest) -> int:
    text = request.args.get("output_page", "1")
    if not text.isdigit() or not 1 <= int(text) <= 10**9:
        raise BadRequest(f"output_page must be a page number (1 or more), not {text!r}")
    return int(text)


async def _output_page(request: AppRequest, jid: int, number: int) -> tuple[str, bool]:
    """Page ``number`` of the job's output as text, and whether more follows.

    The page holds the lines that begin in its 1 MiB of the output; only it is held in memory.
    """
    low, high = (number - 1) * OUTPUT_PAGE_BYTES, number * OUTPUT_PAGE_BYTES
    taken: list[bytes] = []
    position = 0
    with contextlib.suppress(JobNotFound):
        async for batch in request.app.ctx.jobs.output_batches(jid):
            for line in batch:
                start, position = position, position + len(line.data)
                if start >= high:
                    return b"".join(taken).decode("utf-8", errors="replace"), True
                if start >= low:
                    taken.append(line.data)
    return b"".join(taken).decode("utf-8", errors="replace"), False


def _output_pager(jid: int, number: int, more: bool) -> Safe:
    """Links to the previous and next pages of a long output (nothing for a short one)."""
    if number == 1 and not more:
        return Safe("")
    links = [tag("span", f"Output page {number}")]
    if number > 1:
        links.append(tag("a", "previous page", href=f"/job/{jid}?output_page={number - 1}"))
    if more:
        links.append(tag("a", "next page", href=f"/job/{jid}?output_page={number + 1}"))
    return tag("p", join(links), class_="pager", id="output-pager")


@web_bp.get("/job/<job_id:str>")
async def job_page(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await caller(request)
    jid = job_id_from_path(job_id)
    info = job_info(await visible(request, principal, jid))
    number = _output_page_number(request)
    output, more = await _output_page(request, jid, number)
    active = info["state"] != "INACTIVE"
    cancel = (
        tag("a", "Cancel job", href=f"/job/{jid}/cancel", class_="button danger", id="cancel")
        if active
        else ""
    )
    body = fill(
        "job.html",
        {
            "id": jid,
            "name": info.get("name"),
            "active": "true" if active else "false",
            "rows": _detail_rows(info),
            "cancel": cancel,
            "output": output,
            "empty": ""
            if output or active or number > 1
            else "This job did not produce any output.",
            "pager": _output_pager(jid, number, more),
        },
    )
    return page(f"Job {jid}", body, user=user_of(principal), message=flash(request))


@web_bp.get("/job/<job_id:str>/cancel")
async def cancel_confirm(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await caller(request)
    jid = job_id_from_path(job_id)
    info = job_info(await visible(request, principal, jid))
    if info["state"] == "INACTIVE":
        return redirect(f"/job/{jid}?msg=cancel-inactive", status=303)
    token, new = csrf.token(request)
    body = fill(
        "cancel.html",
        {
            "id": jid,
            "name": info.get("name"),
            "state": info["state"],
            "csrf_field": csrf.FIELD,
            "csrf_token": token,
        },
    )
    response = page(f"Cancel job {jid}", body, user=user_of(principal))
    if new:
        csrf.remember(request, response, token)
    return response


@web_bp.post("/job/<job_id:str>/cancel")
async def cancel(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await caller(request)
    check_csrf(request)
    jid = job_id_from_path(job_id)
    await visible(request, principal, jid)
    try:
        await request.app.ctx.jobs.cancel(jid)
    except JobInactive:
        return redirect(f"/job/{jid}?msg=cancel-inactive", status=303)
    except JobNotFound:
        raise PageError(404, "Job not found", f"Job {jid} not found") from None
    return redirect(f"/job/{jid}?msg=cancel-requested", status=303)
