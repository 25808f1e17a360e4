"""Our SDK against an upstream-shaped 1.1.0 server: every call works, or falls back, or says why.

The server (``tests/upstream_shaped.py``) reads submit fields only from the query string and the
JSON body as envars, and has no frame stream, event feed or eventlog route, as 1.1.0. The same
tests run against the real upstream 1.1.0 on real Flux in ``test_real_upstream.py``.
"""

from __future__ import annotations

import shlex

import httpx
import pytest

from flux_restful_client import (
    InvalidRequestError,
    NotFoundError,
    ServerError,
    UnexpectedAnswerError,
    UnsupportedByServer,
)
from tests.upstream_shaped import UpstreamShapedServer

CREDENTIALS = {"user": "fluxuser", "token": "12345", "secret_key": "notsecrethoo"}


def _client(runner, upstream: UpstreamShapedServer, **kwargs):
    creds = CREDENTIALS if upstream.auth else {}
    return runner.client(host=upstream.url, backoff=0.05, **creds, **kwargs)


async def test_knows_it_is_upstream(runner, upstream):
    client = _client(runner, upstream)
    info = await runner.call(client, "server_info")
    assert info.is_upstream
    assert info.supports("stream") is False
    assert str(info).startswith(
        "upstream flux-restful-api (1.1.0 or compatible) at http://127.0.0.1:"
    )
    # Asked once per client.
    await runner.call(client, "server_info")
    assert [r.path for r in upstream.requests].count("/v1/auth") == 1


async def test_submit_every_field_where_upstream_reads_it(runner, upstream, tmp_path):
    client = _client(runner, upstream)
    argv = ["sh", "-c", 'echo "$A" from "$(pwd)"; exit 3']
    job_id = await runner.call(
        client,
        "submit_job",
        argv,
        num_tasks=1,
        cores_per_task=1,
        num_nodes=1,
        exclusive=True,
        option_flags={"cpu-affinity": "off"},
        workdir=str(tmp_path),
        runtime=60,
        envars={"A": "b c"},
        name="every-field",
    )
    submit = upstream.submits()[-1]
    params = submit.params
    assert shlex.split(params["command"]) == argv
    assert params["num_tasks"] == "1" and params["cores_per_task"] == "1"
    assert params["num_nodes"] == "1" and params["exclusive"] == "true"
    assert params["option_flags"] == "cpu-affinity=off"
    assert params["workdir"] == str(tmp_path) and params["runtime"] == "60"
    assert params["name"] == "every-field"  # ours; upstream ignores unknown fields
    assert submit.headers["content-type"] == "application/json"
    assert submit.body == b'{"A":"b c"}'
    info = await runner.call(client, "wait", job_id, timeout=20)
    assert (info.state, info.result, info.returncode) == ("INACTIVE", "FAILED", 3)
    assert await runner.call(client, "get_output", job_id) == [f"b c from {tmp_path}\n"]


async def test_reads_cancel_search_nodes(runner, upstream):
    client = _client(runner, upstream)
    done = await runner.call(client, "submit_job", ["true"])
    sleeper = await runner.call(client, "submit_job", "sleep 30")
    await runner.call(client, "wait", done, timeout=20)
    job = await runner.call(client, "get_job", sleeper)
    assert job.id == sleeper and job.state in ("SCHED", "RUN")
    listed = await runner.call(client, "list_jobs")
    assert {done, sleeper} <= {j.id for j in listed}
    assert [j.id for j in await runner.call(client, "list_jobs", state="completed")] == [done]
    assert [j.id for j in await runner.call(client, "list_jobs", name="sleep")] == [sleeper]
    assert [j.id for j in await runner.call(client, "list_jobs", limit=1)] == [sleeper]
    assert await runner.call(client, "cancel_job", sleeper) == {
        "Message": "Job is requested to cancel.",
        "id": str(sleeper),
    }
    final = await runner.call(client, "wait", sleeper, timeout=20)
    assert final.result == "CANCELED"
    found = await runner.call(client, "search", "sleep")
    assert [row["id"] for row in found["data"]] == [sleeper]
    assert [n.name for n in await runner.call(client, "get_nodes")] == ["node0"]
    with pytest.raises(NotFoundError, match="not found"):
        await runner.call(client, "get_job", 12345)


async def test_lines_fall_back_on_the_chunked_output_stream(runner, upstream):
    client = _client(runner, upstream)
    job_id = await runner.call(
        client, "submit_job", ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.2; done"]
    )
    lines = await runner.collect(client, "iter_lines", job_id)
    assert [line.data for line in lines] == ["line 1\n", "line 2\n", "line 3\n"]
    assert {line.stream for line in lines} == {"stdout"}
    assert [r.path for r in upstream.requests if "stream" in r.path] == [
        f"/v1/jobs/{job_id}/output/stream"
    ]


