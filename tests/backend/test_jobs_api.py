"""Every REST route of API.md (except auth and the websocket/SSE streams) against a real server."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, wait_for

from .conftest import Api, start_server

INFO_KEYS = {
    "id",
    "userid",
    "urgency",
    "priority",
    "t_submit",
    "t_depend",
    "t_run",
    "t_cleanup",
    "t_inactive",
    "state",
    "name",
    "cwd",
    "queue",
    "ntasks",
    "ncores",
    "duration",
    "nnodes",
    "ranks",
    "nodelist",
    "success",
    "exception_occurred",
    "exception_severity",
    "exception_type",
    "exception_note",
    "result",
    "waitstatus",
    "expiration",
    "annotations",
    "returncode",
    "runtime",
    "exception",
    "user",
}
SECRET = "s3cret-never-in-jobs"


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """1 node x 2 cores; the server's environment carries secrets that jobs must never see."""
    server = start_server(
        tmp_path_factory.mktemp("api"),
        ["--cores-per-node", "2"],
        env={"FLUX_SECRET_KEY": SECRET, "SERVER_ONLY_VARIABLE": "server-only"},
    )
    yield server
    server.stop()


def uniq(prefix: str = "job") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def cancel_all_active(client: httpx.Client) -> None:
    """Leave no running job behind for the next test."""
    for job in client.get("/v1/jobs", params={"state": "active"}).json()["jobs"]:
        client.post(f"/v1/jobs/{job['id']}/cancel")
    wait_for(lambda: not client.get("/v1/jobs", params={"state": "active"}).json()["jobs"])


@pytest.fixture(autouse=True)
def _clean(client: httpx.Client) -> Iterator[None]:
    yield
    cancel_all_active(client)


# -- submit ----------------------------------------------------------------------------------


def test_submit_query_string(api: Api) -> None:
    job = api.submit(command="echo hello world")
    info = api.wait_done(job)
    assert info["result"] == "COMPLETED"
    assert info["returncode"] == 0
    assert api.output(job) == ["hello world\n"]


