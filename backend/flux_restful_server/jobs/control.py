"""The job-control blueprint: hold, release, urgency, signal, and bulk cancel (API.md "Jobs").

Each route is authorised as cancel is: the caller must be able to see the job (else 404) and
only superusers reach other users' jobs. Urgencies follow Flux: 0 holds a job, 16 is the default,
31 expedites it, and only superusers (Flux's instance owner) may go above 16.
"""

from __future__ import annotations

import asyncio
import signal as signals
from collections.abc import Mapping
from typing import Any

from sanic import Blueprint
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from ..auth import Principal, authenticate
from ..auth.errors import Forbidden
from ..domain.errors import JobInactive, JobNotFound, JobStateConflict
from ..domain.ids import InvalidJobId, parse_job_id
from ..domain.query import Page
from ..domain.states import ACTIVE_STATES, JobResult, JobState
from ..errors import BadRequest, job_not_found
from ..http import AppRequest, caller_filter, check_urgency, job_id_arg, visible_job
from ..http.urgency import urgency_before_hold
from ..limits import bounded_int, show
from ..schemas import (
    BULK_CANCEL_BODY,
    BULK_CANCELLED,
    SIGNAL_BODY,
    SIGNALLED,
    URGENCY_BODY,
    URGENCY_SET,
    answers,
    json_body,
)

control_bp = Blueprint("control", url_prefix="/v1/jobs")

URGENCY_WORDS = {"hold": 0, "default": 16, "expedite": 31}
"""Flux's names for urgencies (``flux job urgency ID hold``)."""
MAX_BULK_IDS = 10_000
"""Most ids one bulk cancel may name."""
PENDING_STATES = frozenset({JobState.NEW, JobState.DEPEND, JobState.PRIORITY, JobState.SCHED})
CANCEL_CONCURRENCY = 64
"""Cancels in flight at once during a bulk cancel."""


def _fields(request: AppRequest) -> dict[str, Any]:
    """The request's parameters: the query string, then a JSON object body on top."""
    fields: dict[str, Any] = {k: v[0] for k, v in request.args.items()}
    if request.body:
        try:
            body = request.json
        except Exception:
            raise BadRequest("The request body is not valid JSON") from None
        if body is not None and not isinstance(body, dict):
            raise BadRequest("The JSON body must be an object")
        fields.update(body or {})
    return fields


def parse_urgency(value: Any) -> int:
    """An urgency 0-31, or one of Flux's words ``hold``, ``default``, ``expedite`` (else 400)."""
    if value is None or value == "":
        raise BadRequest("urgency is required: 0-31, or hold, default, expedite")
    if isinstance(value, str) and value.strip().lower() in URGENCY_WORDS:
        return URGENCY_WORDS[value.strip().lower()]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"urgency must be an integer 0-31, not {show(value)}")
    try:
        number = (
            value if isinstance(value, int) else bounded_int(value, "urgency", minimum=-(2**63))
        )
    except ValueError:
        raise BadRequest(
            f"urgency must be an integer 0-31 or hold, default, expedite, not {show(value)}"
        ) from None
    if not 0 <= number <= 31:
        raise BadRequest(f"urgency must be between 0 and 31, found {show(number)}")
    return number


def parse_signal(value: Any) -> tuple[int, str]:
    """A signal given by name (``SIGUSR1``, ``usr1``) or number; ``(number, name)`` (else 400)."""
    if value is None or value == "":
        return int(signals.SIGTERM), signals.SIGTERM.name
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = value.strip()
        if len(value) > 4:
            raise BadRequest(f"signal {show(value)} is not a signal number")
        value = int(value)
    if isinstance(value, bool):
        raise BadRequest(f"signal must be a signal name or number, not {show(value)}")
    if isinstance(value, int):
        if not 1 <= value < signals.NSIG:
            raise BadRequest(f"signal {value} is not a signal number (1-{signals.NSIG - 1})")
        try:
            return value, signals.Signals(value).name
        except ValueError:
            return value, f"SIG{value}"  # a real-time signal without a name of its own
    if not isinstance(value, str):
        raise BadRequest(f"signal must be a signal name or number, not {show(value)}")
    name = value.strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    member = signals.Signals.__members__.get(name)
    if member is None or name in ("SIG_DFL", "SIG_IGN"):
        raise BadRequest(
            f"signal {show(value)} is not a signal name (for example SIGTERM, SIGUSR1, HUP) "
            "or number"
        )
    return int(member), member.name


