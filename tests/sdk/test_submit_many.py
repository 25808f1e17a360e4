"""The SDK's submit side of issue 12 against a real server: batches, dry runs, jobspecs, and
submits re-sent safely after a dropped connection (one body for Client and AsyncClient)."""

from __future__ import annotations

import httpx
import pytest

from flux_restful_client import (
    BatchResult,
    DryRun,
    InvalidRequestError,
    TransportError,
    UnsupportedByServer,
)

from .conftest import OUR_AUTH


class DropFirstAnswer(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Delivers requests to the real server, but loses the answer to the first submit."""

    def __init__(self) -> None:
        self.sync = httpx.HTTPTransport()
        self.aio = httpx.AsyncHTTPTransport()
        self.dropped = 0
        self.keys: list[str | None] = []

    def _lose(self, request: httpx.Request) -> bool:
        if request.url.path.endswith(("/jobs/submit", "/jobs/batch")):
            self.keys.append(request.headers.get("Idempotency-Key"))
            if not self.dropped:
                self.dropped += 1
                return True
        return False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.sync.handle_request(request)
        if self._lose(request):
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self.sync.close()

    async def aclose(self) -> None:
        await self.aio.aclose()
        self.sync.close()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.aio.handle_async_request(request)
        if self._lose(request):
            await response.aclose()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


def _ids(server) -> set[int]:
    return {j["id"] for j in httpx.get(server.url + "/v1/jobs").json()["jobs"]}


async def test_a_submit_whose_answer_was_lost_is_resent_and_made_once(runner, server):
    transport = DropFirstAnswer()
    client = runner.client(host=server.url, transport=transport, backoff=0)
    before = _ids(server)
    job_id = await runner.call(client, "submit_job", "true", name="once")
    assert transport.dropped == 1
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1] is not None
    assert _ids(server) - before == {job_id}
    await runner.close(client)


async def test_a_batch_whose_answer_was_lost_is_resent_and_made_once(runner, server):
    transport = DropFirstAnswer()
    client = runner.client(host=server.url, transport=transport, backoff=0)
    before = _ids(server)
    result = await runner.call(client, "submit_many", ["true", "true"])
    assert result.replayed is True
    assert set(result.ids) == _ids(server) - before
    await runner.close(client)


async def test_upstream_submits_are_never_resent(runner):
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth":  # upstream 1.1.0: no server description
            return httpx.Response(200, json={k: v for k, v in OUR_AUTH.items() if k != "server"})
        sent.append(request)
        raise httpx.ReadError("reset", request=request)

    client = runner.mock(handler, ours=False)
    with pytest.raises(TransportError):
        await runner.call(client, "submit_job", "true")
    assert len(sent) == 1
    with pytest.raises(UnsupportedByServer):
        await runner.call(client, "submit_many", ["true"])
    await runner.close(client)


async def test_submit_many_in_order_with_per_entry_errors(runner, server):
    client = runner.client(host=server.url)
    result = await runner.call(
        client,
        "submit_many",
        ["echo a", {"command": ["echo", "b"], "name": "bee"}, {"command": "x", "num_tasks": 0}],
        runtime=60,
    )
    assert isinstance(result, BatchResult)
    assert [e.index for e in result.entries] == [0, 1, 2]
    assert result.ids[2] is None and all(result.ids[:2])
    assert not result.ok and [e.index for e in result.failed] == [2]
    assert "num_tasks must be >= 1, found 0" in result.failed[0].errors
    info = await runner.call(client, "wait", result.ids[1], timeout=30)
    assert info.name == "bee"
    await runner.close(client)


async def test_submit_many_cc_and_all_invalid(runner, server):
    client = runner.client(host=server.url)
    result = await runner.call(client, "submit_many", ["echo {cc}"], cc="0-2")
    assert len(result.ids) == 3 and result.ok
    await runner.call(client, "wait", result.ids[2], timeout=30)
    assert await runner.call(client, "get_output", result.ids[2]) == ["2\n"]  # {cc} became 2
    bad = await runner.call(client, "submit_many", [{"command": "x", "cores_per_task": 0}])
    assert bad.ids == [None] and bad.failed[0].code == "invalid_request"
    with pytest.raises(InvalidRequestError, match="at least one job"):
        await runner.call(client, "submit_many", [])
    before = _ids(server)
    with pytest.raises(InvalidRequestError, match="Batch entry 1: A command list must be non"):
        await runner.call(client, "submit_many", [["echo", "a"], [], ["echo", "b"]])
    with pytest.raises(TypeError, match="Batch entry 0: .*nonsense"):
        await runner.call(client, "submit_many", [{"command": "true", "nonsense": 1}])
    assert _ids(server) == before  # refused before sending: nothing half-submitted
    with pytest.raises(InvalidRequestError, match="cc must be an idset"):
        await runner.call(client, "submit_many", ["true"], cc="x")
    await runner.close(client)


async def test_dry_run_and_jobspec(runner, server):
    client = runner.client(host=server.url)
    before = _ids(server)
    checked = await runner.call(client, "dry_run", ["echo", "hi"], num_tasks=2)
    assert isinstance(checked, DryRun)
    assert checked.request["command"] == ["echo", "hi"] and checked.request["num_tasks"] == 2
    with pytest.raises(InvalidRequestError, match="cores_per_task"):
        await runner.call(client, "dry_run", "true", cores_per_task=0)
    assert _ids(server) == before
    spec = (
        "version: 1\nresources: [{type: slot, count: 1, label: task, with: [{type: core, "
        "count: 1}]}]\ntasks: [{command: [echo, spec], slot: task, count: {per_slot: 1}}]\n"
    )
    job_id = await runner.call(client, "submit_jobspec", spec)
    info = await runner.call(client, "wait", job_id, timeout=30)
    assert info.result == "COMPLETED"
    assert await runner.call(client, "get_output", job_id) == ["spec\n"]
    await runner.close(client)


async def test_own_idempotency_key_across_clients(runner, server):
    first = runner.client(host=server.url)
    second = runner.client(host=server.url)
    one = await runner.call(first, "submit_job", "true", idempotency_key="step-42")
    two = await runner.call(second, "submit_job", "true", idempotency_key="step-42")
    assert one == two
    await runner.close(first)
    await runner.close(second)
