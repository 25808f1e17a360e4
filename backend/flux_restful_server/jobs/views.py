"""The jobs blueprint: submit, list, search, info, cancel and output (API.md "Jobs")."""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import orjson
from sanic import Blueprint
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from ..auth import Principal, authenticate
from ..domain.errors import (
    JobInactive,
    JobNotFound,
)
from ..domain.ids import parse_job_id
from ..domain.query import JobFilter, Page
from ..domain.states import JobResult, JobState
from ..errors import BadRequest, job_not_found
from ..http import (
    AppRequest,
    caller_filter,
    check_search_regex,
    encode,
    job_id_arg,
    query_bool,
    query_int,
    raw_json,
    submit_policy,
    validate_submit,
    visible_job,
)
from ..limits import show
from ..schemas import (
    BATCH_ANSWER,
    BATCH_BODY,
    BATCH_REFUSED,
    CANCEL_REFUSED,
    CANCELLED,
    ERROR,
    JOB_INFO,
    JOB_LIST,
    JOBSPEC_BODY,
    OUTPUT,
    SEARCH,
    SUBMIT_ANSWER,
    SUBMIT_BODY,
    SUBMIT_INVALID,
    SUBMIT_REFUSED,
    answers,
    int_param,
    json_body,
)
from ..webhooks.subscribe import attach_submit_hook, submit_hook
from .idempotency import HEADER, REPLAYED
from .info import job_info
from .jobspec import jobspec_request, load_jobspec, with_queue
from .rows import detail_listing, keep_info, summary_listing
from .submit import SubmitError, collect_fields, is_json, unread_body
from .submitting import (
    INVALID,
    dry_run_flag,
    submit_one,
    submit_refusal,
)
from .submitting import (
    submit_batch as batch_submit,
)

jobs_bp = Blueprint("jobs", url_prefix="/v1/jobs")

STATE_GROUPS: dict[str, frozenset[JobState]] = {
    "ACTIVE": frozenset(s for s in JobState if s is not JobState.INACTIVE),
    "PENDING": frozenset({JobState.DEPEND, JobState.PRIORITY, JobState.SCHED}),
    "RUNNING": frozenset({JobState.RUN, JobState.CLEANUP}),
}
"""Shorthands accepted by the ``state`` filter."""

NO_OUTPUT = "The output does not exist yet, or the jobid is incorrect."
SUBMIT_FIELDS = {
    "command": "The command: a string (split like a shell would, never run by one) or a list.",
    "num_tasks": "Number of tasks (processes), default 1.",
    "cores_per_task": "Cores per task, default 1.",
    "gpus_per_task": "GPUs per task (only on servers with GPUs).",
    "num_nodes": "Nodes to spread the tasks over.",
    "exclusive": "Allocate whole nodes (needs num_nodes).",
    "option_flags": "Job shell options, 'key=value,key2=value2' (no -o prefix).",
    "envars": "Environment variables (a JSON object).",
    "workdir": "Working directory of the tasks.",
    "runtime": "Time limit in seconds; 0 means none.",
    "is_launcher": "Run a workflow launcher (tracked as a job).",
    "name": "Job name (default: the program's name).",
    "urgency": "Urgency 0-31, default 16; 0 holds the job; above 16 for superusers only.",
    "webhook_url": "Our extension: POST this job's events here, signed (docs/webhooks.md).",
    "queue": "Queue to submit to (flux: the instance's queues; local: only 'default').",
    "dry_run": "Validate only: answer the normalised request, create no job.",
    "dependency": "Jobs to wait for, in Flux's syntax: `afterok:ID` (ended successfully), "
    "`afternotok:ID` (ended in failure), `afterany:ID` (ended), `after:ID` (started); several "
    "as a list, comma-separated, or the parameter repeated.",
}


