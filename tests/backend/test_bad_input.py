"""Bad input on every route: a clear 4xx with the reason, never a 500, and the server stays up."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, ServerFactory, free_port, server_env, wait_for

from .conftest import Api, start_server

INVALID = "Invalid submit request"
JOB_ROUTES = (
    ("GET", "/v1/jobs/{}"),
    ("POST", "/v1/jobs/{}/cancel"),
    ("GET", "/v1/jobs/{}/output"),
    ("GET", "/v1/jobs/{}/output/stream"),
    ("GET", "/v1/jobs/{}/events"),
)


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two nodes of 2 cores, no GPUs, and no submit rate limit.

    This module sends hundreds of refused submits in a few seconds; each counts against the
    per-caller submit rate (as it should: parsing costs the server), so on a fast machine the
    limit answered 429 before validation did. Rate limits have their own tests.
    """
    server = start_server(
        tmp_path_factory.mktemp("bad"),
        ["--nodes", "2", "--cores-per-node", "2", "--submit-rate", "off"],
    )
    yield server
    server.stop()


def submit_errors(client: httpx.Client, **kwargs: Any) -> list[str]:
    response = client.post("/v1/jobs/submit", **kwargs)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["Message"] == INVALID, body
    assert isinstance(body["Errors"], list) and body["Errors"]
    return list(body["Errors"])


@pytest.mark.parametrize(
    "bad", ["abc", "12abc", "-1", "ƒ0O", "0xZZ", "1.5", "99999999999999999999999"]
)
@pytest.mark.parametrize(("method", "path"), JOB_ROUTES)
def test_malformed_job_id(client: httpx.Client, method: str, path: str, bad: str) -> None:
    response = client.request(method, path.format(bad))
    assert response.status_code == 400
    assert response.json()["detail"] == f"'{bad}' is not a valid job id"


@pytest.mark.parametrize(("method", "path"), JOB_ROUTES)
def test_unknown_job_id(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path.format(123456789))
    assert response.status_code == 404
    assert response.json()["detail"] == "Job 123456789 not found"
    # other encodings of an unknown id name it in decimal
    response = client.request(method, path.format("0x10"))
    assert response.status_code == 404
    assert response.json()["detail"] == "Job 16 not found"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("num_tasks", "two", "num_tasks must be an integer"),
        ("num_tasks", "1.5", "num_tasks must be an integer"),
        ("num_tasks", "0", "num_tasks must be >= 1"),
        ("num_tasks", "-3", "num_tasks must be >= 1"),
        ("cores_per_task", "-1", "cores_per_task must be >= 1"),
        ("num_nodes", "0", "num_nodes must be >= 1"),
        ("num_nodes", "-2", "num_nodes must be >= 1"),
        ("exclusive", "maybe", "exclusive must be a boolean"),
        ("is_launcher", "2", "is_launcher must be a boolean"),
        ("runtime", "soon", "runtime must be a number"),
        ("runtime", "nan", "runtime must be a finite number"),
        ("runtime", "-1", "Runtime must be >= 0, found -1"),
        ("urgency", "32", "urgency must be between 0 and 31"),
        ("urgency", "-1", "urgency must be between 0 and 31"),
        ("envars", "[1, 2]", "Environment variables must be key/value pairs (dict)"),
        ("envars", "__import__('os')", "Environment variables must be key/value pairs (dict)"),
        ("option_flags", "-ompi=openmpi@5", "Please provide keys without -o, -ompi is invalid."),
        ("option_flags", "exit-on-error=1", "Please provide keys without -o"),
        ("option_flags", "novalue", "must look like key=value"),
        ("gpus_per_task", "1", "This server does not support gpus: gpus_per_task cannot be set."),
        ("num_nodes", "5", "The server only has 2 nodes, you requested 5"),
        ("name", "x" * 300, "name must be at most 256 characters"),
    ],
)
def test_invalid_submit_fields(client: httpx.Client, field: str, value: str, needle: str) -> None:
    params = {"command": "true", field: value}
    if field == "num_nodes" and value == "5":
        params["num_tasks"] = "5"
    errors = submit_errors(client, params=params)
    assert any(needle in error for error in errors), errors


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"command": 5}, "command must be a string or a list of strings"),
        ({"command": {"a": 1}}, "command must be a string or a list of strings"),
        ({"command": "echo 'unterminated"}, "command could not be split"),
        ({"command": "true", "num_tasks": True}, "num_tasks must be an integer"),
        ({"command": "true", "num_tasks": [1]}, "num_tasks must be an integer"),
        ({"command": "true", "envars": "A=b"}, "Environment variables must be key/value pairs"),
        ({"command": "true", "envars": {"A=B": "c"}}, "Environment variable name 'A=B' is invalid"),
        ({"command": "true", "workdir": 7}, "workdir must be a string"),
        ({"command": "true", "option_flags": 3}, "Please provide option args as a dictionary"),
        ({"command": "true", "option_flags": {"-ompi": "x"}}, "Please provide keys without -o"),
        ({"command": "true", "exclusive": True}, "exclusive can only be set with a node count"),
        ({"command": "true", "num_nodes": 2, "num_tasks": 1}, "num_nodes (2) cannot exceed"),
        ({"command": "echo \u0000"}, "NUL"),
    ],
)
def test_invalid_json_submit(client: httpx.Client, payload: dict[str, Any], needle: str) -> None:
    errors = submit_errors(client, json=payload)
    assert any(needle in error for error in errors), errors


