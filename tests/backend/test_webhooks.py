"""Webhooks through real servers and a real receiver on 127.0.0.1 (docs/webhooks.md).

Nothing here ever sends to an address that is not loopback: refused targets are refused before
any connection (the allowlist is checked on the resolved addresses first).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.conftest import Server, ServerFactory, free_port, wait_for
from tests.webhook_receiver import HOOKED_ENV, Received, hooked_server, receiver

from .test_auth_server import AUTH_ENV, add, login

pytestmark = pytest.mark.xdist_group("webhooks")  # two module servers, shared by the tests

FAST = HOOKED_ENV
STRICT = {
    **FAST,
    "FLUX_WEBHOOK_TIMEOUT": "1",
    "FLUX_WEBHOOK_MAX_AGE": "1.5",
    "FLUX_WEBHOOK_PAUSE_AFTER": "0.5",
    "FLUX_WEBHOOK_REDIRECTS": "2",
    "FLUX_WEBHOOK_ROTATE_GRACE": "0",
}
"""Short limits: attempts time out after 1 s, deliveries are given up after 1.5 s, endpoints
are paused after failing for 0.5 s, two redirects are followed, rotation has no grace."""


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from hooked_server(tmp_path_factory.mktemp("wh"))


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from hooked_server(tmp_path_factory.mktemp("whs"), STRICT)


def clean(server: Server) -> Iterator[httpx.Client]:
    """A client for ``server``; the test's subscriptions are deleted afterwards."""
    with httpx.Client(base_url=server.url, timeout=10) as http_client:
        yield http_client
        for hook in http_client.get("/v1/webhooks").json()["webhooks"]:
            http_client.delete(f"/v1/webhooks/{hook['id']}")


@pytest.fixture
def client(fast: Server) -> Iterator[httpx.Client]:
    yield from clean(fast)


@pytest.fixture
def strict_client(strict: Server) -> Iterator[httpx.Client]:
    yield from clean(strict)


def subscribe(client: httpx.Client, url: str, **fields: Any) -> tuple[str, str]:
    r = client.post("/v1/webhooks", json={"url": url, **fields})
    assert r.status_code == 201, r.text
    return r.json()["webhook"]["id"], r.json()["secret"]


def submit(client: httpx.Client, command: str = "true", **fields: Any) -> int:
    r = client.post("/v1/jobs/submit", params={"command": command, **fields})
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