def test_submit_json_body_with_command_and_nested_envars(api: Api, client: httpx.Client) -> None:
    response = client.post(
        "/v1/jobs/submit",
        json={
            "command": "sh -c 'echo $FOO-$BAR'",
            "envars": {"FOO": "foo", "BAR": "bär"},
            "num_tasks": 1,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"Message", "id"}
    assert body["Message"] == "Job submit."
    api.wait_done(body["id"])
    assert api.output(body["id"]) == ["foo-bär\n"]


def test_submit_json_body_without_command_is_the_envars(api: Api, client: httpx.Client) -> None:
    response = client.post(
        "/v1/jobs/submit", params={"command": "sh -c 'echo $PANCAKES'"}, json={"PANCAKES": "yes"}
    )
    assert response.status_code == 200, response.text
    job = response.json()["id"]
    api.wait_done(job)
    assert api.output(job) == ["yes\n"]


def test_submit_021_client_envars_query_string(api: Api) -> None:
    # The 0.2.1 client renders the envars dict with str(): a Python literal in the query.
    job = api.submit(command="sh -c 'echo $A'", envars=str({"A": "b"}), num_tasks="", workdir="")
    api.wait_done(job)
    assert api.output(job) == ["b\n"]


def test_submit_form_body(api: Api, client: httpx.Client) -> None:
    response = client.post(
        "/v1/jobs/submit", data={"command": "echo from-form", "num_tasks": "1", "exclusive": "off"}
    )
    assert response.status_code == 200, response.text
    job = response.json()["id"]
    assert api.wait_done(job)["result"] == "COMPLETED"
    assert api.output(job) == ["from-form\n"]


def test_submit_list_command_keeps_argv(api: Api, client: httpx.Client) -> None:
    response = client.post(
        "/v1/jobs/submit", json={"command": ["sh", "-c", 'echo "[$1]"', "argv0", "a  b;c"]}
    )
    assert response.status_code == 200, response.text
    job = response.json()["id"]
    api.wait_done(job)
    assert api.output(job) == ["[a  b;c]\n"]


def test_submit_string_command_is_never_run_by_a_shell(api: Api) -> None:
    job = api.submit(command="echo 'a  b' ; $HOME")
    api.wait_done(job)
    assert api.output(job) == ["a  b ; $HOME\n"]


def test_submit_without_command(client: httpx.Client) -> None:
    for kwargs in (
        {},
        {"params": {"command": ""}},
        {"params": {"num_tasks": "1"}},
        {"json": {"num_tasks": 1}},
    ):
        response = client.post("/v1/jobs/submit", **kwargs)
        assert response.status_code == 400, kwargs
        assert response.json() == {"Message": "A 'command' is minimally required."}


def test_submit_name_and_urgency(api: Api) -> None:
    name = uniq("named")
    job = api.submit(command="true", name=name, urgency=20)
    info = api.wait_done(job)
    assert info["name"] == name
    assert info["urgency"] == 20


# -- listing ---------------------------------------------------------------------------------


def test_list_default_shape_newest_first(api: Api, client: httpx.Client) -> None:
    name = uniq("list")
    ids = [api.submit(command="true", name=name) for _ in range(3)]
    for job in ids:
        api.wait_done(job)
    body = client.get("/v1/jobs").json()
    assert set(body) == {"jobs"}
    listed = [j["id"] for j in body["jobs"]]
    assert listed == sorted(listed, reverse=True)
    mine = [j for j in body["jobs"] if j["name"] == name]
    assert [j["id"] for j in mine] == list(reversed(ids))
    for record in mine:
        assert {"id", "state", "result", "name", "t_submit"} <= set(record)
        assert record["state"] == "INACTIVE"
        assert record["result"] == "COMPLETED"
        assert isinstance(record["t_submit"], float)


def test_list_details_keyed_by_id_and_listing(api: Api, client: httpx.Client) -> None:
    name = uniq("det")
    ids = [api.submit(command="true", name=name) for _ in range(2)]
    for job in ids:
        api.wait_done(job)
    for flag in ("details", "detail"):
        body = client.get("/v1/jobs", params={flag: "true", "name": name}).json()
        assert isinstance(body, dict)
        assert sorted(body) == sorted(str(j) for j in ids)
        for key, info in body.items():
            assert info["id"] == int(key)
            assert INFO_KEYS <= set(info)
    listing = client.get("/v1/jobs", params={"details": "yes", "listing": "1", "name": name})
    body = listing.json()
    assert isinstance(body, list)
    assert [info["id"] for info in body] == list(reversed(ids))
    # listing without details is ignored, as upstream does
    plain = client.get("/v1/jobs", params={"listing": "true", "name": name}).json()
    assert [j["id"] for j in plain["jobs"]] == list(reversed(ids))


def test_list_limit_and_after_cursor(api: Api, client: httpx.Client) -> None:
    name = uniq("page")
    ids = [api.submit(command="true", name=name) for _ in range(5)]
    newest_first = list(reversed(ids))
    first = client.get("/v1/jobs", params={"name": name, "limit": 2}).json()["jobs"]
    assert [j["id"] for j in first] == newest_first[:2]
    second = client.get(
        "/v1/jobs", params={"name": name, "limit": 2, "after": first[-1]["id"]}
    ).json()["jobs"]
    assert [j["id"] for j in second] == newest_first[2:4]
    rest = client.get("/v1/jobs", params={"name": name, "after": second[-1]["id"]}).json()["jobs"]
    assert [j["id"] for j in rest] == newest_first[4:]
    assert client.get("/v1/jobs", params={"name": name, "limit": 0}).json() == {"jobs": []}
    details = client.get("/v1/jobs", params={"name": name, "limit": 0, "details": "true"})
    assert details.json() == {}


def test_list_filters(api: Api, client: httpx.Client) -> None:
    name = uniq("filt")
    ok = api.submit(command="true", name=name)
    bad = api.submit(command="false", name=name)
    api.wait_done(ok)
    api.wait_done(bad)
    running = api.submit(command="sleep 30", name=name)
    api.wait_state(running, "RUN")

    def ids(**params: Any) -> list[int]:
        response = client.get("/v1/jobs", params={"name": name, **params})
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["jobs"]]

    assert ids() == [running, bad, ok]
    assert ids(state="INACTIVE") == [bad, ok]
    assert ids(state="inactive") == [bad, ok]
    assert ids(state="RUN") == [running]
    assert ids(state="running") == [running]
    assert ids(state="active") == [running]
    assert ids(state="COMPLETED") == [ok]
    assert ids(state="FAILED") == [bad]
    assert ids(state="FAILED,COMPLETED") == [bad, ok]
    assert ids(user="somebody-else") == []
    assert ids(since=time.time() + 3600) == []
    assert ids(since=time.time() - 3600) == [running, bad, ok]
    # name is a substring filter
    assert set(ids(name=name[2:-2])) >= {running, bad, ok}
    assert ids(name=uniq("none")) == []
    response = client.get("/v1/jobs", params={"state": "BOGUS"})
    assert response.status_code == 400
    assert "BOGUS" in response.json()["detail"]