def test_several_errors_reported_together(client: httpx.Client) -> None:
    errors = submit_errors(
        client, params={"command": "true", "runtime": "-5", "option_flags": "-ox=1"}
    )
    assert "Runtime must be >= 0, found -5" in errors
    assert "Please provide keys without -o, -ox is invalid." in errors


def test_invalid_json_body(client: httpx.Client) -> None:
    response = client.post(
        "/v1/jobs/submit",
        params={"command": "true"},
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "Message": INVALID,
        "Errors": ["The request body is not valid JSON"],
    }
    errors = submit_errors(client, json=[1, 2])
    assert errors == ["The JSON body must be an object"]


@pytest.mark.parametrize(
    ("content_type", "body", "needle"),
    [
        # curl -d '{...}' without -H: JSON sent as a form
        ("application/x-www-form-urlencoded", b' {"command": "true"}', "looks like JSON"),
        ("application/yaml", b"command: true\n", "of type 'application/yaml' is not read"),
        ("text/plain", b"true", "of type 'text/plain' is not read"),
        ("", b'{"command": "true"}', "of type 'application/octet-stream' is not read"),
    ],
)
def test_a_body_submit_does_not_read_is_refused_saying_how_to_send_it(
    client: httpx.Client, content_type: str, body: bytes, needle: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    newest = [job["id"] for job in client.get("/v1/jobs", params={"limit": 1}).json()["jobs"]]
    response = client.post("/v1/jobs/submit", content=body, headers=headers)
    assert response.status_code == 400
    (error,) = response.json()["Errors"]
    assert needle in error
    assert [
        job["id"] for job in client.get("/v1/jobs", params={"limit": 1}).json()["jobs"]
    ] == newest
    # the same fields as a real form are read
    response = client.post("/v1/jobs/submit", data={"command": "true", "name": "form-read"})
    assert response.status_code == 200, response.text


def test_a_json_body_is_read_whatever_the_case_of_its_type(client: httpx.Client) -> None:
    for content_type in ("Application/JSON", "application/json; charset=UTF-8"):
        response = client.post(
            "/v1/jobs/submit",
            content=b'{"command": "true", "name": "cased"}',
            headers={"content-type": content_type},
        )
        assert response.status_code == 200, (content_type, response.text)


def test_nonexistent_command_fails_the_job(api: Api) -> None:
    job = api.submit(command="no-such-program-xyz --flag")
    info = api.wait_done(job)
    assert info["result"] == "FAILED"
    assert info["returncode"] == 127
    assert info["exception"]["occurred"] is True
    assert info["exception"]["type"] == "exec"
    assert "no-such-program-xyz" in info["exception"]["note"]
    assert "No such file or directory" in info["exception"]["note"]


def test_non_executable_command(api: Api, tmp_path: Any) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    job = api.submit(command=str(script))
    info = api.wait_done(job)
    assert info["result"] == "FAILED"
    assert info["returncode"] == 126
    assert "Permission denied" in info["exception"]["note"]


def test_nonexistent_workdir(client: httpx.Client) -> None:
    response = client.post("/v1/jobs/submit", params={"command": "true", "workdir": "/no/such/dir"})
    assert response.status_code == 400
    body = response.json()
    assert body["Message"] == "There was an issue submitting that job."
    assert "/no/such/dir" in body["Error"]
    assert "does not exist" in body["Error"]


def test_cores_that_never_fit(client: httpx.Client) -> None:
    errors = submit_errors(client, params={"command": "true", "num_tasks": 5})
    assert errors
    errors = submit_errors(client, params={"command": "true", "cores_per_task": 3})
    assert errors


def test_unicode_everywhere(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="echo ünïcödé 🥞 日本", name="名前-🥞")
    info = api.wait_done(job)
    assert info["name"] == "名前-🥞"
    assert api.output(job) == ["ünïcödé 🥞 日本\n"]
    rows = client.get("/v1/jobs/search", params={"search": "名前"}).json()["data"]
    assert [r["id"] for r in rows] == [job]
    response = client.get("/v1/jobs/日本")
    assert response.status_code == 400
    assert response.json()["detail"] == "'日本' is not a valid job id"


def test_invalid_utf8_output_is_replaced(api: Api) -> None:
    job = api.submit(command="printf 'a\\377b\\n'")
    api.wait_done(job)
    assert api.output(job) == ["a\ufffdb\n"]


def test_huge_values(api: Api, client: httpx.Client) -> None:
    huge = "x" * 100_000  # one argv string must stay below the 128 KiB kernel limit
    response = client.post("/v1/jobs/submit", json={"command": ["echo", huge]})
    assert response.status_code in (200, 400, 413), response.status_code
    if response.status_code == 200:
        job = response.json()["id"]
        api.wait_done(job)
        assert "".join(api.output(job)) == huge + "\n"
    else:
        assert response.headers["content-type"].startswith("application/json")
    response = client.get("/v1/jobs/search", params={"search": "y" * 5000})
    assert response.status_code == 200
    assert response.json()["data"] == []
    response = client.get(f"/v1/jobs/{'9' * 5000}")
    assert response.status_code == 400
    response = client.post("/v1/jobs/submit", params={"command": "true", "num_tasks": "9" * 400})
    assert response.status_code == 400
    assert response.json()["Message"] == INVALID


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/jobs", {"limit": "ten"}),
        ("/v1/jobs", {"limit": "-1"}),
        ("/v1/jobs", {"details": "perhaps"}),
        ("/v1/jobs", {"after": "notanid"}),
        ("/v1/jobs", {"since": "yesterday"}),
        ("/v1/jobs/search", {"start": "x"}),
        ("/v1/jobs/search", {"start": "-1"}),
        ("/v1/jobs/search", {"length": "-2"}),
        ("/v1/jobs/search", {"regex": "sometimes"}),
        ("/v1/nodes", {"detail": "kinda"}),
    ],
)
def test_bad_query_values(client: httpx.Client, path: str, params: dict[str, str]) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    # the reason names the parameter or echoes the bad value
    assert any(name in detail or value in detail for name, value in params.items())


