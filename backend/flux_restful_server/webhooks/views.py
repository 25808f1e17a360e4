"""The webhooks blueprint: ``/v1/webhooks`` subscriptions, their secrets and delivery logs.

Our extension (docs/api.md, docs/webhooks.md). A user sees and manages their own subscriptions;
superusers (and everyone when auth is off) all of them. Another user's subscription is a 404.
"""

# sanic-ext's schema types are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sanic import Blueprint
from sanic.response import HTTPResponse, json
from sanic_ext import openapi
from sanic_ext.extensions.openapi.types import Array, Boolean, Integer, Object, Schema, String

from ..auth import Principal, authenticate
from ..errors import AppError, BadRequest
from ..http import AppRequest, job_id_arg, query_int, visible_job
from ..schemas import ERROR, NULLABLE_STRING, NUMBER, answers, json_body
from .events import EVENT_NAMES
from .records import updated
from .service import WebhookService
from .subscribe import change_hook, make_hook, owned_hook

__all__ = ["webhooks_bp"]

webhooks_bp = Blueprint("webhooks", url_prefix="/v1/webhooks")

F = TypeVar("F", bound=Callable[..., Any])

NULLABLE_NUMBER = Schema(anyOf=[NUMBER, Schema(type="null")])
WEBHOOK = Object(
    {
        "id": String(description="`wh_...`"),
        "url": String(),
        "events": Array(String(enum=list(EVENT_NAMES))),
        "job_name": NULLABLE_STRING,
        "job_ids": Schema(anyOf=[Array(Integer()), Schema(type="null")]),
        "description": String(),
        "user": NULLABLE_STRING,
        "paused": Boolean(),
        "pause_reason": NULLABLE_STRING,
        "failing_since": NULLABLE_NUMBER,
        "per_job": Boolean(description="Made by `webhook_url` on a submit, for that job."),
        "old_secret_expires": NULLABLE_NUMBER,
        "created": NUMBER,
        "updated": NUMBER,
    },
    required=["id", "url", "events", "paused"],
)
WITH_SECRET = Object(
    {"webhook": WEBHOOK, "secret": String(description="Shown once: keep it to verify.")},
    required=["webhook", "secret"],
)
WEBHOOKS = Object({"webhooks": Array(WEBHOOK)}, required=["webhooks"])
WEBHOOK_BODY = Object(
    {
        "url": String(description="http(s) URL allowed by FLUX_WEBHOOK_ALLOW, at most 2,048 chars"),
        "events": Array(String(enum=list(EVENT_NAMES))),
        "job_name": String(description="Only jobs whose name contains this"),
        "job_ids": Array(Integer()),
        "description": String(),
    },
    description="`url` is required on POST; PATCH changes the fields given.",
)
DELIVERY = Object(
    {
        "id": Integer(),
        "webhook": String(),
        "job_id": Integer(),
        "type": String(),
        "msg_id": String(description="The `webhook-id` header, the same on every attempt"),
        "status": String(enum=["pending", "delivered", "failed"]),
        "attempts": Integer(),
        "created": NUMBER,
        "next_attempt": NULLABLE_NUMBER,
        "last_attempt": NULLABLE_NUMBER,
        "last_status_code": Schema(anyOf=[Integer(), Schema(type="null")]),
        "last_error": NULLABLE_STRING,
        "last_latency": NULLABLE_NUMBER,
        "done": NULLABLE_NUMBER,
        "log": Array(Object()),
    },
    required=["id", "webhook", "job_id", "type", "status", "attempts"],
)
DELIVERIES = Object({"deliveries": Array(DELIVERY)}, required=["deliveries"])
DELETED = Object({"id": String(), "deleted": Boolean()}, required=["id", "deleted"])


class WebhooksUnavailable(AppError):
    status_code = 503
    code = "unavailable"


def created(schema: Schema) -> Callable[[F], F]:
    """Document a route that answers 201 with ``schema`` (and the error shape otherwise)."""

    def decorate(handler: F) -> F:
        handler = openapi.response("default", json_body(ERROR), "An error")(handler)
        return openapi.response(201, json_body(schema), "Created")(handler)

    return decorate