@pytest.mark.parametrize(
    ("method", "args", "feature"),
    [
        ("iter_frames", (1,), "frame stream"),
        ("iter_events", (), "event feed"),
    ],
)
async def test_streams_of_ours_say_the_server_lacks_them(runner, upstream, method, args, feature):
    client = _client(runner, upstream)
    with pytest.raises(UnsupportedByServer) as info:
        await runner.collect(client, method, *args)
    assert feature in str(info.value)
    assert f"upstream flux-restful-api (1.1.0 or compatible) at {upstream.url}" in str(info.value)


async def test_eventlog_says_the_server_lacks_it(runner, upstream):
    client = _client(runner, upstream)
    with pytest.raises(UnsupportedByServer, match="eventlogs"):
        await runner.call(client, "get_job_events", 1)
    with pytest.raises(UnsupportedByServer, match="frame stream"):
        await runner.collect(client, "iter_lines", 1, since=3)


async def test_long_command_is_refused_before_sending(runner, upstream):
    client = _client(runner, upstream)
    with pytest.raises(InvalidRequestError, match="too long for upstream"):
        await runner.call(client, "submit_job", ["echo", "x" * 10_000])
    assert upstream.submits() == []


async def _next(runner, gen):
    """The generator's next item, or None at its end (sync or async alike)."""
    try:
        return next(gen) if runner.mode == "sync" else await gen.__anext__()
    except (StopIteration, StopAsyncIteration):
        return None


async def test_expired_token_mid_stream_and_mid_poll_logs_in_again(runner, tmp_path):
    upstream = UpstreamShapedServer(auth=True).start()
    flag = tmp_path / "go"
    try:
        client = runner.client(host=upstream.url, backoff=0.05, **CREDENTIALS)
        script = f"echo one; while [ ! -e {flag} ]; do sleep 0.05; done; echo two"
        job_id = await runner.call(client, "submit_job", ["sh", "-c", script])
        first = upstream.submits()
        # The challenged submit is resent exactly as first encoded: same query, same body.
        assert len(first) == 2 and first[0].query == first[1].query
        assert first[0].body == first[1].body
        logins = lambda: len([r for r in upstream.requests if r.path == "/v1/token"])  # noqa: E731
        gen = client.iter_lines(job_id)
        lines = [await _next(runner, gen)]
        # The token expires and the link drops mid-stream: log in again, resume after "one".
        before = logins()
        upstream.expire_tokens()
        upstream.drop_streams()
        flag.touch()
        lines.append(await _next(runner, gen))
        assert [line.data for line in lines] == ["one\n", "two\n"]
        assert logins() == before + 1
        assert await _next(runner, gen) is None
        # And mid-poll.
        upstream.expire_tokens()
        info = await runner.call(client, "wait", job_id, timeout=20)
        assert (info.result, info.returncode) == ("COMPLETED", 0)
        assert logins() == before + 2
    finally:
        upstream.stop()


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected"),
    [
        (200, "text/html", b"<html><body>Welcome to nginx</body></html>", "text/html"),
        (502, "text/html", b"<html>502 Bad Gateway</html>", "HTTP 502 text/html"),
        (200, "application/json", b'{"hello": "world"}', "application/json"),
    ],
    ids=["html", "proxy-502", "unknown-json"],
)
async def test_a_server_that_is_neither_gets_one_clear_error(
    runner, status, content_type, body, expected
):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    client = runner.mock(handler, ours=False, attempts=1)
    with pytest.raises(UnexpectedAnswerError) as info:
        await runner.collect(client, "iter_lines", 1)
    message = str(info.value)
    assert "http://flux.test/v1/auth" in message and expected in message
    assert "does not answer as a Flux RESTful API" in message
    # A route that answers the same way: the same clear error (a 5xx is the server error it is).
    expected_error = ServerError if status >= 500 else UnexpectedAnswerError
    with pytest.raises(expected_error) as job_info:
        await runner.call(client, "get_job", 1)
    assert "http://flux.test/v1/jobs/1" in str(job_info.value)


async def test_upstream_before_110_is_known_by_its_404(runner):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Not Found"})

    client = runner.mock(handler, ours=False)
    info = await runner.call(client, "server_info")
    assert info.is_upstream and str(info).startswith("upstream flux-restful-api (before 1.1.0)")


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("get_output", {"Output": [1, 2]}),
        ("get_nodes", ["node-a", "node-b"]),
        ("get_nodes", {"nodes": [7]}),
    ],
    ids=["output", "nodes-list", "nodes-items"],
)
async def test_json_of_the_wrong_shape_gets_one_clear_error(runner, method, body):
    """A proxy or another service answering JSON that is not the API's: the clear error, not an
    ``AttributeError`` from deep inside a parser."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    client = runner.mock(handler, attempts=1)
    args = () if method == "get_nodes" else (1,)
    with pytest.raises(UnexpectedAnswerError) as info:
        await runner.call(client, method, *args)
    assert "does not answer as a Flux RESTful API" in str(info.value)
