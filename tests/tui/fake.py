"""A static API on ``httpx.MockTransport`` for deterministic snapshots and the benchmark."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx

from flux_restful_client import AsyncClient
from tests.sdk.conftest import OUR_AUTH

FROZEN = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


def job(job_id: int, state: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": job_id,
        "state": state,
        "result": "",
        "returncode": "",
        "name": "job",
        "user": "alice",
        "ntasks": 1,
        "nnodes": 1,
        "ncores": 1,
        "runtime": 0.0,
        "t_submit": FROZEN - 600 + job_id % 1000,
        "cwd": "/home/alice",
        "queue": "",
        "urgency": 16,
        "priority": 16,
        "nodelist": "node0",
    }
    base.update(extra)
    return base


def sample_jobs() -> list[dict[str, Any]]:
    return [
        job(1007, "RUN", name="train", ntasks=4, nnodes=2, t_run=FROZEN - 75.0, runtime=70.0),
        job(1006, "SCHED", name="analysis", user="bob", ntasks=8, nnodes=2),
        job(
            1005, "INACTIVE", name="sim", result="COMPLETED", returncode=0, runtime=12.5,
            t_run=FROZEN - 300, t_inactive=FROZEN - 287.5,
        ),
        job(1004, "INACTIVE", name="broken", result="FAILED", returncode=2, runtime=0.4),
        job(1003, "INACTIVE", name="sleep", user="bob", result="CANCELED", returncode=-15),
        job(1002, "INACTIVE", name="hostname", result="COMPLETED", returncode=0, runtime=0.1),
    ]  # fmt: skip


EVENTLOG = [
    {"seq": 0, "name": "submit", "timestamp": FROZEN - 80.0, "context": {"urgency": 16}},
    {"seq": 1, "name": "depend", "timestamp": FROZEN - 79.9, "context": {}},
    {"seq": 2, "name": "alloc", "timestamp": FROZEN - 79.5, "context": {}},
    {"seq": 3, "name": "start", "timestamp": FROZEN - 75.0, "context": {}},
]

FRAMES = [
    {"seq": 1, "type": "state", "state": "RUN", "t": FROZEN - 75.0},
    *(
        {
            "seq": 2 + i,
            "type": "output",
            "stream": "stderr" if i % 4 == 3 else "stdout",
            "rank": i % 2,
            "data": f"epoch {i}: loss={1.0 / (i + 1):.4f}\n"
            if i % 4 != 3
            else f"warning: slow step {i}\n",
            "t": FROZEN - 70.0 + i,
        }
        for i in range(12)
    ),
    {"seq": 14, "type": "end", "state": "INACTIVE", "result": "COMPLETED", "returncode": 0},
]

NODES = {
    "nodes": [
        {"name": "node0", "cores": 4, "gpus": 2, "free_cores": 1, "free_gpus": 0},
        {"name": "node1", "cores": 4, "gpus": 2, "free_cores": 4, "free_gpus": 2},
        {"name": "node2", "cores": 8, "gpus": 0, "free_cores": 2, "free_gpus": 0},
    ]
}


def submitted_fields(request: httpx.Request) -> dict[str, Any]:
    """A submit as the server reads it: query fields (typed back), JSON body = envars."""
    fields: dict[str, Any] = dict(request.url.params)
    for key, value in fields.items():
        if value.lstrip("-").isdigit():
            fields[key] = int(value)
        elif value in ("true", "false"):
            fields[key] = value == "true"
    if request.content:
        fields["envars"] = json.loads(request.content)
    return fields


def sse(frames: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(f"data: {json.dumps(f)}\n\n".encode() for f in frames)


class StaticApi:
    """Answers the dashboard's requests from fixed data."""

    def __init__(
        self,
        jobs: list[dict[str, Any]] | None = None,
        frames: list[dict[str, Any]] | None = None,
    ) -> None:
        self.jobs = {j["id"]: j for j in (jobs if jobs is not None else sample_jobs())}
        self.frames = frames if frames is not None else FRAMES
        self.submitted: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/").rstrip("/")
        parts = path.split("/")
        if path == "jobs":
            return httpx.Response(200, json=list(self.jobs.values()))
        if path == "nodes":
            return httpx.Response(200, json=NODES)
        if path == "auth":
            return httpx.Response(200, json=OUR_AUTH)
        if path == "me":
            me = {"user": None, "superuser": True, "scopes": ["admin", "read", "submit"]}
            return httpx.Response(200, json={**me, "auth": "anonymous"})
        if path == "events":
            return httpx.Response(404, json={"detail": "Not found"})
        if path == "jobs/submit":
            body = submitted_fields(request)
            self.submitted.append(body)
            if body.get("num_nodes", 1) > 3:
                return httpx.Response(
                    400,
                    json={
                        "Message": "Invalid submit request",
                        "Errors": [
                            f"The server only has 3 nodes, you requested {body['num_nodes']}"
                        ],
                    },
                )
            return httpx.Response(200, json={"Message": "Job submit.", "id": 2000})
        if parts[0] == "jobs" and len(parts) >= 2:
            record = self.jobs.get(int(parts[1]))
            if record is None:
                return httpx.Response(404, json={"detail": f"Job {parts[1]} not found"})
            rest = "/".join(parts[2:])
            if rest == "":
                return httpx.Response(200, json=record)
            if rest == "events":
                return httpx.Response(200, json={"id": record["id"], "events": EVENTLOG})
            if rest == "stream":
                return httpx.Response(
                    200, content=sse(self.frames), headers={"content-type": "text/event-stream"}
                )
            if rest == "cancel":
                return httpx.Response(
                    200, json={"Message": "Job is requested to cancel.", "id": record["id"]}
                )
        return httpx.Response(404, json={"detail": "Not found"})

    def client(self) -> AsyncClient:
        return AsyncClient(
            host="http://flux.example:5000",
            transport=httpx.MockTransport(self.handler),
            user="alice",
            attempts=1,
        )