def service_of(request: AppRequest) -> WebhookService:
    service = request.app.ctx.webhooks
    if service is None or service.store is None:
        raise WebhooksUnavailable("webhooks are not running on this server")
    return service


def json_of(request: AppRequest) -> object:
    if not request.body:
        raise BadRequest("the request body must be a JSON object")
    try:
        return request.json
    except Exception:
        raise BadRequest("the request body is not valid JSON") from None


async def _caller(request: AppRequest) -> tuple[WebhookService, Principal]:
    principal = await authenticate(request)
    service = service_of(request)
    service.refresh()
    return service, principal


@webhooks_bp.post("/")
@openapi.summary("Subscribe to job events")
@openapi.description(
    "Deliveries are signed the Standard Webhooks way with the secret in the answer, which is "
    "shown only here (and on rotate). `events`: any of "
    + ", ".join(f"`{name}`" for name in EVENT_NAMES)
    + " (default `all`). The URL must be allowed by the operator's FLUX_WEBHOOK_ALLOW."
)
@openapi.body(json_body(WEBHOOK_BODY))
@created(WITH_SECRET)
@openapi.secured("token")
async def create(request: AppRequest) -> HTTPResponse:
    service, principal = await _caller(request)
    hook = await make_hook(service, principal, json_of(request))
    service.save(hook)
    return json({"webhook": hook.public(), "secret": hook.secret}, status=201)


@webhooks_bp.get("/")
@openapi.summary("List webhook subscriptions")
@openapi.description("Your subscriptions; a superuser's listing holds everyone's.")
@answers(WEBHOOKS)
@openapi.secured("token")
async def listing(request: AppRequest) -> HTTPResponse:
    service, principal = await _caller(request)
    hooks = [
        hook.public()
        for hook in service.hooks.values()
        if principal.sees_all or hook.owner == principal.name
    ]
    hooks.sort(key=lambda h: (h["created"], h["id"]))
    return json({"webhooks": hooks})


@webhooks_bp.get("/deliveries")
@openapi.summary("Deliveries of one job")
@openapi.description("Every delivery of the job's events to subscriptions you can see.")
@openapi.parameter("job_id", str, "query", required=True)
@answers(DELIVERIES)
@openapi.secured("token")
async def job_deliveries(request: AppRequest) -> HTTPResponse:
    service, principal = await _caller(request)
    text = request.args.get("job_id")
    if not text:
        raise BadRequest("job_id is required")
    job_id = job_id_arg(text)
    await visible_job(request, principal, job_id)
    found = service.job_deliveries(principal, job_id)
    return json({"deliveries": [d.public() for d in found]})


@webhooks_bp.get("/<hook_id:str>")
@openapi.summary("Show a webhook subscription")
@answers(WEBHOOK)
@openapi.secured("token")
async def show(request: AppRequest, hook_id: str) -> HTTPResponse:
    service, principal = await _caller(request)
    return json(owned_hook(service, principal, hook_id).public())


@webhooks_bp.patch("/<hook_id:str>")
@openapi.summary("Change a webhook subscription")
@openapi.body(json_body(WEBHOOK_BODY))
@answers(WEBHOOK)
@openapi.secured("token")
async def change(request: AppRequest, hook_id: str) -> HTTPResponse:
    service, principal = await _caller(request)
    hook = owned_hook(service, principal, hook_id)
    hook = await change_hook(service, hook, json_of(request))
    service.save(hook)
    return json(hook.public())


@webhooks_bp.delete("/<hook_id:str>")
@openapi.summary("Delete a webhook subscription and its delivery log")
@answers(DELETED)
@openapi.secured("token")
async def delete(request: AppRequest, hook_id: str) -> HTTPResponse:
    service, principal = await _caller(request)
    hook = owned_hook(service, principal, hook_id)
    service.delete(hook.id)
    return json({"id": hook.id, "deleted": True})


