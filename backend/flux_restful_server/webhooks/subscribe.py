"""Making and changing subscriptions from request bodies: validation, ownership, secrets.

Shared by the webhooks blueprint and the submit route's ``webhook_url``. Every refusal is a
400 (or 404 for a subscription the caller may not see) with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..domain.ids import InvalidJobId, parse_job_id
from ..errors import BadRequest, NotFound
from ..limits import MAX_NAME, show
from .events import UnknownEvent, parse_events
from .policy import TargetRefused, resolve
from .records import Hook, new_hook_id, updated
from .signing import new_secret

if TYPE_CHECKING:
    from ..auth import Principal
    from ..http import AppRequest
    from .service import WebhookService

__all__ = [
    "WebhookNotFound",
    "attach_submit_hook",
    "change_hook",
    "make_hook",
    "owned_hook",
    "submit_hook",
    "target_url",
]

FIELDS = frozenset({"url", "events", "job_name", "job_ids", "description"})
MAX_DESCRIPTION = 500
MAX_JOB_IDS = 1000


class WebhookNotFound(NotFound):
    code = "webhook_not_found"


def not_found(hook_id: str) -> WebhookNotFound:
    text = f"Webhook {show(hook_id)} not found"
    return WebhookNotFound(text, body={"detail": text})


def owned_hook(service: WebhookService, principal: Principal, hook_id: str) -> Hook:
    """The subscription if the caller may see it (its owner, or a superuser); else 404."""
    hook = service.hooks.get(hook_id)
    if hook is None or not (principal.sees_all or hook.owner == principal.name):
        raise not_found(hook_id)
    return hook


async def target_url(service: WebhookService, url: object) -> str:
    """Check a target URL against the rules and the allowlist (400 with the reason)."""
    try:
        await resolve(url, service.settings.allow)
    except TargetRefused as exc:
        raise BadRequest(f"url refused: {exc}") from None
    assert isinstance(url, str)
    return url


def _body(body: object) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        names = ", ".join(show(k) for k in unknown)
        raise BadRequest(f"unknown field(s) {names}: use {', '.join(sorted(FIELDS))}")
    return body


def _filters(body: Mapping[str, Any]) -> dict[str, Any]:
    """The optional fields of a body, validated."""
    out: dict[str, Any] = {}
    if "events" in body:
        try:
            out["events"] = parse_events(body["events"])
        except UnknownEvent as exc:
            raise BadRequest(str(exc)) from None
    if "job_name" in body:
        name = body["job_name"]
        if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
            raise BadRequest(f"job_name must be a string of at most {MAX_NAME} characters")
        out["job_name"] = name or None
    if "job_ids" in body:
        ids = body["job_ids"]
        if ids is None:
            out["job_ids"] = None
        else:
            if not isinstance(ids, list) or not ids or len(ids) > MAX_JOB_IDS:
                raise BadRequest(f"job_ids must be a list of 1 to {MAX_JOB_IDS} job ids, or null")
            parsed = set()
            for item in ids:
                if isinstance(item, bool) or not isinstance(item, int | str):
                    raise BadRequest(f"job_ids: {show(item)} is not a job id")
                try:
                    parsed.add(parse_job_id(str(item)))
                except InvalidJobId as exc:
                    raise BadRequest(f"job_ids: {exc}") from None
            out["job_ids"] = frozenset(parsed)
    if "description" in body:
        text = body["description"]
        if not isinstance(text, str) or len(text) > MAX_DESCRIPTION:
            raise BadRequest(
                f"description must be a string of at most {MAX_DESCRIPTION} characters"
            )
        out["description"] = text
    return out


async def make_hook(
    service: WebhookService,
    principal: Principal,
    body: object,
    *,
    job_id: int | None = None,
) -> Hook:
    """Validate a new subscription (not yet saved); ``job_id`` makes a per-submit one."""
    fields = _body(body)
    if "url" not in fields:
        raise BadRequest("url is required: where to send the deliveries (http:// or https://)")
    url = await target_url(service, fields["url"])
    values = _filters(fields)
    now = time.time()
    return Hook(
        id=new_hook_id(),
        owner=principal.name,
        sees_all=principal.sees_all,
        url=url,
        events=values.get("events", frozenset({"all"})),
        job_name=values.get("job_name"),
        job_ids=frozenset({job_id}) if job_id is not None else values.get("job_ids"),
        description=values.get("description", ""),
        secret=new_secret(),
        old_secret=None,
        old_secret_until=None,
        paused=False,
        pause_reason=None,
        failing_since=None,
        per_job=job_id is not None,
        created=now,
        updated=now,
    )


async def change_hook(service: WebhookService, hook: Hook, body: object) -> Hook:
    """Apply a PATCH body to a subscription (not yet saved)."""
    fields = _body(body)
    changes = _filters(fields)
    if "url" in fields:
        changes["url"] = await target_url(service, fields["url"])
    return updated(hook, **changes)


async def submit_hook(request: AppRequest, principal: Principal, url: object) -> Hook | None:
    """Validate a submit's ``webhook_url`` before the job exists (400 with the reason)."""
    if url is None or url == "":
        return None
    service = request.app.ctx.webhooks
    if service is None or service.store is None:
        raise BadRequest("webhook_url: webhooks are not running on this server")
    return await make_hook(service, principal, {"url": url}, job_id=0)


async def attach_submit_hook(request: AppRequest, hook: Hook | None, job_id: int) -> None:
    """Save a submit's subscription for its job, with the deliveries of events already past."""
    service = request.app.ctx.webhooks
    if hook is None or service is None or service.store is None:
        return
    await service.add_for_job(
        request.app.ctx.jobs, replace(hook, job_ids=frozenset({job_id})), job_id
    )
