"""Bad input on every route: a clear 4xx with the reason, never a 500, and the server stays up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server

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
    """Two nodes of 2 cores, no GPUs."""
    server = start_server(tmp_path_factory.mktemp("bad"), ["--nodes", "2", "--cores-per-node", "2"])
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
