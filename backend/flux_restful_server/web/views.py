"""The web UI blueprint: home, live jobs table, submit form, job detail, cancel (API.md "Web UI").

The views stay thin: ``access`` says who is asking and which job they may see (refusals as HTML
error pages), ``forms`` reads what the browser sent, ``format`` turns job info into markup, and
``render`` fills the templates. Submitting goes through the request layer's ``validate_submit``
and ``submit_job``, the API's own path. Everything shown is escaped; forms are CSRF-protected;
messages after a redirect are fixed texts chosen by a code, never text taken from the URL.
"""

from __future__ import annotations

import contextlib

from sanic import Blueprint
from sanic.response import HTTPResponse, redirect

from ..auth import AuthLayerError, auth_service, authenticate
from ..domain.errors import (
    ExecutorUnavailable,
    JobInactive,
    JobNotFound,
    JobStateConflict,
    SubmitRefused,
    UnsatisfiableRequest,
)
from ..domain.query import Page
from ..domain.states import JobState
from ..http import (
    AppRequest,
    caller_filter,
    check_urgency,
    submit_job,
    submit_policy,
    validate_submit,
)
from ..http.urgency import urgency_before_hold
from ..jobs.info import job_info
from ..jobs.submit import SubmitError
from ..limits import LimitError, bounded_int
from . import csrf
from .access import PageError, caller, check_csrf, page_job_id, render_page_error, visible
from .assets import static_response
from .format import (
    JOB_COLUMNS,
    auth_summary,
    detail_rows,
    flash,
    job_rows,
    output_pager,
    submit_form,
    webhook_section,
)
from .forms import SubmitForm, local_path, output_page_number
from .render import Safe, fill, join, page, tag

web_bp = Blueprint("web")
web_bp.exception(PageError)(render_page_error)

PAGE_SIZE = 50
"""Jobs per page of the jobs table."""
OUTPUT_PAGE_BYTES = 1 << 20
"""Output shown per page of the job view (``?output_page=N`` for the next ones)."""


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
            "auth": auth_summary(service),
            "signin": signin,
        },
    )
    return page("Home", body, user=user, active="home", message=flash(request.args.get("msg")))


@web_bp.get("/login")
async def login(request: AppRequest) -> HTTPResponse:
    """Ask for Basic credentials here (directory ``/``) so the browser reuses them everywhere."""
    await caller(request)
    return redirect(local_path(request.args.get("next")), status=303)


# -- jobs table ----------------------------------------------------------------------------


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
    body = fill(
        "jobs.html",
        {
            "query": query,
            "start": start,
            "page_size": PAGE_SIZE,
            "total": total,
            "head": join(tag("th", c, scope="col") for c in JOB_COLUMNS),
            "rows": job_rows((job_info(r) for r in records), searched=bool(query)),
        },
    )
    message = flash(request.args.get("msg"))
    return page("Jobs", body, user=principal.name, active="jobs", message=message)


# -- submit --------------------------------------------------------------------------------


def _submit_page(
    request: AppRequest, user: str | None, form: SubmitForm, *, status: int = 200
) -> HTTPResponse:
    token, new = csrf.token(request)
    body = submit_form(submit_policy(request), token, form.values, form.errors)
    headers = {"Retry-After": "1"} if status == 503 else None
    response = page(
        "Submit a job", body, user=user, active="submit", status=status, headers=headers
    )
    if new:
        csrf.remember(request, response, token)
    return response


@web_bp.get("/jobs/submit")
async def submit_page(request: AppRequest) -> HTTPResponse:
    principal = await caller(request)
    return _submit_page(request, principal.name, SubmitForm())


@web_bp.post("/jobs/submit")
async def submit(request: AppRequest) -> HTTPResponse:
    principal = await caller(request)
    check_csrf(request)
    form = SubmitForm.read(request.form)
    try:
        job_request = validate_submit(request, form.fields())
    except SubmitError as exc:
        form.refuse(exc.errors)
        return _submit_page(request, principal.name, form, status=400)
    if form.errors:  # the environment lines were wrong: show them, submit nothing
        return _submit_page(request, principal.name, form, status=400)
    try:
        job_id = await submit_job(request, principal, job_request)
    except (UnsatisfiableRequest, SubmitRefused) as exc:
        form.refuse([str(exc)])
        return _submit_page(request, principal.name, form, status=400)
    except ExecutorUnavailable as exc:  # as the API: never accept work that will not run
        form.refuse([str(exc)])
        return _submit_page(request, principal.name, form, status=503)
    code = "launcher" if job_request.is_launcher else "submitted"
    return redirect(f"/job/{job_id}?msg={code}", status=303)