def deliveries(client: httpx.Client, hook_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/webhooks/{hook_id}/deliveries", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return list(r.json()["deliveries"])


def settled(client: httpx.Client, hook_id: str, count: int, **kw: Any) -> None:
    """Wait until the server's log shows ``count`` deliveries for the hook, all delivered.

    A delivery is marked delivered only after the receiver answered it, and nothing is sent
    again once delivered: from then on the receiver's count is final, so a repeat or an extra
    delivery (the bugs these tests look for) has already arrived when this returns.
    """

    def done() -> bool:
        r = client.get(f"/v1/webhooks/{hook_id}/deliveries", params={"limit": 1000}, **kw)
        log = r.json()["deliveries"]
        return len(log) >= count and all(d["status"] == "delivered" for d in log)

    wait_for(done, 30, what=f"{count} deliveries of {hook_id} delivered")


def body(got: Received) -> dict[str, Any]:
    return dict(json.loads(got.body))


def test_signed_deliveries_once_per_event_in_order(client: httpx.Client) -> None:
    with receiver() as rec:
        hook_id, secret = subscribe(client, rec.url)
        first = submit(client, "true")
        second = submit(client, "false")
        rec.wait(6)
        settled(client, hook_id, 6)  # anything extra (a repeat) has arrived by now
        got = rec.received
        assert len(got) == 6
        verified = [Webhook(secret).verify(g.body, g.headers) for g in got]
        assert [(v["data"]["id"], v["type"]) for v in verified if v["data"]["id"] == first] == [
            (first, "job.submitted"),
            (first, "job.started"),
            (first, "job.finished"),
        ]
        assert [v["type"] for v in verified if v["data"]["id"] == second] == [
            "job.submitted",
            "job.started",
            "job.finished",
        ]
        assert len({g.headers["webhook-id"] for g in got}) == 6
        finished = {v["data"]["id"]: v["data"] for v in verified if v["type"] == "job.finished"}
        assert finished[first]["result"] == "COMPLETED" and finished[first]["returncode"] == 0
        assert finished[second]["result"] == "FAILED" and finished[second]["returncode"] == 1
        assert finished[first]["f58"].startswith("ƒ")
        # Deliveries of one subscription go out in the order the events were recorded.
        log = deliveries(client, hook_id)
        assert [d["msg_id"] for d in sorted(log, key=lambda d: d["id"])] == [
            g.headers["webhook-id"] for g in got
        ]
        # A forged or altered delivery does not verify.
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(got[0].body.replace(b"true", b"evil"), got[0].headers)
        assert {d["status"] for d in log} == {"delivered"}
        assert all(d["attempts"] == 1 and d["last_status_code"] == 200 for d in log)
        # No environment and no secret in any payload.
        assert all(secret.encode() not in g.body and b"PATH" not in g.body for g in got)


def test_filters_by_event_result_and_job_name(client: httpx.Client) -> None:
    with receiver() as rec:
        subscribe(client, rec.url, events=["failed"], job_name="keep")
        submit(client, "true", name="keep-ok")
        submit(client, "false", name="drop-fail")
        wanted = submit(client, "false", name="keep-fail")
        got = rec.wait(1)
        marker = submit(client, "false", name="keep-marker")
        got = rec.wait(2)
        assert [body(g)["data"]["id"] for g in got] == [wanted, marker]
        assert all(body(g)["data"]["result"] == "FAILED" for g in got)


def test_fail_twice_then_succeed_gets_three_attempts_with_growing_gaps(
    client: httpx.Client,
) -> None:

    def flaky(_: Received, before: int) -> tuple[int, dict[str, str], bytes]:
        return (503, {}, b"busy") if before < 2 else (200, {}, b"ok")

    with receiver(flaky) as rec:
        hook_id, _ = subscribe(client, rec.url, events=["finished"])
        submit(client)
        got = rec.wait(3)
        assert len({g.headers["webhook-id"] for g in got}) == 1  # one message, three attempts
        gaps = [got[1].at - got[0].at, got[2].at - got[1].at]
        assert gaps[0] >= 0.25 and gaps[1] > gaps[0], gaps
        log = wait_for(lambda: [d for d in deliveries(client, hook_id) if d["status"] != "pending"])
        assert log[0]["status"] == "delivered" and log[0]["attempts"] == 3
        assert [a["status_code"] for a in log[0]["log"]] == [503, 503, 200]
        assert "answered 503" in log[0]["log"][0]["error"]


def test_retry_after_is_honoured(client: httpx.Client) -> None:
    def slow_down(_: Received, before: int) -> tuple[int, dict[str, str], bytes]:
        return (429, {"Retry-After": "1"}, b"") if before == 0 else (200, {}, b"")

    with receiver(slow_down) as rec:
        subscribe(client, rec.url, events=["finished"])
        submit(client)
        got = rec.wait(2)
        assert got[1].at - got[0].at >= 1.0


def test_client_errors_are_not_retried_and_the_next_delivery_goes_on(
    client: httpx.Client,
) -> None:
    def gone(_: Received, before: int) -> tuple[int, dict[str, str], bytes]:
        return (410, {}, b"") if before == 0 else (200, {}, b"")

    with receiver(gone) as rec:
        hook_id, _ = subscribe(client, rec.url, events=["finished"])
        submit(client)
        submit(client)
        rec.wait(2)
        log = wait_for(lambda: [d for d in deliveries(client, hook_id) if d["status"] != "pending"])
        statuses = sorted((d["id"], d["status"], d["attempts"]) for d in log)
        assert [s[1:] for s in statuses] == [("failed", 1), ("delivered", 1)]
        failed = next(d for d in log if d["status"] == "failed")
        assert "answered 410" in failed["last_error"] and "not retried" in failed["last_error"]
        # Redeliver: due again now, with the same webhook-id.
        r = client.post(f"/v1/webhooks/{hook_id}/deliveries/{failed['id']}/redeliver")
        assert r.status_code == 200, r.text
        got = rec.wait(3)
        assert got[2].headers["webhook-id"] == got[0].headers["webhook-id"]
        r = client.post(f"/v1/webhooks/{hook_id}/deliveries/999999/redeliver")
        assert r.status_code == 404


def test_kill_9_with_20_pending_deliveries_delivers_all_after_restart(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(env=FAST, args=["--cores-per-node", "4"])
    port = free_port()  # nothing listens yet: every attempt is refused, deliveries pile up
    url = f"http://127.0.0.1:{port}/hook"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        hook_id, secret = subscribe(client, url, events=["finished"])
        ids = [submit(client) for _ in range(20)]

        def all_pending() -> bool:
            log = deliveries(client, hook_id)
            return len(log) == 20 and all(d["status"] == "pending" for d in log)

        wait_for(all_pending, 30)
    server.kill()
    with receiver(port=port) as rec:
        server.restart()
        got = rec.wait(20, timeout=30)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            settled(client, hook_id, 20)
        assert len(rec.received) == 20
        bodies = [Webhook(secret).verify(g.body, g.headers) for g in rec.received]
        assert sorted(b["data"]["id"] for b in bodies) == sorted(ids)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            log = sorted(deliveries(client, hook_id), key=lambda d: d["id"])
        assert [b["data"]["id"] for b in bodies] == [d["job_id"] for d in log]  # event order
        assert all(d["status"] == "delivered" for d in log)
        assert len({g.headers["webhook-id"] for g in got}) == 20


def test_secret_rotation_signs_with_both_during_the_grace_period(client: httpx.Client) -> None:
    with receiver() as rec:
        hook_id, old = subscribe(client, rec.url, events=["finished"])
        r = client.post(f"/v1/webhooks/{hook_id}/rotate")
        assert r.status_code == 200, r.text
        new = r.json()["secret"]
        assert new != old and r.json()["webhook"]["old_secret_expires"] > time.time()
        assert "secret" not in client.get(f"/v1/webhooks/{hook_id}").json()
        submit(client)
        got = rec.wait(1)[0]
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        Webhook(new).verify(got.body, got.headers)
        Webhook(old).verify(got.body, got.headers)


def test_rotation_without_grace_drops_the_old_secret(strict_client: httpx.Client) -> None:
    client = strict_client
    with receiver() as rec:
        hook_id, old = subscribe(client, rec.url, events=["finished"])
        new = client.post(f"/v1/webhooks/{hook_id}/rotate").json()["secret"]
        submit(client)
        got = rec.wait(1)[0]
        Webhook(new).verify(got.body, got.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(got.body, got.headers)


def test_pause_holds_deliveries_and_resume_sends_them(client: httpx.Client) -> None:
    with receiver() as rec:
        hook_id, _ = subscribe(client, rec.url, events=["finished"])
        r = client.post(f"/v1/webhooks/{hook_id}/pause")
        assert r.json()["paused"] is True and "paused by" in r.json()["pause_reason"]
        job = submit(client)
        wait_for(lambda: deliveries(client, hook_id))
        assert deliveries(client, hook_id)[0]["status"] == "pending" and not rec.received
        r = client.post(f"/v1/webhooks/{hook_id}/resume")
        assert r.json()["paused"] is False
        assert body(rec.wait(1)[0])["data"]["id"] == job


def test_failing_endpoint_is_paused_with_the_reason(strict_client: httpx.Client) -> None:
    client = strict_client
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens
    if True:
        hook_id, _ = subscribe(client, url, events=["finished"])
        submit(client)
        hook = wait_for(lambda: (h := client.get(f"/v1/webhooks/{hook_id}").json())["paused"] and h)
        assert "failing for" in hook["pause_reason"] and "ConnectError" in hook["pause_reason"]


def test_per_submit_webhook_url_covers_that_job_only(client: httpx.Client) -> None:
    with receiver() as rec:
        job = submit(client, "true", webhook_url=rec.url)
        submit(client, "true")
        got = rec.wait(3)
        per_job = [h for h in client.get("/v1/webhooks").json()["webhooks"] if h["url"] == rec.url]
        settled(client, per_job[0]["id"], 3)
        assert len(rec.received) == 3
        assert [body(g)["type"] for g in got] == ["job.submitted", "job.started", "job.finished"]
        assert {body(g)["data"]["id"] for g in got} == {job}
        hooks = [h for h in client.get("/v1/webhooks").json()["webhooks"] if h["url"] == rec.url]
        assert len(hooks) == 1 and hooks[0]["per_job"] and hooks[0]["job_ids"] == [job]
        job_log = client.get("/v1/webhooks/deliveries", params={"job_id": job}).json()
        assert len(job_log["deliveries"]) == 3
        r = client.post(
            "/v1/jobs/submit", params={"command": "true", "webhook_url": "ftp://127.0.0.1/"}
        )
        assert r.status_code == 400 and "http://" in r.json()["Errors"][0]


def test_ownership(server_factory: ServerFactory) -> None:
    server = server_factory(env={**AUTH_ENV, **FAST}, start=False)
    add(server.state_dir, "alice", "alice-pw")
    add(server.state_dir, "bob", "bob-pw")
    server.start()
    alice, bob = login(server.url, "alice", "alice-pw"), login(server.url, "bob", "bob-pw")
    admin = login(server.url, "fluxuser", "12345")
    with receiver() as rec, httpx.Client(base_url=server.url, timeout=10) as client:
        r = client.post("/v1/webhooks", json={"url": rec.url}, headers=alice)
        hook_id = r.json()["webhook"]["id"]
        assert r.json()["webhook"]["user"] == "alice"
        bob_hook = client.post("/v1/webhooks", json={"url": rec.url, "events": ["finished"]},
                               headers=bob).json()["webhook"]["id"]  # fmt: skip
        for method, path in [
            ("GET", f"/v1/webhooks/{hook_id}"),
            ("PATCH", f"/v1/webhooks/{hook_id}"),
            ("DELETE", f"/v1/webhooks/{hook_id}"),
            ("POST", f"/v1/webhooks/{hook_id}/rotate"),
            ("POST", f"/v1/webhooks/{hook_id}/pause"),
            ("POST", f"/v1/webhooks/{hook_id}/resume"),
            ("GET", f"/v1/webhooks/{hook_id}/deliveries"),
            ("POST", f"/v1/webhooks/{hook_id}/deliveries/1/redeliver"),
        ]:
            r = client.request(method, path, headers=bob, json={"description": "x"})
            assert r.status_code == 404, (method, path, r.text)
        assert [h["id"] for h in client.get("/v1/webhooks", headers=bob).json()["webhooks"]] == [
            bob_hook
        ]
        everyone = client.get("/v1/webhooks", headers=admin).json()["webhooks"]
        assert {h["id"] for h in everyone} == {hook_id, bob_hook}
        assert client.get(f"/v1/webhooks/{hook_id}", headers=admin).status_code == 200
        # Alice's subscription hears about Alice's jobs, never Bob's.
        r = client.post("/v1/jobs/submit", params={"command": "true"}, headers=bob)
        bob_job = r.json()["id"]
        r = client.post("/v1/jobs/submit", params={"command": "true"}, headers=alice)
        alice_job = r.json()["id"]
        rec.wait(4)  # Alice's three events and Bob's finished
        settled(client, hook_id, 3, headers=alice)
        settled(client, bob_hook, 1, headers=bob)
        got = rec.received
        seen = {(g.headers["webhook-id"].split("_")[1], body(g)["data"]["id"]) for g in got}
        assert {job for _, job in seen} == {alice_job, bob_job}
        assert all(job == alice_job for hook, job in seen if f"wh_{hook}" == hook_id)
        r = client.get("/v1/webhooks/deliveries", params={"job_id": alice_job}, headers=bob)
        assert r.status_code == 404


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"url": "ftp://127.0.0.1/x"}, "http://"),
        ({"url": "javascript:alert(1)"}, "http://"),
        ({"url": "http://user:pw@127.0.0.1/x"}, "credentials"),
        ({"url": "http://127.0.0.1/" + "a" * 2048}, "2048"),
        ({"url": "http://10.1.2.3/hook"}, "FLUX_WEBHOOK_ALLOW"),
        ({"url": "http://[2001:db8::1]/hook"}, "FLUX_WEBHOOK_ALLOW"),
        ({"url": "http://no-such-host.invalid/hook"}, "cannot resolve"),
        ({"url": "http://127.0.0.1/x#frag"}, "fragment"),
        ({"url": "http:///nohost"}, "no host"),
        ({"url": 5}, "string"),
        ({}, "url is required"),
        ({"url": "http://127.0.0.1/x", "events": ["finishd"]}, "unknown event"),
        ({"url": "http://127.0.0.1/x", "events": []}, "non-empty"),
        ({"url": "http://127.0.0.1/x", "job_ids": ["nope"]}, "job_ids"),
        ({"url": "http://127.0.0.1/x", "colour": "red"}, "unknown field"),
    ],
)
def test_bad_subscriptions_are_400_with_the_reason(
    fast: Server, fields: dict[str, Any], reason: str
) -> None:
    r = httpx.post(fast.url + "/v1/webhooks", json=fields)
    assert r.status_code == 400, r.text
    assert reason in r.json()["detail"], r.json()


