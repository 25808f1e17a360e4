"""Stream routes: the upstream-compatible chunked output stream and the job eventlog."""

from __future__ import annotations

from sanic import Blueprint
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from ..app import AppRequest
from ..auth import authenticate
from ..executors.base import JobEvent, OutputLine, SubscriberLagged
from ..jobs.views import job_id_arg, visible_job

streams_bp = Blueprint("streams", url_prefix="/v1")


@streams_bp.get("/jobs/<job_id:str>/output/stream")
@openapi.summary("Job output as it is written (chunked text)")
@openapi.description(
    "The raw output, stdout and stderr in order, from the start and live until the job is "
    "inactive. Works when opened before the job starts."
)
@openapi.secured("token")
async def output_stream(request: AppRequest, job_id: str) -> HTTPResponse | None:
    principal = await authenticate(request)
    jid = job_id_arg(job_id)
    await visible_job(request, principal, jid)
    executor = request.app.ctx.jobs
    response = await request.respond(content_type="text/plain; charset=utf-8")
    since = 0
    while True:
        try:
            async for batch in executor.log(jid, since):
                data = b"".join(e.data for e in batch if isinstance(e, OutputLine))
                since = batch[-1].seq
                if data:
                    await response.send(data.decode("utf-8", errors="replace"))
            break
        except SubscriberLagged as lag:
            since = lag.resume_seq  # reading from the file again is always possible here
    await response.eof()
    return None


@streams_bp.get("/jobs/<job_id:str>/events")
@openapi.summary("The job's eventlog")
@openapi.description('`{"id", "events": [{seq, name, timestamp, context}]}` in order.')
@openapi.secured("token")
async def job_events(request: AppRequest, job_id: str) -> HTTPResponse:
    principal = await authenticate(request)
    jid = job_id_arg(job_id)
    await visible_job(request, principal, jid)
    events: list[JobEvent] = await request.app.ctx.jobs.eventlog(jid)
    return json(
        {
            "id": jid,
            "events": [
                {"seq": e.seq, "name": e.name, "timestamp": e.timestamp, "context": dict(e.context)}
                for e in events
            ],
        }
    )