# -- job detail and cancel -----------------------------------------------------------------


async def _output_page(request: AppRequest, job_id: int, number: int) -> tuple[str, bool]:
    """Page ``number`` of the job's output as text, and whether more follows.

    The page holds the lines that begin in its 1 MiB of the output; only it is held in memory.
    """
    low, high = (number - 1) * OUTPUT_PAGE_BYTES, number * OUTPUT_PAGE_BYTES
    taken: list[bytes] = []
    position = 0
    with contextlib.suppress(JobNotFound):
        async for batch in request.app.ctx.jobs.output_batches(job_id):
            for line in batch:
                start, position = position, position + len(line.data)
                if start >= high:
                    return b"".join(taken).decode("utf-8", errors="replace"), True
                if start >= low:
                    taken.append(line.data)
    return b"".join(taken).decode("utf-8", errors="replace"), False


PENDING = frozenset(state.name for state in JobState if state < JobState.RUN)
"""States in which a job can still be held or released."""


@web_bp.get("/job/<job_id:str>")
async def job_page(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await caller(request)
    jid = page_job_id(job_id)
    info = job_info(await visible(request, principal, jid))
    number = output_page_number(request.args.get("output_page"))
    output, more = await _output_page(request, jid, number)
    active = info["state"] != "INACTIVE"
    cancel = (
        tag("a", "Cancel job", href=f"/job/{jid}/cancel", class_="button danger", id="cancel")
        if active
        else ""
    )
    hold = Safe("")
    token, new = csrf.token(request)
    if info["state"] in PENDING:
        held = info.get("urgency") == 0
        hold = fill(
            "urgency_form.html",
            {
                "id": jid,
                "action": "release" if held else "hold",
                "label": "Release job" if held else "Hold job",
                "title": "Let it be scheduled again, at its urgency before the hold"
                if held
                else "Keep it from starting (urgency 0) until released",
                "csrf_field": csrf.FIELD,
                "csrf_token": token,
            },
        )
    body = fill(
        "job.html",
        {
            "id": jid,
            "name": info.get("name"),
            "active": "true" if active else "false",
            "rows": detail_rows(info),
            "actions": join([hold, cancel]),
            "output": output,
            "empty": ""
            if output or active or number > 1
            else "This job did not produce any output.",
            "pager": output_pager(jid, number, more),
            "webhooks": webhook_section(
                request.app.ctx.webhooks.job_deliveries(principal, jid)
                if request.app.ctx.webhooks is not None
                else []
            ),
        },
    )
    message = flash(request.args.get("msg"))
    response = page(f"Job {jid}", body, user=principal.name, message=message)
    if new:
        csrf.remember(request, response, token)
    return response


@web_bp.get("/job/<job_id:str>/cancel")
async def cancel_confirm(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await caller(request)
    jid = page_job_id(job_id)
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
    response = page(f"Cancel job {jid}", body, user=principal.name)
    if new:
        csrf.remember(request, response, token)
    return response


@web_bp.post("/job/<job_id:str>/cancel")
async def cancel(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await caller(request)
    check_csrf(request)
    jid = page_job_id(job_id)
    await visible(request, principal, jid)
    try:
        await request.app.ctx.jobs.cancel(jid)
    except JobInactive:
        return redirect(f"/job/{jid}?msg=cancel-inactive", status=303)
    except JobNotFound:
        raise PageError(404, "Job not found", f"Job {jid} not found") from None
    return redirect(f"/job/{jid}?msg=cancel-requested", status=303)


@web_bp.post("/job/<job_id:str>/hold")
async def hold(request: AppRequest, job_id: str) -> HTTPResponse:
    return await _set_urgency(request, job_id, release=False)


@web_bp.post("/job/<job_id:str>/release")
async def release(request: AppRequest, job_id: str) -> HTTPResponse:
    return await _set_urgency(request, job_id, release=True)


async def _set_urgency(request: AppRequest, job_id: str, *, release: bool) -> HTTPResponse:
    """Hold (urgency 0) or release a pending job, as ``POST /v1/jobs/{id}/hold|release``."""
    principal = await caller(request)
    check_csrf(request)
    jid = page_job_id(job_id)
    await visible(request, principal, jid)
    try:
        urgency = await urgency_before_hold(request, jid) if release else 0
        check_urgency(principal, urgency)
        await request.app.ctx.jobs.set_urgency(jid, urgency)
    except (JobInactive, JobStateConflict):
        return redirect(f"/job/{jid}?msg=urgency-not-pending", status=303)
    except JobNotFound:
        raise PageError(404, "Job not found", f"Job {jid} not found") from None
    return redirect(f"/job/{jid}?msg={'released' if release else 'held'}", status=303)
