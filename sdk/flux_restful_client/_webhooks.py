"""Webhooks in the SDK: verifying deliveries, and the IO-free half of ``client.webhooks``.

:func:`verify_webhook` is for receivers (it needs no client). :class:`WebhookCalls` builds each
``/v1/webhooks`` request and parses each answer; ``Webhooks`` (sync, in ``_client``) and
``AsyncWebhooks`` (in ``_async_client``) only send them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

import httpx
import standardwebhooks

from ._exceptions import WebhookVerificationError
from ._types import JobId
from .models import Webhook, WebhookDelivery, WebhookSecret

__all__ = ["WebhookCalls", "verify_webhook"]

T = TypeVar("T")


class _Builder(Protocol):
    """What :class:`WebhookCalls` needs of a client (``BaseClient`` has both)."""

    def _build(self, method: str, path: str, **kwargs: Any) -> httpx.Request: ...

    def _json(self, response: httpx.Response) -> Any: ...

    def _parse_as(self, response: httpx.Response, build: Callable[[Any], T]) -> T: ...


def verify_webhook(
    body: bytes | str, headers: Mapping[str, str], secret: str | Iterable[str]
) -> Any:
    """Verify a delivery's Standard Webhooks signature and return its JSON body.

    Args:
        body: The request body exactly as received (bytes, not re-encoded JSON).
        headers: The request headers (any mapping; names are case-insensitive).
        secret: The subscription's secret (``whsec_...``), or several (during a rotation).

    Raises:
        WebhookVerificationError: Missing headers, a timestamp more than five minutes away, or
            no signature made with the secret.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise WebhookVerificationError("no secret to verify with")
    plain = {str(k).lower(): str(v) for k, v in headers.items()}
    reason = "no signature made with the secret"
    for one in secrets:
        try:
            return standardwebhooks.Webhook(one).verify(body, plain)
        except standardwebhooks.WebhookVerificationError as exc:
            reason = str(exc) or reason
            if "signature" not in reason.lower():
                break  # a header or timestamp problem: no other secret can help
        except (ValueError, TypeError) as exc:  # a malformed secret or signature header
            reason = f"malformed secret or signature ({exc})"
    raise WebhookVerificationError(f"webhook did not verify: {reason}")


def _fields(**values: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple | set | frozenset) else v)
            for k, v in values.items() if v is not None}  # fmt: skip


class WebhookCalls:
    """The requests and answers of ``client.webhooks``, IO-free (shared by both clients)."""

    def __init__(self, client: _Builder) -> None:
        self._calls = client

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        return self._calls._build(method, "webhooks" + path, **kwargs)

    def _add_request(
        self,
        url: str,
        events: Iterable[str] | None,
        job_name: str | None,
        job_ids: Iterable[JobId] | None,
        description: str | None,
    ) -> httpx.Request:
        body = _fields(
            url=url,
            events=list(events) if events is not None else None,
            job_name=job_name,
            job_ids=[str(i) if not isinstance(i, int) else i for i in job_ids]
            if job_ids is not None
            else None,
            description=description,
        )
        return self._request("POST", "", json=body)

    def _update_request(self, hook_id: str, changes: Mapping[str, Any]) -> httpx.Request:
        return self._request("PATCH", f"/{hook_id}", json=_fields(**changes))

    def _list_request(self) -> httpx.Request:
        return self._request("GET", "")

    def _get_request(self, hook_id: str) -> httpx.Request:
        return self._request("GET", f"/{hook_id}")

    def _delete_request(self, hook_id: str) -> httpx.Request:
        return self._request("DELETE", f"/{hook_id}")

    def _action_request(self, hook_id: str, action: str) -> httpx.Request:
        return self._request("POST", f"/{hook_id}/{action}")

    def _deliveries_request(
        self, hook_id: str, limit: int | None, before: int | None
    ) -> httpx.Request:
        params = _fields(limit=limit, before=before)
        return self._request("GET", f"/{hook_id}/deliveries", params=params)

    def _redeliver_request(self, hook_id: str, delivery_id: int) -> httpx.Request:
        return self._request("POST", f"/{hook_id}/deliveries/{int(delivery_id)}/redeliver")

    def _job_deliveries_request(self, job_id: JobId) -> httpx.Request:
        return self._request("GET", "/deliveries", params={"job_id": str(job_id)})

    # -- answers -----------------------------------------------------------------------------
    def _body(self, response: httpx.Response) -> Any:
        return self._calls._json(response)

    def _parse(self, response: httpx.Response, build: Callable[[Any], T]) -> T:
        return self._calls._parse_as(response, build)

    def _parse_secret(self, response: httpx.Response) -> WebhookSecret:
        return self._parse(response, WebhookSecret.from_json)

    def _parse_hook(self, response: httpx.Response) -> Webhook:
        return self._parse(response, Webhook.from_json)

    def _parse_hooks(self, response: httpx.Response) -> list[Webhook]:
        return self._parse(response, lambda b: [Webhook.from_json(i) for i in b["webhooks"]])

    def _parse_delivery(self, response: httpx.Response) -> WebhookDelivery:
        return self._parse(response, WebhookDelivery.from_json)

    def _parse_deliveries(self, response: httpx.Response) -> list[WebhookDelivery]:
        return self._parse(
            response, lambda b: [WebhookDelivery.from_json(i) for i in b["deliveries"]]
        )

    def _parse_deleted(self, response: httpx.Response) -> None:
        self._body(response)
