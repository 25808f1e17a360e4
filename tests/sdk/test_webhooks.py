"""``client.webhooks`` (sync and async, one body) and ``verify_webhook``, on a live server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks import Webhook as StandardWebhook

from flux_restful_client import (
    InvalidRequestError,
    NotFoundError,
    UnsupportedByServer,
    WebhookVerificationError,
    verify_webhook,
)
from tests.conftest import Server, wait_for
from tests.webhook_receiver import hooked_server, receiver

pytestmark = pytest.mark.xdist_group("sdk-webhooks")


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from hooked_server(tmp_path_factory.mktemp("sdkwh"))


async def test_subscriptions_through_the_sdk(runner, hooked: Server) -> None:
    client = runner.client(host=hooked.url)
    hooks = client.webhooks
    with receiver() as rec:
        made = await runner.call(hooks, "add", rec.url, events=["finished"], description="ci")
        assert made.secret.startswith("whsec_") and made.webhook.events == ("finished",)
        hook_id = made.webhook.id
        assert hook_id in [h.id for h in await runner.call(hooks, "list")]
        changed = await runner.call(hooks, "update", hook_id, description="nightly")
        assert changed.description == "nightly"
        assert (await runner.call(hooks, "pause", hook_id)).paused
        assert not (await runner.call(hooks, "resume", hook_id)).paused
        rotated = await runner.call(hooks, "rotate", hook_id)
        assert rotated.secret != made.secret and rotated.webhook.old_secret_expires
        job = await runner.call(client, "submit_job", "true")
        got = rec.wait(1)[0]
        event = verify_webhook(got.body, got.headers, rotated.secret)
        assert event["type"] == "job.finished" and event["data"]["id"] == job
        assert verify_webhook(got.body, got.headers, [made.secret])["data"]["id"] == job

        def delivered() -> list:
            log = httpx.get(f"{hooked.url}/v1/webhooks/{hook_id}/deliveries").json()
            return [d for d in log["deliveries"] if d["status"] == "delivered"]

        wait_for(delivered)
        log = await runner.call(hooks, "deliveries", hook_id)
        assert [d.status for d in log] == ["delivered"] and log[0].log[0].status_code == 200
        assert [d.job_id for d in await runner.call(hooks, "for_job", job)] == [job]
        again = await runner.call(hooks, "redeliver", hook_id, log[0].id)
        # the answer is read before the dispatcher runs again: due now, same delivery
        assert (again.id, again.status) == (log[0].id, "pending")
        assert rec.wait(2)[1].headers["webhook-id"] == got.headers["webhook-id"]
        await runner.call(hooks, "delete", hook_id)
        with pytest.raises(NotFoundError):
            await runner.call(hooks, "get", hook_id)
        with pytest.raises(InvalidRequestError, match="FLUX_WEBHOOK_ALLOW"):
            await runner.call(hooks, "add", "http://10.0.0.1/hook")
        with pytest.raises(InvalidRequestError, match="unknown event"):
            await runner.call(hooks, "add", rec.url, events=["nope"])


async def test_another_server_has_no_webhooks(runner) -> None:
    client = runner.mock(lambda request: httpx.Response(404, json={"detail": "Not Found"}))
    with pytest.raises(UnsupportedByServer, match="Webhook subscriptions"):
        await runner.call(client.webhooks, "list")


def test_verify_webhook_refuses_what_was_not_signed_with_the_secret() -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"type": "job.finished", "data": {"id": 1}}'
    now = int(time.time())
    from datetime import UTC, datetime

    signature = StandardWebhook(secret).sign(
        "msg_1", datetime.fromtimestamp(now, tz=UTC), body.decode()
    )
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(now), "Webhook-Signature": signature}
    assert verify_webhook(body, headers, secret)["data"]["id"] == 1
    other = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
    for bad_body, bad_headers, bad_secret in [
        (body.replace(b"1", b"2"), headers, secret),
        (body, headers, other),
        (body, {**headers, "Webhook-Timestamp": str(now - 3600)}, secret),
        (body, {k: v for k, v in headers.items() if k != "Webhook-Signature"}, secret),
        (body, {**headers, "Webhook-Signature": "garbage"}, secret),
        (body, headers, "whsec_not base64!"),
        (body, headers, []),
    ]:
        with pytest.raises(WebhookVerificationError):
            verify_webhook(bad_body, bad_headers, bad_secret)