@jobs_bp.post("/submit")
@openapi.summary("Submit a job")
@openapi.description(
    "Fields come from the query string, a form body, or JSON. A JSON body with `command` is the "
    "whole payload; a JSON body without it (while `command` is in the query) is the envars "
    "mapping, as upstream reads it.\n\n"
    + "\n".join(f"- `{k}`: {v}" for k, v in SUBMIT_FIELDS.items())
    + "\n\n`dry_run=true` validates and answers the normalised request (and, on the flux "
    "executor, the jobspec) without creating a job. An `Idempotency-Key` header (at most 255 "
    "characters) makes a retry safe: the same key with the same request answers the first "
    "answer (`Idempotent-Replayed: true`), with another request 409."
)
@openapi.parameter("command", str, "query", required=False)
@openapi.parameter("num_tasks", int, "query")
@openapi.parameter("cores_per_task", int, "query")
@openapi.parameter("gpus_per_task", int, "query")
@openapi.parameter("num_nodes", int, "query")
@openapi.parameter("exclusive", bool, "query")
@openapi.parameter("option_flags", str, "query")
@openapi.parameter("workdir", str, "query")
@openapi.parameter("runtime", float, "query")
@openapi.parameter("is_launcher", bool, "query")
@openapi.parameter("name", str, "query")
@openapi.parameter("urgency", int, "query")
@openapi.parameter("webhook_url", str, "query")
@openapi.parameter("queue", str, "query")
@openapi.parameter("dry_run", bool, "query")
@openapi.parameter(HEADER, str, "header")
@openapi.parameter("dependency", str, "query")
@openapi.body(json_body(SUBMIT_BODY))
@answers(SUBMIT_ANSWER, s400=SUBMIT_REFUSED, s409=ERROR, s503=SUBMIT_INVALID)
@openapi.secured("token")
async def submit(request: AppRequest) -> HTTPResponse:
    principal = await authenticate(request)
    query = {k: v[0] for k, v in request.args.items()}
    if len(request.args.getlist("dependency")) > 1:  # Flux's --dependency may be repeated
        query["dependency"] = ",".join(request.args.getlist("dependency"))
    unread = unread_body(request.content_type or "", request.body or b"")
    if unread:
        return json({"Message": INVALID, "Errors": [unread]}, status=400)
    form = {k: v[0] for k, v in request.form.items()} if request.form else None
    body = None
    if request.body and is_json(request.content_type or ""):
        try:
            body = request.json
        except Exception:
            return json(
                {"Message": INVALID, "Errors": ["The request body is not valid JSON"]}, status=400
            )
    try:
        fields = collect_fields(query, form, body)
        dry_run = dry_run_flag(request, fields)
        job_request = validate_submit(request, fields)
        hook = None if dry_run else await submit_hook(request, principal, fields.get("webhook_url"))
    except SubmitError as exc:
        return submit_refusal(exc)
    except BadRequest as exc:  # webhook_url refused
        return json({"Message": INVALID, "Errors": [str(exc)]}, status=400)
    response = await submit_one(request, principal, job_request, dry_run=dry_run)
    if hook is not None and response.status == 200 and REPLAYED not in response.headers:
        await attach_submit_hook(request, hook, orjson.loads(response.body or b"{}")["id"])
    return response


@jobs_bp.post("/batch")
@openapi.summary("Submit many jobs in one request")
@openapi.description(
    'The body is a JSON array of job objects (the fields of a submit), `{"jobs": [...]}`, or '
    "one job with `cc`, an idset as Flux's `--cc` takes it (`0-9`: ten copies; `{cc}` in the "
    "command, name and workdir becomes each id, and `FLUX_JOB_CC` is set). Query-string fields "
    "are defaults for every entry. Each entry is validated as a single submit is and fails "
    "alone: the answer has one result per entry, in order (`{index, id}` or `{index, status, "
    "code, detail, errors}`) and `ids` (null for a failed entry). 200 when at least one job was "
    "accepted, 400 with the same body when none was. An empty batch, or one over the limit "
    "(`FLUX_MAX_BATCH`, default 1000), is a 400 naming it. `dry_run` and `Idempotency-Key` work "
    "as on `/submit`."
)
@openapi.parameter("cc", str, "query")
@openapi.parameter("dry_run", bool, "query")
@openapi.parameter(HEADER, str, "header")
@openapi.body(json_body(BATCH_BODY))
@answers(BATCH_ANSWER, s400=BATCH_REFUSED, s409=ERROR, s503=SUBMIT_INVALID)
@openapi.secured("token")
async def submit_batch(request: AppRequest) -> HTTPResponse:
    principal = await authenticate(request)
    body = None
    if request.body:
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            raise BadRequest("The request body is not valid JSON") from None
    return await batch_submit(request, principal, body)


@jobs_bp.post("/jobspec")
@openapi.summary("Submit a Flux jobspec")
@openapi.description(
    "The body is a Flux jobspec (RFC 25, version 1) as JSON (`application/json`) or YAML "
    "(`application/yaml`, `text/yaml`). The flux executor submits it as given (with the API "
    "user recorded and the server's job environment under its own); the local executor runs "
    "the subset it can express (one task command, slots of cores and GPUs, optional nodes, "
    "duration, cwd, environment, shell options, name) and refuses the rest with the reason. "
    "Answers like `/submit`; `dry_run`, `queue` (overrides `attributes.system.queue`) and "
    "`Idempotency-Key` too."
)
@openapi.parameter("dry_run", bool, "query")
@openapi.parameter("queue", str, "query")
@openapi.parameter(HEADER, str, "header")
@openapi.body(JOBSPEC_BODY)
@answers(SUBMIT_ANSWER, s400=SUBMIT_REFUSED, s409=ERROR, s503=SUBMIT_INVALID)
@openapi.secured("token")
async def submit_jobspec(request: AppRequest) -> HTTPResponse:
    principal = await authenticate(request)
    try:
        document = load_jobspec(request.body or b"", request.content_type or "")
        job_request = jobspec_request(document, submit_policy(request))
        if request.args.get("queue"):
            job_request = with_queue(job_request, request.args["queue"])
        dry_run = dry_run_flag(request, {})
    except SubmitError as exc:
        return submit_refusal(exc)
    return await submit_one(request, principal, job_request, dry_run=dry_run)


