"""Regressions found in review of the server core and the local executor."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.conftest import Server, ServerFactory, wait_for

from .conftest import Api


def zombie_children(pid: int) -> list[int]:
    """Pids of ``pid``'s children that exited but were never reaped."""
    zombies = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, ppid = fields[0], int(fields[1])
        if ppid == pid and state == "Z":
            zombies.append(int(entry.name))
    return zombies


def test_finished_job_processes_are_reaped(server: Server, http: httpx.Client) -> None:
    api = Api(http)
    jobs = [api.submit(command="true") for _ in range(4)]
    for job in jobs:
        api.wait_done(job)
    assert server.proc is not None
    # The server reaps the processes it starts for jobs once they exit: no zombies pile up.
    wait_for(lambda: not zombie_children(server.proc.pid), timeout=5)


def test_cancelling_the_head_of_the_queue_starts_the_next_job(
    server: Server, http: httpx.Client, tmp_path: Path
) -> None:
    api = Api(http)
    go = tmp_path / "go"
    # One of the two cores is busy until ``go`` exists.
    busy = api.submit(command=f"sh -c 'while [ ! -e {go} ]; do sleep 0.05; done'")
    api.wait_state(busy, "RUN")
    wide = api.submit(command="true", cores_per_task=2)  # head of the queue: cannot fit now
    narrow = api.submit(command="true")  # fits, but first come first served keeps it behind
    assert api.info(wide)["state"] == "SCHED"
    assert api.info(narrow)["state"] == "SCHED"
    assert http.post(f"/v1/jobs/{wide}/cancel").status_code == 200
    try:
        # With the head gone, the job behind it fits on the free core and starts at once.
        assert api.wait_done(narrow, timeout=5)["result"] == "COMPLETED"
        assert api.info(busy)["state"] == "RUN"
    finally:
        go.touch()
    api.wait_done(busy)


def test_env_passthrough_reaches_jobs(server_factory: ServerFactory) -> None:
    server = server_factory(
        env={"FLUX_JOB_ENV_PASSTHROUGH": "REVIEW_*", "REVIEW_SITE": "here", "OTHER_VAR": "no"},
        args=["--cores-per-node", "2"],
    )
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        api = Api(http)
        job = api.submit(
            command="sh -c 'echo site=${REVIEW_SITE:-unset} other=${OTHER_VAR:-unset}'"
        )
        api.wait_done(job)
        assert api.output(job) == ["site=here other=unset\n"]


def test_deeply_nested_envars_literal_is_a_400(client: httpx.Client) -> None:
    reason = "Environment variables must be key/value pairs (dict)"
    expected = {"Message": "Invalid submit request", "Errors": [reason]}
    # The 0.2.1 client's Python-literal envars, nested deep enough to overflow the parser.
    for nested in ("-" * 3000 + "1", "{1: " + "-" * 3000 + "1}"):
        response = client.post("/v1/jobs/submit", params={"command": "true", "envars": nested})
        assert response.status_code == 400, response.text
        assert response.json() == expected
    for nested in ("+" * 3000 + "1", "~" * 7000 + "1"):
        response = client.post("/v1/jobs/submit", data={"command": "true", "envars": nested})
        assert response.status_code == 400, response.text
        assert response.json() == expected


def test_allocation_recorded_but_not_ingested_is_held_after_restart(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    server = server_factory(args=["--cores-per-node", "2"])
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        api = Api(http)
        held = api.submit(command=f"sh -c 'while [ ! -e {go} ]; do sleep 0.05; done'", urgency=0)
        assert api.info(held)["state"] == "SCHED"
    assert server.stop() == 0
    # The server wrote the job's alloc event and died before ingesting it.
    alloc = {"cores": {"0": 1}, "gpus": {"0": 0}, "ranks_nodes": [0], "exclusive": False}
    record = {"name": "alloc", "context": {"alloc": alloc, "duration": 0.0}}
    with open(server.state_dir / "jobs" / f"{held}.log", "a") as log:
        log.write(f"{time.time():.6f} @ - {json.dumps(record)}\n")
    server.restart()
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as http:
            api = Api(http)
            api.wait_state(held, "RUN")
            nodes = http.get("/v1/nodes", params={"detail": "true"}).json()["detail"]
            # The recovered job holds its core: only one of the two is free.
            assert [node["cores_free"] for node in nodes] == [1]
    finally:
        go.touch()
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        Api(http).wait_done(held)
        nodes = http.get("/v1/nodes", params={"detail": "true"}).json()["detail"]
        assert [node["cores_free"] for node in nodes] == [2]


def test_a_damaged_log_record_never_breaks_readers(tmp_path: Path) -> None:
    from flux_restful_server.domain.events import JobEvent, OutputLine
    from flux_restful_server.executors.local.joblog import event_record, parse_record

    good = event_record("start", {}, 1.0).rstrip(b"\n")
    assert isinstance(parse_record(1, 1, good), JobEvent)
    for damaged in (b"1795953", b'1795953082.6 @ - {"name":"fin', b"17.0 x 0 data"):
        entry = parse_record(1, 2, damaged)
        assert isinstance(entry, OutputLine)
        assert (entry.stream, entry.rank, entry.data) == ("stderr", -1, damaged)
