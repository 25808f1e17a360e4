"""Clients for the stream tests (no tests here): real websocket and SSE connections."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_for_async

PY = sys.executable


def ws_url(server_url: str, path: str) -> str:
    """The websocket URL of ``path`` on the server."""
    return "ws" + server_url.removeprefix("http") + path


async def submit(client: httpx.AsyncClient, command: list[str], **fields: Any) -> int:
    """Submit a job and return its id."""
    response = await client.post("/v1/jobs/submit", json={"command": command, **fields})
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


async def ws_frames(
    url: str, *, limit: int | None = None, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[list[dict[str, Any]], int | None]:
    """Read frames until the server closes (or ``limit`` frames); return them and the close code."""
    frames: list[dict[str, Any]] = []
    kw.setdefault("max_queue", None)
    async with websockets.connect(url, additional_headers=headers, max_size=None, **kw) as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in ws:
                frame = json.loads(message)
                if frame.get("type") == "ping":
                    continue
                frames.append(frame)
                if limit is not None and len(frames) >= limit:
                    ws.transport.abort()  # a forced disconnect, not a goodbye
                    return frames, None
    return frames, ws.close_code


async def sse_frames(
    client: httpx.AsyncClient,
    path: str,
    *,
    limit: int | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Read SSE frames until the server ends the response (or ``limit`` frames).

    Every frame carrying a ``seq`` must be labelled with ``id: <seq>``, a ``batch`` frame with
    its last entry's ``seq``.
    """
    frames: list[dict[str, Any]] = []
    event_id: str | None = None
    async with client.stream(
        "GET",
        path,
        params=params,
        headers={"Accept": "text/event-stream", **(headers or {})},
        timeout=httpx.Timeout(30.0),
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                frame = json.loads(line[6:])
                if frame.get("type") == "ping":
                    continue
                if "seq" in frame:
                    assert event_id == str(frame["seq"])
                elif frame.get("type") == "batch":
                    assert event_id == str(frame["entries"][-1]["seq"])
                event_id = None
                frames.append(frame)
                if limit is not None and len(frames) >= limit:
                    return frames
    return frames


def flatten(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frames with every ``batch`` frame replaced by its entries."""
    out: list[dict[str, Any]] = []
    for frame in frames:
        if frame.get("type") == "batch":
            assert frame["entries"], frame  # never an empty batch
            out.extend(frame["entries"])
        else:
            out.append(frame)
    return out


def check_complete(frames: list[dict[str, Any]], since: int = 0) -> None:
    """Seqs run from ``since + 1`` without gap or repeat, and the last frame is ``end``."""
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(since + 1, since + 1 + len(seqs))), seqs
    assert frames[-1]["type"] == "end"


async def wait_state(
    client: httpx.AsyncClient, job_id: int, state: str, timeout: float = 15
) -> None:
    """Poll until the job is in ``state``."""

    async def info() -> dict[str, Any]:
        return dict((await client.get(f"/v1/jobs/{job_id}")).json())

    await wait_for_async(
        info, timeout, until=lambda i: i["state"] == state, what=f"job {job_id} in {state}"
    )


async def stream_metrics(client: httpx.AsyncClient) -> dict[str, float]:
    """Open streams from ``/metrics``: ``followers_job`` and ``followers_feed``."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        f"followers_{sample.labels['kind']}": sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "flux_restful_stream_followers"
    }