# -- search ----------------------------------------------------------------------------------


def test_search_datatables_semantics(api: Api, client: httpx.Client) -> None:
    name = uniq("srch")
    ids = [api.submit(command="true", name=f"{name}-{i}") for i in range(4)]
    for job in ids:
        api.wait_done(job)
    total = len(client.get("/v1/jobs").json()["jobs"])

    body = client.get("/v1/jobs/search").json()
    assert set(body) == {"data", "draw", "recordsTotal", "recordsFiltered"}
    assert body["draw"] == 1
    assert body["recordsTotal"] == total
    assert body["recordsFiltered"] == len(body["data"])
    assert INFO_KEYS <= set(body["data"][0])

    body = client.get("/v1/jobs/search", params={"draw": "7", "search[value]": name}).json()
    assert body["draw"] == "7"
    assert body["recordsTotal"] == total
    assert [r["id"] for r in body["data"]] == list(reversed(ids))
    assert body["recordsFiltered"] == 4

    for key in ("search", "query"):
        rows = client.get("/v1/jobs/search", params={key: name.upper()}).json()["data"]
        assert [r["id"] for r in rows] == list(reversed(ids)), key

    page = client.get("/v1/jobs/search", params={"search": name, "start": 1, "length": 2}).json()
    assert [r["id"] for r in page["data"]] == list(reversed(ids))[1:3]
    assert page["recordsFiltered"] == 2
    assert page["recordsTotal"] == total

    everything = client.get("/v1/jobs/search", params={"search": name, "length": -1}).json()
    assert len(everything["data"]) == 4
    assert everything["recordsFiltered"] == 4
    past_end = client.get("/v1/jobs/search", params={"search": name, "start": 10}).json()
    assert past_end["data"] == []
    assert past_end["recordsFiltered"] == 0


def test_search_substring_and_regex(api: Api, client: httpx.Client) -> None:
    name = uniq("rx")
    ids = [api.submit(command="true", name=f"{name}{i}x") for i in range(3)]
    for job in ids:
        api.wait_done(job)
    # without regex=true, metacharacters are literal
    literal = client.get("/v1/jobs/search", params={"search": f"{name}[0-9]x"}).json()
    assert literal["data"] == []
    assert literal["recordsFiltered"] == 0
    unbalanced = client.get("/v1/jobs/search", params={"search": "(("})
    assert unbalanced.status_code == 200
    regex = client.get("/v1/jobs/search", params={"search": f"{name}[02]X", "regex": "true"}).json()
    assert [r["id"] for r in regex["data"]] == [ids[2], ids[0]]
    invalid = client.get("/v1/jobs/search", params={"search": "((", "regex": "true"})
    assert invalid.status_code == 400
    assert "regular expression" in invalid.json()["detail"]


# -- info ------------------------------------------------------------------------------------


