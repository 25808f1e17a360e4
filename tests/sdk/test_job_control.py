"""SDK job control against a real server (one body for Client and AsyncClient): dependencies,
hold, release, urgency, signals, bulk cancel, pending reasons; refusals before any request."""

from __future__ import annotations

import asyncio
import sys

import httpx
import pytest

from flux_restful_client import (
    CancelResult,
    InvalidRequestError,
    NotFoundError,
    SignalResult,
    UnsupportedByServer,
    UrgencyChange,
)

PY = sys.executable
TRAP = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGUSR1, lambda *a: (print('usr1', flush=True), sys.exit(4)))\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


async def test_hold_release_urgency_and_a_dependency(runner, server):
    client = runner.client(host=server.url)
    gate = await runner.call(client, "submit_job", ["sleep", "120"], urgency=0)
    job = await runner.call(
        client, "submit_job", ["echo", "after"], dependency=[f"after:{gate}"], urgency=5
    )
    info = await runner.call(client, "get_job", job)
    assert info.state == "DEPEND" and info.pending_reason.startswith("waiting on after:ƒ")
    held = await runner.call(client, "hold_job", job)
    assert held == UrgencyChange(job, 0, 5, "Job is held.")
    assert held.changed and (await runner.call(client, "get_job", job)).is_held
    released = await runner.call(client, "release_job", job)
    assert (released.urgency, released.old_urgency) == (5, 0)
    assert (await runner.call(client, "set_urgency", job, "default")).urgency == 16
    gate_info = await runner.call(client, "get_job", gate)
    assert gate_info.pending_reason == "held (urgency 0)" and gate_info.is_held
    await runner.call(client, "release_job", gate)
    done = await runner.call(client, "wait", job, timeout=60)
    assert done.result == "COMPLETED" and done.pending_reason is None
    with pytest.raises(InvalidRequestError, match="between 0 and 31"):
        await runner.call(client, "set_urgency", gate, 40)
    result = await runner.call(client, "cancel_jobs", ids=[gate])
    assert result == CancelResult((gate,), "1 job requested to cancel.") and result.count == 1
    await runner.close(client)


async def test_signal_and_bulk_cancel(runner, server):
    client = runner.client(host=server.url)
    job = await runner.call(client, "submit_job", [PY, "-c", TRAP])
    for _ in range(600):  # its first line proves the handler is installed
        if await runner.call(client, "get_output", job):
            break
        await asyncio.sleep(0.05)
    sent = await runner.call(client, "signal_job", job, "USR1")
    assert sent == SignalResult(job, 10, "SIGUSR1")
    assert (await runner.call(client, "wait", job, timeout=60)).returncode == 4
    with pytest.raises(InvalidRequestError, match="inactive"):
        await runner.call(client, "signal_job", job, 15)
    with pytest.raises(NotFoundError):
        await runner.call(client, "hold_job", "ƒ2zqL5Hn")
    queued = [
        await runner.call(client, "submit_job", ["true"], urgency=0, name="sdk-sweep")
        for _ in range(3)
    ]
    swept = await runner.call(client, "cancel_jobs", name="sdk-sweep", state="pending")
    assert sorted(swept.ids) == sorted(queued)
    with pytest.raises(InvalidRequestError, match="at least one filter"):
        await runner.call(client, "cancel_jobs")
    await runner.close(client)


async def test_upstream_servers_have_no_job_control(runner):
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if request.url.path == "/v1/auth":
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(404, json={"detail": "Not Found"})

    client = runner.mock(handler, ours=False)
    with pytest.raises(UnsupportedByServer):
        await runner.call(client, "hold_job", 1)
    with pytest.raises(UnsupportedByServer):
        await runner.call(client, "cancel_jobs", all=True)
    assert sent == ["/v1/auth"]
    with pytest.raises(InvalidRequestError, match="dependency must be"):
        await runner.call(client, "submit_job", ["true"], dependency=[3])
    await runner.close(client)