def test_output_of_bad_labels_flag(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="echo x")
    api.wait_done(job)
    response = client.get(f"/v1/jobs/{job}/output", params={"labels": "nah"})
    assert response.status_code == 400
    assert "labels" in response.json()["detail"]


def test_server_healthy_after_garbage(api: Api, client: httpx.Client) -> None:
    statuses = []
    garbage: list[dict[str, Any]] = [
        {"method": "POST", "url": "/v1/jobs/submit", "content": b"\xff\xfe\x00garbage"},
        {"method": "POST", "url": "/v1/jobs/submit", "json": {"command": None}},
        {"method": "POST", "url": "/v1/jobs/submit", "data": {"command": ""}},
        {"method": "POST", "url": "/v1/jobs/submit", "params": {"command": "true", "envars": "{"}},
        {
            "method": "POST",
            "url": "/v1/jobs/submit",
            "content": b'{"command": "true", "num_tasks": 1e999}',
            "headers": {"content-type": "application/json"},
        },
        {"method": "GET", "url": "/v1/jobs/%00"},
        {"method": "GET", "url": "/v1/jobs/%ff%fe"},
        {"method": "GET", "url": "/v1/jobs/..%2F..%2Fetc%2Fpasswd"},
        {"method": "PUT", "url": "/v1/jobs/1"},
        {"method": "GET", "url": "/v1/jobs/search", "params": {"search": "\x00"}},
        {"method": "GET", "url": "/v1/jobs", "params": {"state": "\u2603"}},
    ]
    for _ in range(5):
        for request in garbage:
            response = client.request(**request)
            statuses.append(response.status_code)
            assert response.status_code < 500, (request, response.text)
            assert response.headers["content-type"].startswith("application/json"), request
    # everything is refused with a 4xx except the (harmless) search for a NUL character
    assert statuses.count(200) == 5
    assert all(400 <= s < 500 for s in statuses if s != 200)
    job = api.submit(command="echo still-alive")
    assert api.wait_done(job)["result"] == "COMPLETED"
    assert api.output(job) == ["still-alive\n"]