class _ListQuery(NamedTuple):
    """What ``GET /v1/jobs`` parsed from a query string (kept per caller scope and query)."""

    details: bool
    listing: bool
    filters: JobFilter
    page: Page


def _filters_from_query(request: AppRequest, principal: Principal) -> JobFilter:
    states = None
    results = None
    if request.args.get("state"):
        states_set: set[JobState] = set()
        results_set: set[JobResult] = set()
        for word in request.args.get("state", "").upper().split(","):
            word = word.strip()
            if word in JobState.__members__:
                states_set.add(JobState[word])
            elif word in JobResult.__members__:
                states_set.add(JobState.INACTIVE)
                results_set.add(JobResult[word])
            elif word in STATE_GROUPS:
                states_set |= STATE_GROUPS[word]
            elif word:
                raise BadRequest(
                    f"state {word!r} is not a job state or result (one of "
                    f"{', '.join([*JobState.__members__, *JobResult.__members__])}, active, "
                    "pending, running)"
                )
        states = frozenset(states_set) or None
        results = frozenset(results_set) or None
    since = request.args.get("since")
    since_value = None
    if since:
        try:
            since_value = float(since)
        except ValueError:
            since_value = float("nan")
        if not math.isfinite(since_value):
            raise BadRequest(
                f"since must be a time in seconds since the epoch, not {show(since)}"
            ) from None
    return caller_filter(
        principal,
        states=states,
        results=results,
        user=request.args.get("user") or None,
        name=request.args.get("name") or None,
        since=since_value,
    )


@jobs_bp.get("/")
@openapi.summary("List jobs, newest first")
@openapi.description(
    'Default: `{"jobs": [{id, state, result, name, user, t_submit}]}`. `details=true` (alias '
    "`detail`): an object keyed by id with full job info; with `listing=true` an array. Filters: "
    "`state` (names or results, comma-separated), `user`, `name` (substring), `since` (epoch). "
    "Paging: `limit` and `after=<id>` (cursor)."
)
@openapi.parameter("details", bool, "query")
@openapi.parameter("listing", bool, "query")
@int_param("limit")
@openapi.parameter("after", str, "query")
@openapi.parameter("state", str, "query")
@openapi.parameter("user", str, "query")
@openapi.parameter("name", str, "query")
@openapi.parameter("since", float, "query")
@answers(JOB_LIST)
@openapi.secured("token")
async def list_jobs(request: AppRequest) -> HTTPResponse:
    principal = await authenticate(request)
    cache = request.app.ctx.cache
    # The caller's scope and the query string decide the parse (and the answer, per revision).
    key = (None if principal.sees_all else principal.name, "jobs", request.query_string)
    parsed: _ListQuery | None = cache.queries.get(key)
    if parsed is None:
        details = query_bool(request, "details", "detail")
        listing = query_bool(request, "listing")
        limit = query_int(request, "limit", minimum=0)
        after = request.args.get("after")
        page = Page(limit=limit, after=parse_job_id(after) if after else None)
        parsed = _ListQuery(details, listing, _filters_from_query(request, principal), page)
        cache.queries.put(key, parsed)  # only a query that parsed (a bad one raised)
    details, listing, filters, page = parsed
    executor = request.app.ctx.jobs
    revision = executor.revision()
    if revision is not None:
        hit = cache.listings.get(key)
        if hit is not None and hit[0] == revision:
            return raw_json(hit[1])
    if not details:
        encoded = await summary_listing(executor, cache, filters, page)
        ticking = False
    else:
        encoded, ticking = await detail_listing(executor, cache, filters, page, array=listing)
    # Full info of a running job has a ticking runtime: only cache what events alone change.
    if revision is not None and not ticking:
        cache.listings.put(key, (revision, encoded))
    return raw_json(encoded)


