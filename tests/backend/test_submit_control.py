"""Issue 12's submit side on both executors: batch, idempotent, dry run, jobspec, queue.

Runs against the local executor, and against Flux when an instance is there (`just test-flux`;
skipped elsewhere with the reason). Every refusal is checked to leave nothing behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server

from .conftest import Api, start_server

NEEDS_FLUX = pytest.mark.skipif(
    importlib.util.find_spec("flux") is None or not os.environ.get("FLUX_URI"),
    reason="needs flux bindings and a Flux instance (run `just test-flux`)",
)
JOBSPEC = {
    "version": 1,
    "resources": [
        {"type": "slot", "count": 1, "label": "task", "with": [{"type": "core", "count": 1}]}
    ],
    "tasks": [{"command": ["sh", "-c", "echo from-jobspec"], "slot": "task",
               "count": {"per_slot": 1}}],
    "attributes": {"system": {"duration": 120, "job": {"name": "specjob"}}},
}  # fmt: skip
JOBSPEC_YAML = """\
version: 1
resources:
  - type: slot
    count: 2
    label: task
    with:
      - type: core
        count: 1
tasks:
  - command: [sh, -c, 'echo yaml-$FLUX_TASK_RANK']
    slot: task
    count:
      per_slot: 1
attributes:
  system:
    duration: 60
