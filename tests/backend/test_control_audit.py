"""Job control is audited: holds, releases, urgency changes, signals and bulk cancels."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import ServerFactory


def test_job_control_is_recorded(server_factory: ServerFactory, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    server = server_factory(args=["--audit-log", str(audit), "--cores-per-node", "2"])
    with httpx.Client(base_url=server.url, timeout=30) as client:
        gate = client.post("/v1/jobs/submit", json={"command": "true", "urgency": 0}).json()["id"]
        job = client.post(
            "/v1/jobs/submit", json={"command": "true", "dependency": f"after:{gate}"}
        ).json()["id"]
        assert client.post(f"/v1/jobs/{job}/urgency", json={"urgency": 3}).status_code == 200
        assert client.post(f"/v1/jobs/{job}/hold").status_code == 200
        assert client.post(f"/v1/jobs/{job}/signal", json={"signal": "HUP"}).status_code == 400
        assert client.post("/v1/jobs/cancel", json={"ids": [gate, job]}).json()["count"] == 2
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    control = [(r["event"], r.get("job"), r["outcome"]) for r in records if r["event"] != "submit"]
    assert control == [
        ("urgency", str(job), "ok"),
        ("hold", str(job), "ok"),
        ("signal", str(job), "failed"),
        ("cancel_many", None, "ok"),
    ]