@jobs_bp.get("/search")
@openapi.summary("Search jobs (DataTables server-side protocol)")
@openapi.description(
    "Returns `{data, draw, recordsTotal, recordsFiltered}` as upstream computes them: "
    "`recordsTotal` counts the jobs visible to the caller, `recordsFiltered` the rows returned. "
    "The filter (`search[value]`, `search` or `query`) is a case-insensitive substring, or a "
    "regular expression with `regex=true`. `length=-1` returns every row."
)
@int_param("start")
@int_param("length", minimum=-1, description="Rows to return; -1 or 0 for all.")
@openapi.parameter("draw", str, "query")
@openapi.parameter("search", str, "query")
@openapi.parameter("query", str, "query")
@openapi.parameter("regex", bool, "query")
@answers(SEARCH)
@openapi.secured("token")
async def search(request: AppRequest) -> HTTPResponse:
    principal = await authenticate(request)
    executor = request.app.ctx.jobs
    start = query_int(request, "start", minimum=0) or 0
    length = query_int(request, "length", minimum=-1)
    text = (
        request.args.get("search[value]") or request.args.get("search") or request.args.get("query")
    )
    regex = query_bool(request, "regex", "search[regex]")
    if text and regex:
        check_search_regex(text)
    total = await executor.count(caller_filter(principal))
    filters = caller_filter(principal, text=text or None, regex=regex)
    limit = None if length in (None, 0, -1) else length
    records = await executor.query(filters, Page(limit=limit, offset=start))
    draw_text = request.args.get("draw")
    draw: str | int = draw_text if draw_text is not None else 1
    data = [job_info(r) for r in records]
    return json({"data": data, "draw": draw, "recordsTotal": total, "recordsFiltered": len(data)})


@jobs_bp.get("/<job_id:str>")
@openapi.summary("Job info")
@openapi.description("Flux's job-list fields plus returncode, runtime, exception and user.")
@answers(JOB_INFO)
@openapi.secured("token")
async def info(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await authenticate(request)
    jid = job_id_arg(job_id)
    cache = request.app.ctx.cache
    (revision,) = request.app.ctx.jobs.row_revisions([jid])  # before reading: changes show
    hit = cache.info(jid, revision)
    if hit is not None:
        if not principal.sees_all and hit.owner != principal.name:
            raise job_not_found(jid)
        return raw_json(hit.render(time.time()))
    record = await visible_job(request, principal, jid)
    return raw_json(keep_info(cache, record, revision).render(time.time()))


@jobs_bp.post("/<job_id:str>/cancel")
@openapi.summary("Cancel a job")
@openapi.description("Queued jobs never run; running ones get SIGTERM, then SIGKILL.")
@answers(CANCELLED, s400=CANCEL_REFUSED)
@openapi.secured("token")
async def cancel(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await authenticate(request)
    jid = job_id_arg(job_id)
    await visible_job(request, principal, jid)
    try:
        await request.app.ctx.jobs.cancel(jid)
    except JobInactive:
        return json({"Message": "Job cannot be cancelled: job is inactive.", "id": jid}, status=400)
    except JobNotFound:
        raise job_not_found(jid) from None
    return json({"Message": "Job is requested to cancel.", "id": jid})


def decode(data: bytes) -> str:
    """Output bytes as text: invalid UTF-8 becomes U+FFFD."""
    return data.decode("utf-8", errors="replace")


@jobs_bp.get("/<job_id:str>/output")
@openapi.summary("Job output so far")
@openapi.description(
    '`{"Output": ["line\\n", ...]}` (stdout and stderr in order), or a Message when there is '
    "none yet. `labels=true` gives `[{stream, rank, data, t}]`; `stream=stdout|stderr` filters. "
    "Sent as it is read (chunked), so a large output is never held in memory whole."
)
@openapi.parameter("labels", bool, "query")
@openapi.parameter("stream", str, "query")
@answers(OUTPUT)
@openapi.secured("token")
async def output(request: AppRequest, job_id: str) -> HTTPResponse | None:
    principal = await authenticate(request)
    jid = job_id_arg(job_id)
    await visible_job(request, principal, jid)
    labels = query_bool(request, "labels")
    stream = request.args.get("stream")
    if stream not in (None, "stdout", "stderr"):
        raise BadRequest(f"stream must be stdout or stderr, not {stream!r}")
    batches = aiter(request.app.ctx.jobs.output_batches(jid))

    async def next_items() -> bytes | None:
        """The next batch as JSON array items (``a,b,c``), or ``None`` at the end."""
        async for batch in batches:
            lines = [ln for ln in batch if ln.stream == stream] if stream else batch
            if lines:
                items: list[Any] = (
                    [
                        {
                            "stream": ln.stream,
                            "rank": ln.rank,
                            "data": decode(ln.data),
                            "t": ln.timestamp,
                        }
                        for ln in lines
                    ]
                    if labels
                    else [decode(ln.data) for ln in lines]
                )
                return encode(items)[1:-1]
        return None

    try:
        first = await next_items()
    except JobNotFound:
        first = None
    if first is None:
        return json({"Message": NO_OUTPUT})
    # Streamed: one batch (about 64 KiB of log) is encoded and sent at a time.
    response = await request.respond(content_type="application/json")
    await response.send(b'{"Output":[' + first)
    while (items := await next_items()) is not None:
        await response.send(b"," + items)
    await response.send(b"]}")
    await response.eof()
    return None
