"""Nothing is lost: graceful restart and ``kill -9`` of the server while jobs queue, run and end."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from flux_restful_server.executors.local.joblog import event_record
from flux_restful_server.executors.local.resources import Allocation
from tests.conftest import Server, ServerFactory, free_port, serve_command, wait_for

from .conftest import Api


def runs(path: Path) -> list[str]:
    return sorted(path.read_text().split()) if path.exists() else []


@pytest.mark.parametrize("how", ["graceful", "kill9"])
def test_restart_keeps_every_job(server_factory: ServerFactory, tmp_path: Path, how: str) -> None:
    ledger = tmp_path / "ledger"
    go = tmp_path / "go"  # the long job ends only once this exists
    server = server_factory(args=["--cores-per-node", "2"])
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        api = Api(client)
        done = api.submit(command=f"sh -c 'echo done >> {ledger}; echo done-out'")
        api.wait_done(done)
        # keeps running across the restart
        long = api.submit(
            command=f"sh -c 'echo long >> {ledger}; echo before; "
            f"while [ ! -e {go} ]; do sleep 0.05; done; echo after; exit 7'"
        )
        # finishes while the server is down
        short = api.submit(
            command=f"sh -c 'echo short >> {ledger}; echo s1; sleep 0.5; echo s2; exit 5'"
        )
        wait_for(lambda: api.output(long) == ["before\n"] and api.output(short) == ["s1\n"])
        # both cores are busy: these wait in the queue
        queued = [
            api.submit(command=f"sh -c 'echo q{i} >> {ledger}; echo q{i}-out'") for i in range(3)
        ]
        assert {api.info(j)["state"] for j in queued} == {"SCHED"}
    if how == "graceful":
        assert server.stop() == 0
    else:
        server.kill()
    # The short job ends while nobody watches: its supervisor writes `finish` to its log.
    short_log = server.state_dir / "jobs" / f"{short}.log"
    wait_for(
        lambda: short_log.read_bytes(),
        timeout=10,
        until=lambda log: b'"name":"finish"' in log,
        what=f"the finish event in job {short}'s log",
    )
    server.restart()
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        api = Api(client)
        listed = {j["id"] for j in client.get("/v1/jobs").json()["jobs"]}
        assert {done, long, short, *queued} <= listed

        short_info = api.wait_done(short)
        assert short_info["result"] == "FAILED"
        assert short_info["returncode"] == 5
        assert api.output(short) == ["s1\n", "s2\n"]

        assert api.info(long)["state"] == "RUN"
        go.touch()
        long_info = api.wait_done(long)
        assert long_info["returncode"] == 7
        assert long_info["result"] == "FAILED"
        assert api.output(long) == ["before\n", "after\n"]

        for i, job in enumerate(queued):
            info = api.wait_done(job)
            assert info["result"] == "COMPLETED"
            assert api.output(job) == [f"q{i}-out\n"]

        assert api.info(done)["result"] == "COMPLETED"
        assert api.output(done) == ["done-out\n"]
        events = [e["name"] for e in client.get(f"/v1/jobs/{long}/events").json()["events"]]
        assert events.count("start") == 1
        assert events.count("finish") == 1
    # no job ran twice
    assert runs(ledger) == sorted(["done", "long", "short", "q0", "q1", "q2"])


def test_restart_twice_with_nothing_running(server_factory: ServerFactory) -> None:
    server = server_factory(args=["--cores-per-node", "2"])
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        ids = [Api(client).submit(command=f"echo {i}") for i in range(3)]
        for job in ids:
            Api(client).wait_done(job)
    for _ in range(2):
        server.kill()
        server.restart()
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        api = Api(client)
        assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == list(reversed(ids))
        for i, job in enumerate(ids):
            assert api.output(job) == [f"{i}\n"]
        new = api.submit(command="true")
        assert new > max(ids)
        assert api.wait_done(new)["result"] == "COMPLETED"


def test_cancel_after_restart_reaches_the_running_job(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory(args=["--cores-per-node", "2"])
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        job = Api(client).submit(command="sh -c 'echo up; sleep 60'")
        wait_for(lambda: Api(client).output(job) == ["up\n"])
    server.kill()
    server.restart()
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        api = Api(client)
        assert api.info(job)["state"] == "RUN"
        assert client.post(f"/v1/jobs/{job}/cancel").status_code == 200
        info = api.wait_done(job)
        assert info["result"] == "CANCELED"
        assert info["returncode"] == -15


def test_second_server_on_same_state_dir_refuses(server: Server, tmp_path: Path) -> None:
    proc = subprocess.run(
        serve_command(free_port(), server.state_dir),
        env=server.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert f"state dir {server.state_dir} is in use by another server" in proc.stderr
    assert str(server.proc.pid if server.proc else "") in proc.stderr
    # the first server is unharmed
    assert httpx.get(server.url + "/v1/nodes", timeout=5).status_code == 200


def test_a_job_left_finished_without_its_end_is_ended_after_a_restart(
    server_factory: ServerFactory,
) -> None:
    """A log with ``finish`` but no ``clean`` and no lock (what a supervisor of an earlier
    release left, or a server stopped between the two) is ended when the server comes back."""
    server = server_factory(args=["--cores-per-node", "2"])
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        job = Api(client).submit(command="true", urgency=0)  # held: its log exists, it never runs
    server.kill()
    alloc = {"alloc": Allocation({0: 1}, {0: 0}, [0]).to_json(), "duration": 0.0}
    t = time.time()
    records = b"".join(
        event_record(name, context, t)
        for name, context in [("alloc", alloc), ("start", {}), ("finish", {"status": 0})]
    )
    with open(server.state_dir / "jobs" / f"{job}.log", "ab") as log:
        log.write(records)
    server.restart()
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        api = Api(client)
        info = api.wait_done(job)
        assert (info["result"], info["returncode"]) == ("COMPLETED", 0), info
        names = [e["name"] for e in client.get(f"/v1/jobs/{job}/events").json()["events"]]
        assert names[-5:] == ["start", "finish", "release", "free", "clean"]
        after = api.submit(command="true")  # the core it held is free again
        assert api.wait_done(after)["result"] == "COMPLETED"


def test_a_damaged_log_does_not_keep_the_server_or_other_jobs_down(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(args=["--cores-per-node", "2"])
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        damaged, fine = (Api(client).submit(command="true", urgency=0) for _ in range(2))
    server.kill()
    with open(server.state_dir / "jobs" / f"{damaged}.log", "ab") as log:
        log.write(event_record("alloc", {"alloc": {"cores": {}}}, time.time()))  # no nodes
    server.restart()
    assert "recovering job" in server.log()
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        api = Api(client)
        assert api.info(damaged)["state"] == "SCHED"
        assert client.post(f"/v1/jobs/{fine}/release").status_code == 200
        assert api.wait_done(fine)["result"] == "COMPLETED"