# -- issue 14: bounded input ---------------------------------------------------------------

CSRF_TOKEN = "t" * 43


def while_running(client: httpx.Client, request: Callable[[], httpx.Response]) -> httpx.Response:
    """Send ``request`` in a thread; meanwhile another request must answer within 1 s."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(request)
        started = time.monotonic()
        other = client.get("/v1/jobs", params={"limit": 1})
        assert other.status_code == 200
        assert time.monotonic() - started < 1.0, "another request waited"
        return pending.result(timeout=10)


@pytest.mark.parametrize("size", [1_000_000, 10_000_000])
@pytest.mark.parametrize("encoding", ["json", "form", "web form"])
def test_long_command_is_refused_promptly(
    module_server: Server, client: httpx.Client, size: int, encoding: str
) -> None:
    # One long token made shlex.split run for 13 s per MB, squared, on the event loop.
    command = "echo " + "x" * size
    with httpx.Client(base_url=module_server.url, timeout=10.0) as other:
        if encoding == "json":
            send = lambda: other.post("/v1/jobs/submit", json={"command": command})  # noqa: E731
        elif encoding == "form":
            send = lambda: other.post("/v1/jobs/submit", data={"command": command})  # noqa: E731
        else:
            other.cookies.set("flux_csrf", CSRF_TOKEN)
            form = {"command": command, "csrf_token": CSRF_TOKEN}
            send = lambda: other.post("/jobs/submit", data=form)  # noqa: E731
        started = time.monotonic()
        response = while_running(client, send)
        assert time.monotonic() - started < 5.0
    if size > 2 * 1024 * 1024:
        assert response.status_code == 413
        assert response.json() == {
            "detail": "The request body exceeds the limit of 2097152 bytes",
            "code": "payload_too_large",
        }
    elif encoding == "web form":
        assert response.status_code == 400
        assert "command must be at most 131072 characters" in response.text
    else:
        assert response.status_code == 400
        assert response.json()["Errors"] == [
            f"command must be at most 131072 characters, not {len(command)}"
        ]


def submit_json(client: httpx.Client, **fields: Any) -> int:
    response = client.post("/v1/jobs/submit", json=fields)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def test_command_at_the_limit_runs(api: Api, client: httpx.Client) -> None:
    # Quoting and escapes are read the way shlex reads them, whatever the length.
    word = "y" * 60_000
    job = submit_json(client, command=f'printf \'%s|%s\\n\' {word} "a\\"b"')
    api.wait_done(job)
    assert api.output(job) == [f'{word}|a"b\n']
    too_long = "x" * (128 * 1024 + 1)
    errors = submit_errors(client, json={"command": ["echo", too_long]})
    assert errors == [f"command must be at most 131072 characters, not {len(too_long) + 4}"]


def test_a_long_query_string_is_a_413_naming_the_limit(client: httpx.Client) -> None:
    response = client.post("/v1/jobs/submit", params={"command": "x" * 20_000})
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request headers (with the query string) exceed the limit of 8192 bytes",
        "code": "payload_too_large",
    }


@pytest.mark.parametrize("pattern", ["(a|a)*$", r"(\w|\d)*x", "(a+)+$", "(a|aa)*b"])
def test_regex_search_runs_in_linear_time(
    api: Api, module_server: Server, client: httpx.Client, pattern: str
) -> None:
    # 24 characters made Python's re take 2.7 s, x4.5 per two more, blocking everything.
    # workdir "/": the searched text holds the job's directory, which must not hold an x or a b.
    api.submit(command="true", name="a" * 60, workdir="/")
    with httpx.Client(base_url=module_server.url, timeout=10.0) as other:
        params = {"regex": "true", "query": pattern}
        response = while_running(client, lambda: other.get("/v1/jobs/search", params=params))
    assert response.status_code == 200
    names = [row["name"] for row in response.json()["data"]]
    assert ("a" * 60 in names) == (pattern == "(a|a)*$")  # the others need an x, b or a last a


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence: \\1"),
        ("a(?=b)", "invalid perl operator: (?="),
        ("(?<!x)a", "invalid perl operator: (?<!"),
        ("[", "missing ]: ["),
        ("x{1001}", "invalid repetition size: {1001}"),
    ],
)
def test_regex_outside_re2_is_a_400_with_the_reason(
    client: httpx.Client, pattern: str, reason: str
) -> None:
    response = client.get("/v1/jobs/search", params={"regex": "true", "query": pattern})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("search is not a valid regular expression for RE2")
    assert reason in detail
    response = client.get("/v1/jobs/search", params={"regex": "true", "query": "a" * 201})
    assert response.status_code == 400
    assert response.json()["detail"] == "search regex must be at most 200 characters"


def test_regex_syntax_re2_accepts(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="true", name="Grüße-42")
    for pattern in [r"^\d+ grüße-\d{2}", r"\p{L}+-[[:digit:]]+", "(?P<word>GRÜSSE|grüße)"]:
        rows = client.get("/v1/jobs/search", params={"regex": "true", "query": pattern}).json()
        assert job in [row["id"] for row in rows["data"]], pattern


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("/v1/jobs", {"limit": "1" + "0" * 22}, "limit must be between 0 and 9223372036854775807"),
        ("/v1/jobs", {"limit": "9223372036854775808"}, "limit must be between 0 and"),
        ("/v1/jobs/search", {"start": "9" * 20}, "start must be between 0 and"),
        ("/v1/jobs/search", {"length": "9" * 20}, "length must be between -1 and"),
        ("/v1/jobs/search", {"length": "9" * 5000}, "length must be between -1 and"),
        ("/v1/jobs", {"since": "1e400"}, "since must be a time in seconds"),
        ("/v1/jobs", {"since": "nan"}, "since must be a time in seconds"),
        ("/v1/events", {"since": "9" * 30}, "since must be a non-negative integer"),
    ],
)
def test_out_of_range_integers_are_400s(
    client: httpx.Client, path: str, params: dict[str, str], detail: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(detail)


def test_integers_at_the_edges_are_accepted(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="true")
    top = str(2**63 - 1)
    assert client.get("/v1/jobs", params={"limit": top}).status_code == 200
    response = client.get("/v1/jobs/search", params={"start": top, "length": top})
    assert response.status_code == 200 and response.json()["data"] == []
    # a 64-bit job id past SQLite's integers is a valid FLUID that cannot exist here
    beyond = str(2**64 - 1)
    response = client.get(f"/v1/jobs/{beyond}")
    assert response.status_code == 404
    assert response.json()["detail"] == f"Job {beyond} not found"
    rows = client.get("/v1/jobs", params={"after": beyond}).json()["jobs"]
    assert job in [row["id"] for row in rows]
    assert client.get("/jobs", params={"start": "9" * 30}).status_code == 200


def test_deep_json_is_a_400(client: httpx.Client) -> None:
    depth = 1_000
    envars = '{"A":' * depth + '"x"' + "}" * depth
    body = '{"command": "true", "envars": ' + envars + "}"
    errors = submit_errors(client, content=body, headers={"content-type": "application/json"})
    assert errors == ["Environment variable 'A' must be a string, not a nested value"]
    deeper = '{"command": "true", "envars": ' + "[" * 5000 + "]" * 5000 + "}"
    errors = submit_errors(client, content=deeper, headers={"content-type": "application/json"})
    assert errors == ["The request body is not valid JSON"]
    for field in ("num_tasks", "name", "option_flags", "runtime"):
        nested = f'{{"command": "true", "{field}": ' + "[" * 900 + "]" * 900 + "}"
        errors = submit_errors(client, content=nested, headers={"content-type": "application/json"})
        assert len(errors) == 1 and len(errors[0]) < 200, errors
    response = client.post(
        "/v1/login/access-token",
        content="[" * 5000 + "]" * 5000,
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (400, 401) and response.json()["detail"]


def test_default_name_from_a_long_program_is_cut_to_256(api: Api, client: httpx.Client) -> None:
    job = submit_json(client, command="/" + "p" * 100_000)
    name = api.wait_done(job)["name"]
    assert name == "p" * 256


def test_multipart_without_boundary_is_a_quiet_400(
    module_server: Server, client: httpx.Client
) -> None:
    before = module_server.log().count("Traceback")
    for _ in range(5):
        response = client.post(
            "/v1/jobs/submit", content=b"--x\r\n", headers={"content-type": "multipart/form-data"}
        )
        assert response.status_code == 400
        assert response.json() == {
            "detail": "A multipart/form-data body needs a boundary parameter in its Content-Type",
            "code": "invalid_request",
        }
    assert module_server.log().count("Traceback") == before


def test_relative_workdir_and_nul_flags_are_refused(client: httpx.Client) -> None:
    errors = submit_errors(client, params={"command": "true", "workdir": "tmp"})
    assert errors == ["workdir must be an absolute path, not 'tmp'"]
    errors = submit_errors(client, params={"command": "true", "option_flags": "a=b\0c"})
    assert errors == ["Option flag 'a' must not contain NUL characters"]
    errors = submit_errors(client, json={"command": "true", "option_flags": {"a\0": "b"}})
    assert errors == ["Option flag 'a\\x00' must not contain NUL characters"]
    errors = submit_errors(client, json={"command": "true", "option_flags": {"a": [1]}})
    assert errors == ["Option flag values must be strings, numbers or booleans"]


SLOW_APP = """
import asyncio, sys
from pathlib import Path
from sanic.response import json
from flux_restful_server.app import create_app
from flux_restful_server.settings import Settings