async def _set_urgency(
    request: AppRequest, principal: Principal, jid: int, urgency: int, done: str
) -> HTTPResponse:
    await visible_job(request, principal, jid)
    check_urgency(principal, urgency)
    try:
        old = await request.app.ctx.jobs.set_urgency(jid, urgency)
    except JobNotFound:
        raise job_not_found(jid) from None
    except JobInactive:
        raise BadRequest(f"Job {jid} is inactive: its urgency cannot change") from None
    except JobStateConflict as exc:
        raise BadRequest(f"Job {jid}: {exc}") from None
    return json({"Message": done, "id": jid, "urgency": urgency, "old_urgency": old})


@control_bp.post("/<job_id:str>/urgency")
@openapi.summary("Set a pending job's urgency")
@openapi.description(
    "`urgency` (query or JSON body): 0-31, or `hold` (0), `default` (16), `expedite` (31), as "
    "`flux job urgency`. 0 holds the job; only superusers may set more than 16. Jobs that are "
    "running or inactive answer 400."
)
@openapi.parameter("urgency", str, "query")
@openapi.body(json_body(URGENCY_BODY))
@answers(URGENCY_SET)
@openapi.secured("token")
async def urgency(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await authenticate(request)  # 401 before any word about the input
    jid = job_id_arg(job_id)
    value = parse_urgency(_fields(request).get("urgency"))
    return await _set_urgency(request, principal, jid, value, "Urgency set.")


@control_bp.post("/<job_id:str>/hold")
@openapi.summary("Hold a pending job (urgency 0)")
@openapi.description(
    "The job keeps its place in no queue until released (`flux job urgency ID hold`). Holding a "
    "held job changes nothing."
)
@answers(URGENCY_SET)
@openapi.secured("token")
async def hold(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await authenticate(request)
    return await _set_urgency(request, principal, job_id_arg(job_id), 0, "Job is held.")


@control_bp.post("/<job_id:str>/release")
@openapi.summary("Release a held job")
@openapi.description(
    "Gives the job back the urgency it had before it was held (16 when it was submitted held). "
    "Releasing a job that is not held changes nothing."
)
@answers(URGENCY_SET)
@openapi.secured("token")
async def release(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await authenticate(request)
    jid = job_id_arg(job_id)
    record = await visible_job(request, principal, jid)
    current = record.get("urgency")
    if isinstance(current, int) and current != 0:
        return json(
            {"Message": "Job is not held.", "id": jid, "urgency": current, "old_urgency": current}
        )
    try:
        previous = await urgency_before_hold(request, jid)
    except JobNotFound:
        raise job_not_found(jid) from None
    return await _set_urgency(request, principal, jid, previous, "Job is released.")


@control_bp.post("/<job_id:str>/signal")
@openapi.summary("Send a signal to a running job's tasks")
@openapi.description(
    "`signal` (query or JSON body): a name (`SIGUSR1`, `USR1`) or number, SIGTERM when absent, as "
    "`flux job kill --signal`. The job must be running (else 400)."
)
@openapi.parameter("signal", str, "query")
@openapi.body(json_body(SIGNAL_BODY))
@answers(SIGNALLED)
@openapi.secured("token")
async def signal(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await authenticate(request)
    jid = job_id_arg(job_id)
    signum, name = parse_signal(_fields(request).get("signal"))
    await visible_job(request, principal, jid)
    try:
        await request.app.ctx.jobs.signal(jid, signum)
    except JobNotFound:
        raise job_not_found(jid) from None
    except (JobInactive, JobStateConflict) as exc:
        raise BadRequest(f"Job {jid} cannot be signalled: {exc}") from None
    return json({"Message": f"{name} sent.", "id": jid, "signal": signum, "name": name})


def _words(value: Any, what: str) -> list[str]:
    """A list of strings from a JSON list or comma-separated text (400 for anything else)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [w.strip() for w in value.split(",") if w.strip()]
    if isinstance(value, list) and all(isinstance(w, str | int) for w in value):
        return [str(w).strip() for w in value if str(w).strip()]
    raise BadRequest(f"{what} must be a list or comma-separated text, not {show(value)}")


def _cancel_states(words: list[str]) -> frozenset[JobState]:
    """Active states named by ``state`` (names or ``pending``/``running``/``active``)."""
    groups = {
        "ACTIVE": ACTIVE_STATES,
        "PENDING": PENDING_STATES,
        "RUNNING": frozenset({JobState.RUN}),
    }
    found: set[JobState] = set()
    for word in words:
        key = word.upper()
        if key in groups:
            found |= groups[key]
        elif key in JobState.__members__ and JobState[key] is not JobState.INACTIVE:
            found.add(JobState[key])
        elif key == "INACTIVE" or key in JobResult.__members__:
            raise BadRequest(f"state {show(word)}: inactive jobs cannot be cancelled")
        else:
            names = ", ".join(s.name for s in ACTIVE_STATES if s is not JobState.NEW)
            raise BadRequest(
                f"state {show(word)} is not an active job state ({names}, pending, running, active)"
            )
    return frozenset(found)


def _bulk_filter(fields: Mapping[str, Any], principal: Principal) -> dict[str, Any]:
    """The listing filter a bulk cancel selects with (400 when it names none)."""
    ids_words = _words(fields.get("ids"), "ids")
    if len(ids_words) > MAX_BULK_IDS:
        raise BadRequest(f"ids: at most {MAX_BULK_IDS} job ids at once, not {len(ids_words)}")
    try:
        ids = frozenset(parse_job_id(w) for w in ids_words) or None
    except InvalidJobId as exc:
        raise BadRequest(f"ids: {exc}") from None
    states = _cancel_states(_words(fields.get("state"), "state")) or None
    name = fields.get("name")
    user = fields.get("user")
    every = fields.get("all")
    for key, value in (("name", name), ("user", user)):
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{key} must be text, not {show(value)}")
    if isinstance(every, str):
        every = every.strip().lower() in ("1", "true", "yes", "on")
    if not (ids or states or name or user or every is True):
        raise BadRequest(
            "a bulk cancel needs at least one filter: ids, state, name, user, or all=true "
            "(every job you may cancel)"
        )
    if user and not principal.superuser and user != principal.name:
        raise Forbidden("only superusers may cancel other users' jobs (user=)")
    return {
        "ids": ids,
        "states": states or ACTIVE_STATES,
        "name": name or None,
        "user": user or None,
    }


@control_bp.post("/cancel")
@openapi.summary("Cancel every job matching a filter")
@openapi.description(
    "Filters (query or JSON body, combined): `ids` (list or comma-separated, any id encoding), "
    "`state` (active states, `pending`, `running`), `name` (substring), `user` (superusers "
    "only), `all=true` (every job the caller may cancel). At least one is required. Only the "
    "caller's own jobs are touched unless the caller is a superuser. Answers how many jobs were "
    "asked to cancel, and their ids."
)
@openapi.parameter("ids", str, "query")
@openapi.parameter("state", str, "query")
@openapi.parameter("name", str, "query")
@openapi.parameter("user", str, "query")
@openapi.parameter("all", bool, "query")
@openapi.body(json_body(BULK_CANCEL_BODY))
@answers(BULK_CANCELLED)
@openapi.secured("token")
async def cancel_many(request: AppRequest) -> HTTPResponse:
    principal = await authenticate(request)
    filters = caller_filter(principal, **_bulk_filter(_fields(request), principal))
    executor = request.app.ctx.jobs
    records = await executor.query(filters, Page(), summary=True)
    targets = [int(r["id"]) for r in records if r["state"] != JobState.INACTIVE]
    gate = asyncio.Semaphore(CANCEL_CONCURRENCY)

    async def cancel_one(job_id: int) -> int | None:
        async with gate:
            try:
                await executor.cancel(job_id)
            except (JobInactive, JobNotFound):
                return None  # it ended (or went) meanwhile: nothing to cancel
            return job_id

    done = [j for j in await asyncio.gather(*(cancel_one(j) for j in targets)) if j is not None]
    count = len(done)
    message = f"{count} job{'s' if count != 1 else ''} requested to cancel."
    return json({"Message": message, "count": count, "ids": done})
