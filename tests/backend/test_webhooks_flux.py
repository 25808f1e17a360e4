"""Webhooks on the flux executor: from Flux's journal, once per event, resumed after kill -9.

Runs in ``just test-flux`` (inside a Flux instance); skipped elsewhere.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from flux_restful_server.executors.flux import flux_available
from tests.conftest import ServerFactory
from tests.webhook_receiver import HOOKED_ENV, receiver

FLUX_OK, FLUX_WHY = flux_available()
pytestmark = [
    pytest.mark.flux,
    pytest.mark.skipif(not FLUX_OK, reason=f"no Flux instance: {FLUX_WHY[:200]}"),
]


def test_journal_events_are_delivered_once_in_order_and_resume_after_kill_9(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(env=HOOKED_ENV, args=["--executor", "flux"])
    with receiver() as rec, httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/v1/webhooks", json={"url": rec.url})
        hook_id = r.json()["webhook"]["id"]
        ok = client.post("/v1/jobs/submit", params={"command": "true"}).json()["id"]
        bad = client.post(
            "/v1/jobs/submit", params={"command": "false", "webhook_url": rec.url}
        ).json()["id"]
        rec.wait(9, 60)  # 3 events x (ok, bad) for the subscription, 3 for bad's own
        time.sleep(1)
        got = [(g.headers["webhook-id"], json.loads(g.body)) for g in rec.received]
        assert len(got) == 9 and len({msg for msg, _ in got}) == 9, [(m, b["type"]) for m, b in got]
        for job in (ok, bad):
            for prefix in {msg.split("_")[1] for msg, b in got if b["data"]["id"] == job}:
                kinds = [
                    b["type"]
                    for msg, b in got
                    if msg.split("_")[1] == prefix and b["data"]["id"] == job
                ]
                assert kinds == ["job.submitted", "job.started", "job.finished"], (job, kinds)
        results = {
            b["data"]["id"]: b["data"]["result"] for _, b in got if b["type"] == "job.finished"
        }
        assert results == {ok: "COMPLETED", bad: "FAILED"}
        server.kill()
        server.restart()
        after = client.post("/v1/jobs/submit", params={"command": "true"}).json()["id"]
        rec.wait(12, 60)
        time.sleep(1)
        new = [json.loads(g.body)["data"]["id"] for g in rec.received[9:]]
        assert new == [after] * 3  # nothing seen before the restart came again
        log = client.get(f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]
        assert len(log) == 9 and {d["status"] for d in log} == {"delivered"}