def test_bad_bodies_and_ids(fast: Server) -> None:
    url = fast.url
    r = httpx.post(
        url + "/v1/webhooks", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert httpx.post(url + "/v1/webhooks", json=[1]).status_code == 400
    assert httpx.get(url + "/v1/webhooks/wh_nope").status_code == 404
    assert httpx.get(url + "/v1/webhooks/deliveries").status_code == 400
    assert httpx.get(url + "/v1/webhooks/deliveries", params={"job_id": "x!"}).status_code == 400
    r = httpx.get(url + "/v1/webhooks/wh_nope/deliveries", params={"limit": "-1"})
    assert r.status_code in (400, 404)


def test_webhooks_are_off_without_an_allowlist(server: Server) -> None:
    r = httpx.post(server.url + "/v1/webhooks", json={"url": "http://127.0.0.1:9/x"})
    assert r.status_code == 400 and "FLUX_WEBHOOK_ALLOW" in r.json()["detail"]


def test_disallowed_redirect_is_refused_before_connecting(strict_client: httpx.Client) -> None:
    client = strict_client

    def away(_: Received, __: int) -> tuple[int, dict[str, str], bytes]:
        return 307, {"Location": "http://10.9.9.9/steal"}, b""

    with receiver(away) as rec:
        hook_id, _ = subscribe(client, rec.url, events=["finished"])
        submit(client)
        rec.wait(1)
        log = wait_for(lambda: [d for d in deliveries(client, hook_id) if d["status"] == "failed"])
        assert "redirect to http://10.9.9.9/steal" in log[0]["last_error"]
        assert "FLUX_WEBHOOK_ALLOW" in log[0]["last_error"]


def test_redirects_are_not_followed_by_default(client: httpx.Client) -> None:
    with receiver() as target:

        def hop(_: Received, __: int) -> tuple[int, dict[str, str], bytes]:
            return 302, {"Location": target.url}, b""

        with receiver(hop) as rec:
            hook_id, _ = subscribe(client, rec.url, events=["finished"])
            submit(client)
            rec.wait(1)
            log = wait_for(
                lambda: [d for d in deliveries(client, hook_id) if d["status"] == "failed"]
            )
            assert "not followed" in log[0]["last_error"]
            assert not target.received


def test_hanging_and_huge_answers_end_by_the_limits(strict_client: httpx.Client) -> None:
    client = strict_client
    release = threading.Event()

    def hang(_: Received, __: int) -> tuple[int, dict[str, str], bytes]:
        release.wait(10)
        return 200, {}, b""

    def huge(_: Received, __: int) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, b"x" * (10 * 1024 * 1024)

    try:
        with receiver(hang) as hanging, receiver(huge) as big:
            hang_id, _ = subscribe(client, hanging.url, events=["finished"])
            big_id, _ = subscribe(client, big.url, events=["finished"])
            submit(client)
            big_log = wait_for(
                lambda: [d for d in deliveries(client, big_id) if d["status"] != "pending"]
            )
            assert big_log[0]["status"] == "delivered"
            assert "the rest was not read" in big_log[0]["last_error"]
            hang_log = wait_for(
                lambda: [d for d in deliveries(client, hang_id) if d["status"] != "pending"], 15
            )
            assert hang_log[0]["status"] == "failed"
            assert "no complete answer within 1 s" in hang_log[0]["log"][0]["error"]
            assert "FLUX_WEBHOOK_MAX_AGE" in hang_log[0]["last_error"]
    finally:
        release.set()


def delivered_count(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('flux_restful_webhook_attempts_total{outcome="delivered"}'):
            return float(line.split()[-1])
    raise AssertionError("no webhook attempts in /metrics")


def test_metrics_count_deliveries(client: httpx.Client) -> None:
    before = delivered_count(client)
    with receiver() as rec:
        subscribe(client, rec.url, events=["finished"])
        submit(client)
        rec.wait(1)
        wait_for(lambda: delivered_count(client) >= before + 1)
        assert "flux_restful_webhook_deliveries_pending" in client.get("/metrics").text