@webhooks_bp.post("/<hook_id:str>/rotate")
@openapi.summary("Rotate a subscription's signing secret")
@openapi.description(
    "Answers the new secret (shown once). Deliveries carry signatures by both the new and the "
    "old secret until `old_secret_expires` (FLUX_WEBHOOK_ROTATE_GRACE, a day by default)."
)
@answers(WITH_SECRET)
@openapi.secured("token")
async def rotate(request: AppRequest, hook_id: str) -> HTTPResponse:
    from .signing import new_secret

    service, principal = await _caller(request)
    hook = owned_hook(service, principal, hook_id)
    grace = service.settings.rotate_grace
    hook = updated(
        hook,
        secret=new_secret(),
        old_secret=hook.secret if grace > 0 else None,
        old_secret_until=time.time() + grace if grace > 0 else None,
    )
    service.save(hook)
    return json({"webhook": hook.public(), "secret": hook.secret})


@webhooks_bp.post("/<hook_id:str>/pause")
@openapi.summary("Pause a subscription (deliveries wait)")
@answers(WEBHOOK)
@openapi.secured("token")
async def pause(request: AppRequest, hook_id: str) -> HTTPResponse:
    service, principal = await _caller(request)
    hook = owned_hook(service, principal, hook_id)
    by = principal.name or "the owner"
    hook = updated(hook, paused=True, pause_reason=f"paused by {by}")
    service.save(hook)
    return json(hook.public())


@webhooks_bp.post("/<hook_id:str>/resume")
@openapi.summary("Resume a paused subscription")
@openapi.description("Pending deliveries go out again, oldest first.")
@answers(WEBHOOK)
@openapi.secured("token")
async def resume(request: AppRequest, hook_id: str) -> HTTPResponse:
    service, principal = await _caller(request)
    hook = owned_hook(service, principal, hook_id)
    hook = updated(hook, paused=False, pause_reason=None, failing_since=None)
    service.save(hook)
    return json(hook.public())


@webhooks_bp.get("/<hook_id:str>/deliveries")
@openapi.summary("A subscription's delivery log, newest first")
@openapi.description(
    "Each delivery with its attempts: status codes, errors, latency, and the next try."
)
@openapi.parameter("limit", Integer(minimum=1, maximum=1000), "query")
@openapi.parameter("before", Integer(minimum=1), "query")
@answers(DELIVERIES)
@openapi.secured("token")
async def deliveries(request: AppRequest, hook_id: str) -> HTTPResponse:
    service, principal = await _caller(request)
    hook = owned_hook(service, principal, hook_id)
    limit = query_int(request, "limit", minimum=1) or 100
    if limit > 1000:
        raise BadRequest(f"limit must be at most 1000, not {limit}")
    before = query_int(request, "before", minimum=1)
    assert service.store is not None
    found = service.store.deliveries(hook_id=hook.id, limit=limit, before=before)
    logs = service.store.attempts(d.id for d in found)
    return json({"deliveries": [d.public(logs[d.id]) for d in found]})


@webhooks_bp.post("/<hook_id:str>/deliveries/<delivery_id:str>/redeliver")
@openapi.summary("Send a delivery again")
@openapi.description(
    "Makes the delivery due now, with the same `webhook-id` (receivers may drop repeats). It "
    "goes out when the subscription's earlier pending deliveries have."
)
@answers(DELIVERY)
@openapi.secured("token")
async def redeliver(request: AppRequest, hook_id: str, delivery_id: str) -> HTTPResponse:
    service, principal = await _caller(request)
    hook = owned_hook(service, principal, hook_id)
    assert service.store is not None
    did = int(delivery_id) if delivery_id.isdigit() and len(delivery_id) < 19 else 0
    delivery = service.store.delivery(did) if did else None
    if delivery is None or delivery.hook_id != hook.id:
        from .subscribe import WebhookNotFound

        text = f"Delivery {delivery_id[:40]!r} of webhook {hook.id} not found"
        raise WebhookNotFound(text, body={"detail": text})
    service.store.redeliver(delivery.id, time.time())
    service.wake()
    refreshed = service.store.delivery(delivery.id)
    assert refreshed is not None
    return json(refreshed.public())
