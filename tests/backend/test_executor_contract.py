"""The executor contract, written once, run against every executor (local; flux under Flux)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, wait_for

from .conftest import Api, start_server

NEEDS_FLUX = pytest.mark.skipif(
    importlib.util.find_spec("flux") is None or not os.environ.get("FLUX_URI"),
    reason="needs flux bindings and a Flux instance (run `just test-flux`)",
)


@pytest.fixture(
    scope="module",
    params=["local", pytest.param("flux", marks=NEEDS_FLUX)],
)
def executor_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    name = str(request.param)
    env = {"FLUX_URI": os.environ["FLUX_URI"]} if name == "flux" else None
    server = start_server(tmp_path_factory.mktemp(f"contract-{name}"), ["--executor", name], env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def capi(executor_server: Server) -> Iterator[Api]:
    with httpx.Client(base_url=executor_server.url, timeout=20.0) as client:
        yield Api(client)


def test_submit_info_output(capi: Api) -> None:
    job = capi.submit(command="sh -c 'echo hello; echo oops >&2; exit 2'")
    info = capi.wait_done(job, timeout=60)
    assert info["id"] == job
    assert info["state"] == "INACTIVE"
    assert info["result"] == "FAILED"
    assert info["returncode"] == 2
    assert info["success"] is False
    assert info["ntasks"] == 1
    assert sorted(capi.output(job)) == ["hello\n", "oops\n"]
    listed = [j["id"] for j in capi.client.get("/v1/jobs").json()["jobs"]]
    assert job in listed


def test_completed_job_and_envars(capi: Api) -> None:
    response = capi.client.post(
        "/v1/jobs/submit", json={"command": "sh -c 'echo $GREETING'", "envars": {"GREETING": "hi"}}
    )
    assert response.status_code == 200, response.text
    job = response.json()["id"]
    info = capi.wait_done(job, timeout=60)
    assert info["result"] == "COMPLETED"
    assert info["returncode"] == 0
    assert capi.output(job) == ["hi\n"]


def test_running_placeholders_and_cancel(capi: Api) -> None:
    job = capi.submit(command="sh -c 'echo started; sleep 60'")
    wait_for(lambda: capi.output(job) == ["started\n"], timeout=60)
    info = capi.info(job)
    assert info["state"] == "RUN"
    assert info["result"] == ""
    assert info["returncode"] == ""
    response = capi.client.post(f"/v1/jobs/{job}/cancel")
    assert response.status_code == 200
    assert response.json() == {"Message": "Job is requested to cancel.", "id": job}
    info = capi.wait_done(job, timeout=60)
    assert info["result"] == "CANCELED"
    assert info["exception"]["type"] == "cancel"
    again = capi.client.post(f"/v1/jobs/{job}/cancel")
    assert again.status_code == 400
    assert again.json() == {"Message": "Job cannot be cancelled: job is inactive.", "id": job}


def test_time_limit(capi: Api) -> None:
    job = capi.submit(command="sleep 60", runtime=1)
    info = capi.wait_done(job, timeout=60)
    assert info["result"] == "TIMEOUT"


def test_nonexistent_command(capi: Api) -> None:
    job = capi.submit(command="definitely-not-a-program-here")
    info = capi.wait_done(job, timeout=60)
    assert info["result"] == "FAILED"
    assert info["returncode"] == 127
    assert "definitely-not-a-program-here" in info["exception"]["note"]


def test_the_command_is_found_in_the_jobs_own_path(capi: Api, tmp_path) -> None:
    # As execvp: a PATH entry holding a file that cannot be run is passed over for a later one.
    denied, found = tmp_path / "denied", tmp_path / "found"
    denied.mkdir()
    found.mkdir()
    (denied / "where-am-i").write_text("#!/bin/sh\necho denied\n")
    (found / "where-am-i").write_text("#!/bin/sh\necho found\n")
    (found / "where-am-i").chmod(0o755)
    path = f"{denied}:{found}:/usr/bin:/bin"
    response = capi.client.post(
        "/v1/jobs/submit", json={"command": "where-am-i", "envars": {"PATH": path}}
    )
    assert response.status_code == 200, response.text
    job = response.json()["id"]
    assert capi.wait_done(job, timeout=60)["result"] == "COMPLETED"
    assert capi.output(job) == ["found\n"]
    # Only the file that cannot be run: refused as a shell refuses it (126, not "not found").
    response = capi.client.post(
        "/v1/jobs/submit", json={"command": "where-am-i", "envars": {"PATH": str(denied)}}
    )
    job = response.json()["id"]
    info = capi.wait_done(job, timeout=60)
    assert info["result"] == "FAILED"
    assert info["returncode"] == 126
    assert "Permission denied" in info["exception"]["note"]


def test_output_stream(capi: Api, executor_server: Server) -> None:
    job = capi.submit(command="sh -c 'echo a; sleep 0.3; echo b'")
    with (
        httpx.Client(base_url=executor_server.url, timeout=60.0) as client,
        client.stream("GET", f"/v1/jobs/{job}/output/stream") as response,
    ):
        assert response.status_code == 200
        text = "".join(response.iter_text())
    assert text == "a\nb\n"
    assert capi.info(job)["state"] == "INACTIVE"


def test_events(capi: Api) -> None:
    job = capi.submit(command="true")
    capi.wait_done(job, timeout=60)
    names = [e["name"] for e in capi.client.get(f"/v1/jobs/{job}/events").json()["events"]]
    assert names[0] == "submit"
    assert "start" in names
    assert "finish" in names
    assert names[-1] == "clean"


def test_nodes(capi: Api) -> None:
    body = capi.client.get("/v1/nodes", params={"detail": "true"}).json()
    assert body["nodes"]
    assert body["nodes"] == sorted(body["nodes"])
    for node in body["detail"]:
        assert node["cores"] >= 1
        assert 0 <= node["cores_free"] <= node["cores"]


def test_unknown_job(capi: Api) -> None:
    response = capi.client.get("/v1/jobs/424242")
    assert response.status_code == 404
    assert response.json()["detail"] == "Job 424242 not found"