def test_info_running_placeholders_then_finished(api: Api) -> None:
    job = api.submit(command="sh -c 'sleep 0.4; exit 3'")
    info = api.wait_state(job, "RUN")
    assert INFO_KEYS <= set(info)
    assert info["id"] == job
    assert info["result"] == ""
    assert info["returncode"] == ""
    assert info["waitstatus"] == ""
    assert info["t_cleanup"] == ""
    assert info["t_inactive"] == ""
    assert info["exception"] == {"occurred": "", "severity": "", "type": "", "note": ""}
    assert info["ntasks"] == 1
    assert info["nnodes"] == 1
    assert isinstance(info["runtime"], float)
    info = api.wait_done(job)
    assert info["state"] == "INACTIVE"
    assert info["result"] == "FAILED"
    assert info["returncode"] == 3
    assert info["success"] is False
    assert info["runtime"] >= 0.35
    assert info["t_run"] <= info["t_cleanup"] <= info["t_inactive"]
    assert info["t_submit"] <= info["t_run"]
    assert info["user"] is None


def test_info_completed(api: Api) -> None:
    job = api.submit(command="true")
    info = api.wait_done(job)
    assert info["result"] == "COMPLETED"
    assert info["success"] is True
    assert info["returncode"] == 0
    assert info["waitstatus"] == 0
    assert info["exception_occurred"] is False
    assert info["exception"] == {"occurred": False, "severity": "", "type": "", "note": ""}
    assert info["name"] == "true"


def test_info_killed_by_signal(api: Api) -> None:
    job = api.submit(command="sh -c 'kill -KILL $$'")
    info = api.wait_done(job)
    assert info["result"] == "FAILED"
    assert info["returncode"] == -9


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_queued_job_never_runs(api: Api, tmp_path: Path) -> None:
    blocker = api.submit(command="sleep 30", num_tasks=2)
    api.wait_state(blocker, "RUN")
    marker = tmp_path / "ran"
    queued = api.submit(command=f"touch {marker}")
    assert api.info(queued)["state"] in ("DEPEND", "PRIORITY", "SCHED")
    response = api.client.post(f"/v1/jobs/{queued}/cancel")
    assert response.status_code == 200
    assert response.json() == {"Message": "Job is requested to cancel.", "id": queued}
    info = api.wait_done(queued)
    assert info["result"] == "CANCELED"
    assert info["returncode"] == -128
    assert info["t_run"] == ""
    assert info["exception"]["type"] == "cancel"
    api.client.post(f"/v1/jobs/{blocker}/cancel")
    api.wait_done(blocker)
    # A job submitted after it runs to the end: first come, first served, so the cancelled
    # job would have started before this one if cancelling had not removed it from the queue.
    later = tmp_path / "later"
    assert api.wait_done(api.submit(command=f"touch {later}"))["result"] == "COMPLETED"
    assert later.exists()
    assert not marker.exists()
    assert api.info(queued)["result"] == "CANCELED"


def test_cancel_running_job_gets_sigterm(api: Api) -> None:
    script = "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done"
    response = api.client.post("/v1/jobs/submit", json={"command": ["sh", "-c", script]})
    job = response.json()["id"]
    wait_for(lambda: "ready\n" in api.output(job))
    response = api.client.post(f"/v1/jobs/{job}/cancel")
    assert response.status_code == 200
    assert response.json() == {"Message": "Job is requested to cancel.", "id": job}
    info = api.wait_done(job)
    assert info["result"] == "CANCELED"
    assert info["exception"]["occurred"] is True
    assert info["exception"]["type"] == "cancel"
    assert "got-term\n" in api.output(job)


def test_cancel_running_job_ignoring_sigterm_is_killed(api: Api) -> None:
    job = api.submit(command="sh -c \"trap '' TERM; echo ready; while :; do sleep 0.05; done\"")
    wait_for(lambda: "ready\n" in api.output(job))
    api.client.post(f"/v1/jobs/{job}/cancel")
    info = api.wait_done(job, timeout=30)
    assert info["result"] == "CANCELED"
    assert info["returncode"] == -9


def test_cancel_inactive_job(api: Api) -> None:
    job = api.submit(command="true")
    api.wait_done(job)
    response = api.client.post(f"/v1/jobs/{job}/cancel")
    assert response.status_code == 400
    assert response.json() == {"Message": "Job cannot be cancelled: job is inactive.", "id": job}


# -- output ----------------------------------------------------------------------------------