app = create_app(Settings(state_dir=Path(sys.argv[1]), response_timeout=1), name="slow")

async def slow(request):
    await asyncio.sleep(30)  # a handler stuck on something that never answers
    return json({})

app.add_route(slow, "/slow")
app.run(host="127.0.0.1", port=int(sys.argv[2]), single_process=True, motd=False)
"""


def test_a_request_that_hangs_is_a_503_with_the_reason(tmp_path: Path) -> None:
    port = free_port()
    log = open(tmp_path / "slow.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_APP, str(tmp_path / "state"), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=server_env(),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url), 20)
        started = time.monotonic()
        response = httpx.get(url + "/slow", timeout=10)
        assert time.monotonic() - started < 5
        assert response.status_code == 503
        assert response.json() == {
            "detail": "The server could not answer within 1 s",
            "code": "unavailable",
        }
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/v1/auth", timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_streams_outlive_the_response_timeout(server_factory: ServerFactory) -> None:
    # Sanic cuts a response that writes nothing for RESPONSE_TIMEOUT seconds; streams are exempt.
    server = server_factory(env={"FLUX_RESPONSE_TIMEOUT": "1"})
    with httpx.Client(base_url=server.url, timeout=20) as client:
        job = submit_json(client, command="sh -c 'sleep 3; echo done'")
        sse = {"accept": "text/event-stream"}
        with client.stream("GET", f"/v1/jobs/{job}/stream", params={"ping": 60}, headers=sse) as r:
            assert r.status_code == 200
            frames = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert '"type":"end"' in frames[-1]
        assert '"result":"COMPLETED"' in frames[-1]
        job = submit_json(client, command="sh -c 'sleep 3; echo done'")
        response = client.get(f"/v1/jobs/{job}/output/stream")
        assert response.status_code == 200
        assert response.text == "done\n"


def test_a_huge_websocket_frame_is_refused(api: Api, module_server: Server) -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.sync.client import connect

    job = api.submit(command="sleep 30")
    url = module_server.url.replace("http://", "ws://") + f"/v1/jobs/{job}/stream"
    with connect(url, max_size=None) as ws:
        ws.send("x" * 100_000)  # only a small auth frame is ever expected
        with pytest.raises(ConnectionClosedError) as closed:
            while True:
                ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    api.client.post(f"/v1/jobs/{job}/cancel")