"""


@pytest.fixture(scope="module", params=["local", pytest.param("flux", marks=NEEDS_FLUX)])
def executor_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    name = str(request.param)
    env = {"FLUX_URI": os.environ["FLUX_URI"]} if name == "flux" else None
    args = ["--executor", name]
    if name == "local":
        args += ["--cores-per-node", "4"]
    server = start_server(tmp_path_factory.mktemp(f"submit-{name}"), args, env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sapi(executor_server: Server) -> Iterator[Api]:
    with httpx.Client(base_url=executor_server.url, timeout=30.0) as client:
        yield Api(client)


def job_count(api: Api) -> int:
    return len(api.client.get("/v1/jobs").json()["jobs"])


# -- batch --------------------------------------------------------------------------------------
def test_batch_entry_three_of_five_invalid_fails_alone(sapi: Api) -> None:
    before = job_count(sapi)
    entries = [
        {"command": "sh -c 'echo one'"},
        {"command": ["sh", "-c", "echo two"], "name": "second"},
        {"command": "true", "cores_per_task": 0, "option_flags": "-ofoo=1"},
        {"command": "sh -c 'echo four'"},
        {"command": "sh -c 'echo five'", "num_tasks": 2},
    ]
    response = sapi.client.post("/v1/jobs/batch", json=entries)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 4 and body["failed"] == 1 and body["dry_run"] is False
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    bad = body["results"][2]
    assert bad["status"] == 400 and bad["code"] == "invalid_request" and "id" not in bad
    assert "cores_per_task must be >= 1, found 0" in bad["errors"]
    assert "Please provide keys without -o, -ofoo is invalid." in bad["errors"]
    ids = body["ids"]
    assert ids[2] is None and all(isinstance(i, int) for i in ids[:2] + ids[3:])
    assert ids[0] < ids[1] < ids[3] < ids[4], "ids are in the order of the entries"
    assert job_count(sapi) == before + 4
    outputs = [sorted(sapi.output(i)) for i in ids if i and sapi.wait_done(i, timeout=60)]
    assert outputs == [["one\n"], ["two\n"], ["four\n"], ["five\n", "five\n"]]
    assert sapi.info(ids[1])["name"] == "second"


def test_batch_cc_substitutes_command_and_name(sapi: Api) -> None:
    response = sapi.client.post(
        "/v1/jobs/batch", params={"cc": "1-3"},
        json={"command": "sh -c 'echo part-{cc} $FLUX_JOB_CC'", "name": "step{cc}"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    ids = response.json()["ids"]
    assert len(ids) == 3
    for cc, job in zip((1, 2, 3), ids, strict=True):
        info = sapi.wait_done(job, timeout=60)
        assert info["name"] == f"step{cc}"
        assert sapi.output(job) == [f"part-{cc} {cc}\n"]


def test_batch_query_fields_are_defaults(sapi: Api) -> None:
    response = sapi.client.post(
        "/v1/jobs/batch", params={"num_tasks": "2"},
        json={"jobs": [{"command": "echo a"}, {"command": "echo b", "num_tasks": 1}]},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    first, second = response.json()["ids"]
    assert sapi.info(first)["ntasks"] == 2
    assert sapi.info(second)["ntasks"] == 1


@pytest.mark.parametrize(
    ("body", "params", "reason"),
    [
        ([], {}, "at least one job"),
        ({"jobs": []}, {}, "at least one job"),
        (
            [{"command": "true"}] * 1001,
            {},
            "at most 1000 jobs (FLUX_MAX_BATCH), this one has 1,001",
        ),
        ({"command": "true"}, {"cc": "0-1000"}, "at most 1000 jobs"),
        ({"command": "true"}, {"cc": "0-99999999999"}, "at most"),
        ({"command": "true"}, {"cc": "a-b"}, "cc must be an idset"),
        ({"command": "true"}, {"cc": "5-1"}, "must go up"),
        ([{"command": "a"}, {"command": "b"}], {"cc": "0-1"}, "cc copies one job"),
        ({"command": "true", "cores_per_task": -1}, {"cc": "0-3"}, "cores_per_task must be >= 1"),
        ({"jobs": "nope"}, {}, "must be a JSON array"),
        ("just a string", {}, "A batch is a JSON array"),
        (None, {}, "A batch is a JSON array"),
    ],
)
def test_batch_refused_whole(sapi: Api, body: object, params: dict[str, str], reason: str) -> None:
    before = job_count(sapi)
    response = sapi.client.post("/v1/jobs/batch", params=params, json=body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"]
    assert response.json()["code"] == "invalid_request"
    assert job_count(sapi) == before


def test_batch_all_invalid_is_400_with_every_reason(sapi: Api) -> None:
    before = job_count(sapi)
    response = sapi.client.post(
        "/v1/jobs/batch", json=[{"command": ""}, 7, {"command": "x", "runtime": "soon"}]
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request" and body["accepted"] == 0 and body["ids"] == [None] * 3
    assert [r["errors"][0] for r in body["results"]] == [
        "A 'command' is minimally required.",
        "A batch entry must be a JSON object with a command, not 7",
        "runtime must be a number of seconds, not 'soon'",
    ]
    assert job_count(sapi) == before


def test_batch_not_json_is_400(sapi: Api) -> None:
    response = sapi.client.post(
        "/v1/jobs/batch", content=b"[{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The request body is not valid JSON"


# -- idempotency --------------------------------------------------------------------------------
def test_idempotent_submit_same_key_same_id(sapi: Api) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    params = {"command": "sh -c 'echo once'"}
    first = sapi.client.post("/v1/jobs/submit", params=params, headers=key)
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    before = job_count(sapi)
    again = sapi.client.post("/v1/jobs/submit", params=params, headers=key)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert job_count(sapi) == before
    other = sapi.client.post("/v1/jobs/submit", params={"command": "true"}, headers=key)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert job_count(sapi) == before
    fresh = sapi.client.post("/v1/jobs/submit", params=params, headers={"Idempotency-Key": "n2"})
    assert fresh.json()["id"] != first.json()["id"]


def test_idempotent_batch_replays_every_id(sapi: Api) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    entries = [{"command": "true"}, {"command": "x", "num_tasks": 0}, {"command": "true"}]
    first = sapi.client.post("/v1/jobs/batch", json=entries, headers=key)
    assert first.status_code == 200
    before = job_count(sapi)
    again = sapi.client.post("/v1/jobs/batch", json=entries, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["ids"] == first.json()["ids"]
    assert again.json()["results"][1]["status"] == 400
    assert job_count(sapi) == before
    changed = sapi.client.post("/v1/jobs/batch", json=entries[:1], headers=key)
    assert changed.status_code == 409


@pytest.mark.parametrize(
    ("key", "reason"),
    [("k" * 256, "at most 255 characters, not 256"), ("", "must not be empty"),
     ("tab\there", "printable ASCII")],
)  # fmt: skip
def test_bad_idempotency_keys(sapi: Api, key: str, reason: str) -> None:
    before = job_count(sapi)
    for route, kwargs in (
        ("/v1/jobs/submit", {"params": {"command": "true"}}),
        ("/v1/jobs/batch", {"json": [{"command": "true"}]}),
    ):
        response = sapi.client.post(route, headers={"Idempotency-Key": key}, **kwargs)
        assert response.status_code == 400, response.text
        assert reason in response.json()["detail"]
    assert job_count(sapi) == before


def test_longest_key_is_accepted(sapi: Api) -> None:
    key = {"Idempotency-Key": "k" * 254 + uuid.uuid4().hex[:1]}
    first = sapi.client.post("/v1/jobs/submit", params={"command": "true"}, headers=key)
    again = sapi.client.post("/v1/jobs/submit", params={"command": "true"}, headers=key)
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]


# -- dry run ------------------------------------------------------------------------------------
def test_dry_run_creates_nothing_and_shows_the_request(sapi: Api, executor_server: Server) -> None:
    before = job_count(sapi)
    response = sapi.client.post(
        "/v1/jobs/submit",
        params={"command": "sh -c 'echo hi'", "num_tasks": "2", "dry_run": "true", "name": "dr"},
        json={"GREETING": "hello"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True and "id" not in body
    assert body["request"]["command"] == ["sh", "-c", "echo hi"]
    assert body["request"]["num_tasks"] == 2 and body["request"]["name"] == "dr"
    assert body["request"]["envars"] == {"GREETING": "hello"}
    if "flux" in executor_server.args:
        spec = body["jobspec"]
        assert spec["version"] == 1
        assert spec["tasks"][0]["command"] == ["sh", "-c", "echo hi"]
        assert spec["attributes"]["system"]["environment"]["GREETING"] == "hello"
    else:
        assert "jobspec" not in body
    batch = sapi.client.post(
        "/v1/jobs/batch", params={"dry_run": "true"},
        json=[{"command": "true"}, {"command": "true", "num_nodes": 99}],
    )  # fmt: skip
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert batch.json()["accepted"] == 0 and batch.json()["ids"] == [None, None]
    assert results[0]["request"]["command"] == ["true"]
    assert "nodes" in results[1]["detail"]
    assert job_count(sapi) == before


def test_dry_run_refusals_are_the_submit_refusals(sapi: Api) -> None:
    response = sapi.client.post(
        "/v1/jobs/submit", params={"command": "true", "cores_per_task": "100000", "dry_run": "1"}
    )
    assert response.status_code == 400
    assert response.json()["Message"] == "Invalid submit request"
    bad = sapi.client.post("/v1/jobs/submit", params={"command": "true", "dry_run": "maybe"})
    assert bad.status_code == 400
    assert "dry_run must be a boolean" in bad.json()["Errors"][0]


# -- jobspec ------------------------------------------------------------------------------------
def test_jobspec_json_and_yaml(sapi: Api) -> None:
    response = sapi.client.post("/v1/jobs/jobspec", json=JOBSPEC)
    assert response.status_code == 200, response.text
    job = response.json()["id"]
    info = sapi.wait_done(job, timeout=60)
    assert info["name"] == "specjob" and info["result"] == "COMPLETED"
    assert sapi.output(job) == ["from-jobspec\n"]
    response = sapi.client.post(
        "/v1/jobs/jobspec", content=JOBSPEC_YAML, headers={"content-type": "application/yaml"}
    )
    assert response.status_code == 200, response.text
    job = response.json()["id"]
    assert sapi.wait_done(job, timeout=60)["ntasks"] == 2
    assert sorted(sapi.output(job)) == ["yaml-0\n", "yaml-1\n"]


def test_jobspec_dry_run(sapi: Api) -> None:
    before = job_count(sapi)
    response = sapi.client.post("/v1/jobs/jobspec", params={"dry_run": "true"}, json=JOBSPEC)
    assert response.status_code == 200, response.text
    assert response.json()["request"]["name"] == "specjob"
    assert job_count(sapi) == before


@pytest.mark.parametrize(
    ("content", "ctype", "reason"),
    [
        (b"", "application/json", "must be a Flux jobspec"),
        (b"{", "application/json", "not valid JSON"),
        (b"[1]", "application/json", "must be a JSON/YAML object"),
        (b"a: [", "application/yaml", "not valid YAML"),
        (b"a: &x [1]\nb: *x\n", "application/yaml", "aliases"),
        (b"version: 1", "text/plain", "application/json or application/yaml"),
        (json.dumps({**JOBSPEC, "version": 2}).encode(), "application/json", "version 1"),
        (json.dumps({**JOBSPEC, "tasks": []}).encode(), "application/json", "one task"),
        (json.dumps({**JOBSPEC, "resources": [{"type": "slot", "count": 0, "label": "task",
                     "with": [{"type": "core", "count": 1}]}]}).encode(),
         "application/json", "count must be an integer >= 1"),
        (json.dumps({**JOBSPEC, "resources": [{"type": "slot", "count": 1, "label": "task",
                     "with": [{"type": "core", "count": 100000}]}]}).encode(),
         "application/json", "cores"),
        (json.dumps({**JOBSPEC, "tasks": [{"command": "echo", "slot": "task"}]}).encode(),
         "application/json", "non-empty list of strings"),
        (b"[" * 100_000, "application/json", "not valid JSON"),
        (b"a: " + b"[" * 100 + b"]" * 100, "application/yaml", "nested deeper"),
        (b"a: " + b"[" * 50_000, "application/yaml", "YAML"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)  # fmt: skip
def test_bad_jobspecs(sapi: Api, content: bytes, ctype: str, reason: str) -> None:
    before = job_count(sapi)
    response = sapi.client.post(
        "/v1/jobs/jobspec", content=content, headers={"content-type": ctype}
    )
    assert response.status_code == 400, response.text
    assert reason in " ".join(response.json()["Errors"])
    assert job_count(sapi) == before


def test_jobspec_beyond_the_local_subset(sapi: Api, executor_server: Server) -> None:
    spec = json.loads(json.dumps(JOBSPEC))
    spec["attributes"]["system"]["dependencies"] = [{"scheme": "afterany", "value": 1}]
    response = sapi.client.post("/v1/jobs/jobspec", params={"dry_run": "true"}, json=spec)
    if "flux" in executor_server.args:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400
        error = response.json()["Error"]
        assert "local executor cannot run this jobspec" in error
        assert "attributes.system.dependencies" in error


def test_jobspec_user_cannot_claim_another_owner(sapi: Api) -> None:
    spec = json.loads(json.dumps(JOBSPEC))
    spec["attributes"]["system"]["user"] = "someone-else"
    response = sapi.client.post("/v1/jobs/jobspec", json=spec)
    assert response.status_code == 200, response.text
    assert sapi.info(response.json()["id"])["user"] is None


# -- queue and name -----------------------------------------------------------------------------
def test_queue(sapi: Api, executor_server: Server) -> None:
    response = sapi.client.post("/v1/jobs/submit", params={"command": "true", "queue": "nope"})
    assert response.status_code == 400
    error = response.json()["Errors"][0]
    assert "Unknown queue 'nope'" in error
    if "flux" not in executor_server.args:
        assert "the local executor has one queue, 'default'" in error
    good = sapi.client.post("/v1/jobs/submit", params={"command": "true", "queue": "default"})
    assert good.status_code == 200, good.text
    bad = sapi.client.post("/v1/jobs/submit", params={"command": "true", "queue": "a b"})
    assert bad.status_code == 400
    assert "queue must be a queue name" in bad.json()["Errors"][0]


def test_name_on_submit(sapi: Api) -> None:
    job = sapi.submit(command="true", name="my-step")
    assert sapi.info(job)["name"] == "my-step"