def test_output_plain_labels_and_stream_filter(api: Api, client: httpx.Client) -> None:
    job = api.submit(
        command="sh -c 'echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; echo 🥞'"
    )
    api.wait_done(job)
    assert client.get(f"/v1/jobs/{job}/output").json() == {
        "Output": ["out1\n", "err1\n", "out2\n", "🥞\n"]
    }
    labelled = client.get(f"/v1/jobs/{job}/output", params={"labels": "true"}).json()["Output"]
    assert [(e["stream"], e["rank"], e["data"]) for e in labelled] == [
        ("stdout", 0, "out1\n"),
        ("stderr", 0, "err1\n"),
        ("stdout", 0, "out2\n"),
        ("stdout", 0, "🥞\n"),
    ]
    assert all(isinstance(e["t"], float) for e in labelled)
    assert [e["t"] for e in labelled] == sorted(e["t"] for e in labelled)
    stderr = client.get(f"/v1/jobs/{job}/output", params={"stream": "stderr"}).json()
    assert stderr == {"Output": ["err1\n"]}
    stdout = client.get(f"/v1/jobs/{job}/output", params={"stream": "stdout"}).json()
    assert stdout == {"Output": ["out1\n", "out2\n", "🥞\n"]}
    bad = client.get(f"/v1/jobs/{job}/output", params={"stream": "stdin"})
    assert bad.status_code == 400


def test_output_message_before_output_exists(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="sh -c 'sleep 0.5; echo late'")
    message = {"Message": "The output does not exist yet, or the jobid is incorrect."}
    assert client.get(f"/v1/jobs/{job}/output").json() == message
    api.wait_done(job)
    assert client.get(f"/v1/jobs/{job}/output").json() == {"Output": ["late\n"]}
    silent = api.submit(command="true")
    api.wait_done(silent)
    assert client.get(f"/v1/jobs/{silent}/output").json() == message


def test_output_answers_at_once_for_running_jobs(
    api: Api, client: httpx.Client, tmp_path: Path
) -> None:
    # The job never ends on its own: an output call that waited for the end (upstream's did)
    # would time out instead of answering.
    go = tmp_path / "go"
    job = api.submit(command=f"sh -c 'echo first; while [ ! -e {go} ]; do sleep 0.05; done'")
    wait_for(lambda: api.output(job) == ["first\n"])
    assert client.get(f"/v1/jobs/{job}/output").json() == {"Output": ["first\n"]}
    assert api.info(job)["state"] == "RUN"
    go.touch()
    api.wait_done(job)


def _job_followers(client: httpx.Client) -> int:
    """Open job streams, from ``/metrics``."""
    found = re.search(
        r'^flux_restful_stream_followers\{kind="job"\} (\S+)$', client.get("/metrics").text, re.M
    )
    assert found, "the metrics count the job streams"
    return int(float(found.group(1)))


def test_output_stream_opened_before_start_is_live_and_ends(
    api: Api, module_server: Server, tmp_path: Path
) -> None:
    release, go = tmp_path / "release", tmp_path / "go"
    blocker = api.submit(
        command=f"sh -c 'while [ ! -e {release} ]; do sleep 0.05; done'", num_tasks=2
    )
    api.wait_state(blocker, "RUN")
    # The job prints two lines, then waits for the test to have read them before the third.
    job = api.submit(
        command=f"sh -c 'echo one; echo two >&2; while [ ! -e {go} ]; do sleep 0.05; done; "
        "echo three'"
    )
    assert api.info(job)["state"] == "SCHED"
    before = _job_followers(api.client)
    queued_when_followed: list[str] = []

    def release_once_followed() -> None:
        with httpx.Client(base_url=module_server.url, timeout=10.0) as watcher:
            wait_for(
                lambda: _job_followers(watcher),
                until=lambda n: n > before,
                what="the stream following the queued job",
            )
            queued_when_followed.append(Api(watcher).info(job)["state"])
        release.touch()

    releaser = threading.Thread(target=release_once_followed)
    releaser.start()
    received = ""
    try:
        with (
            httpx.Client(base_url=module_server.url, timeout=20.0) as streamer,
            streamer.stream("GET", f"/v1/jobs/{job}/output/stream") as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
            for text in response.iter_text():
                received += text
                if received == "one\ntwo\n":  # live: these arrived while the job still ran
                    assert api.info(job)["state"] == "RUN"
                    go.touch()
    finally:
        releaser.join(30)
        release.touch()
        go.touch()
    assert queued_when_followed == ["SCHED"]  # the stream was opened before the job started
    assert received == "one\ntwo\nthree\n"
    assert api.wait_done(job)["returncode"] == 0


def test_output_stream_of_finished_job_replays_everything(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="sh -c 'for i in 1 2 3; do echo line$i; done'")
    api.wait_done(job)
    response = client.get(f"/v1/jobs/{job}/output/stream")
    assert response.status_code == 200
    assert response.text == "line1\nline2\nline3\n"


def test_job_eventlog(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="true")
    api.wait_done(job)
    response = client.get(f"/v1/jobs/{job}/events")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == job
    events = body["events"]
    names = [e["name"] for e in events]
    assert names[0] == "submit"
    for name in ("alloc", "start", "finish", "release", "clean"):
        assert name in names
    assert names.index("start") < names.index("finish") < names.index("clean")
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    times = [e["timestamp"] for e in events]
    assert times == sorted(times)
    finish = events[names.index("finish")]
    assert finish["context"]["status"] == 0


# -- nodes, openapi, errors ------------------------------------------------------------------


def test_nodes(client: httpx.Client) -> None:
    body = client.get("/v1/nodes").json()
    assert set(body) == {"nodes"}
    assert len(body["nodes"]) == 1
    detail = client.get("/v1/nodes", params={"detail": "true"}).json()
    assert detail["nodes"] == body["nodes"]
    (node,) = detail["detail"]
    assert node == {
        "name": body["nodes"][0],
        "cores": 2,
        "gpus": 0,
        "cores_free": 2,
        "gpus_free": 0,
    }


def test_nodes_free_counts_follow_running_jobs(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="sleep 30")
    api.wait_state(job, "RUN")
    (node,) = client.get("/v1/nodes", params={"detail": "1"}).json()["detail"]
    assert node["cores_free"] == 1
    api.client.post(f"/v1/jobs/{job}/cancel")
    api.wait_done(job)
    wait_for(
        lambda: (
            client.get("/v1/nodes", params={"detail": "1"}).json()["detail"][0]["cores_free"] == 2
        )
    )


def test_openapi_lists_every_route(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        ("/v1/jobs/submit", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/search", "get"),
        ("/v1/jobs/{job_id}", "get"),
        ("/v1/jobs/{job_id}/cancel", "post"),
        ("/v1/jobs/{job_id}/output", "get"),
        ("/v1/jobs/{job_id}/output/stream", "get"),
        ("/v1/jobs/{job_id}/events", "get"),
        ("/v1/nodes", "get"),
        ("/v1/service/stop", "post"),
    }
    normalised = {(p.rstrip("/") or "/", m) for p, methods in paths.items() for m in methods}
    missing = expected - normalised
    assert not missing, f"missing from /openapi.json: {sorted(missing)}"
    submit = paths.get("/v1/jobs/submit") or paths["/v1/jobs/submit/"]
    described = json.dumps(submit)
    for field in ("command", "num_tasks", "option_flags", "runtime", "workdir", "envars"):
        assert field in described
    assert client.get("/docs").status_code == 200


def test_unknown_route_and_wrong_method_are_json(client: httpx.Client) -> None:
    response = client.get("/v1/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["detail"] == "Not Found"
    response = client.delete("/v1/nodes")
    assert response.status_code == 405
    assert response.json()["detail"] == "Method Not Allowed"
    response = client.get("/v1/jobs/submit")
    assert response.status_code in (400, 405)
    assert response.headers["content-type"].startswith("application/json")


# -- job environment and resources ------------------------------------------------------------


def test_job_environment(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="env", num_tasks=1)
    api.wait_done(job)
    env = dict(line.rstrip("\n").split("=", 1) for line in api.output(job) if "=" in line)
    assert env["FLUX_TASK_RANK"] == "0"
    assert env["FLUX_JOB_SIZE"] == "1"
    # FLUX_JOB_ID is the job's id in a Flux encoding that the server resolves to the same job
    assert client.get(f"/v1/jobs/{env['FLUX_JOB_ID']}").json()["id"] == job
    assert "PATH" in env
    assert "FLUX_SECRET_KEY" not in env
    assert "SERVER_ONLY_VARIABLE" not in env
    assert all(SECRET not in value for value in env.values())


def test_envars_cannot_leak_server_secret_by_name(api: Api, client: httpx.Client) -> None:
    response = client.post(
        "/v1/jobs/submit",
        json={"command": "sh -c 'echo [$FLUX_SECRET_KEY][$MINE]'", "envars": {"MINE": "x"}},
    )
    job = response.json()["id"]
    api.wait_done(job)
    assert api.output(job) == ["[][x]\n"]


def test_workdir(api: Api, tmp_path: Path) -> None:
    job = api.submit(command="pwd", workdir=str(tmp_path))
    info = api.wait_done(job)
    assert info["cwd"] == str(tmp_path)
    assert api.output(job) == [f"{tmp_path}\n"]


def test_a_workdir_removed_and_made_again_is_the_new_one(api: Api, tmp_path: Path) -> None:
    """A workflow that clears its directory between jobs: the next job runs in the new one."""
    work = tmp_path / "work"
    work.mkdir()
    assert api.wait_done(api.submit(command="touch first", workdir=str(work)))["returncode"] == 0
    shutil.rmtree(work)
    work.mkdir()
    assert api.wait_done(api.submit(command="touch second", workdir=str(work)))["returncode"] == 0
    assert sorted(p.name for p in work.iterdir()) == ["second"]


def test_runtime_limit_times_out(api: Api) -> None:
    job = api.submit(command="sleep 30", runtime=1)
    info = api.wait_done(job, timeout=15)
    assert info["result"] == "TIMEOUT"
    assert info["exception"]["occurred"] is True
    assert info["exception"]["type"] == "timeout"
    assert info["duration"] == 1.0
    assert 0.9 <= info["runtime"] < 10


def test_num_tasks_are_real_processes(api: Api) -> None:
    job = api.submit(command="sh -c 'echo $FLUX_TASK_RANK $FLUX_JOB_SIZE $$'", num_tasks=2)
    info = api.wait_done(job)
    assert info["ntasks"] == 2
    assert info["ncores"] == 2
    lines = sorted(line.split() for line in api.output(job))
    assert [(rank, size) for rank, size, _ in lines] == [("0", "2"), ("1", "2")]
    assert lines[0][2] != lines[1][2]


def test_exclusive_takes_the_whole_node(api: Api) -> None:
    job = api.submit(command="true", num_nodes=1, exclusive="true")
    info = api.wait_done(job)
    assert info["result"] == "COMPLETED"
    assert info["ntasks"] == 1
    assert info["ncores"] == 2


def test_option_flags_recorded(api: Api, module_server: Server) -> None:
    job = api.submit(command="true", option_flags="ompi=openmpi@5,cpu-affinity=per-task")
    assert api.wait_done(job)["result"] == "COMPLETED"
    db = sqlite3.connect(module_server.state_dir / "flux-restful.db")
    try:
        (spec,) = db.execute("SELECT spec FROM jobs WHERE id = ?", (job,)).fetchone()
    finally:
        db.close()
    assert json.loads(spec)["options"] == {"ompi": "openmpi@5", "cpu-affinity": "per-task"}


def test_concurrent_submits_get_distinct_ids(api: Api, module_server: Server) -> None:
    ids: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=module_server.url, timeout=20.0) as own:
            for _ in range(5):
                job = own.post("/v1/jobs/submit", params={"command": "true"}).json()["id"]
                with lock:
                    ids.append(job)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 20
    for job in ids:
        assert api.wait_done(job)["result"] == "COMPLETED"


# -- service stop (own server: it exits) --------------------------------------------------------


def test_service_stop(server: Server, http: httpx.Client) -> None:
    response = http.post("/v1/service/stop")
    assert response.status_code == 200
    assert response.json() == {"Message": "Service is stopping."}
    assert server.proc is not None
    assert server.proc.wait(15) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/v1/nodes", timeout=1.0)
