"""Issue 12, control side: dependencies, hold, urgency, signals, bulk cancel, pending reasons.

Written once and run against both executors (the flux half inside a Flux instance, `just
test-flux`). Every wait is on an event that proves the point: a held job is shown still waiting
only after a job submitted later has finished, never after a sleep.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from flux_restful_server.auth.commands import add_user
from flux_restful_server.domain.ids import f58
from tests.conftest import Server, wait_for, wait_for_async

from .conftest import Api, start_server

NEEDS_FLUX = pytest.mark.skipif(
    importlib.util.find_spec("flux") is None or not os.environ.get("FLUX_URI"),
    reason="needs flux bindings and a Flux instance (run `just test-flux`)",
)
EXECUTORS = ["local", pytest.param("flux", marks=NEEDS_FLUX)]
ROOT, ROOT_PW = "fluxuser", "root-pw-31c7"
BOB, BOB_PW = "bob", "bob-pw-90aa"
AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": ROOT,
    "FLUX_TOKEN": ROOT_PW,
    "FLUX_SECRET_KEY": "control-secret-5b1e" + "s" * 16,
}
PY = sys.executable
pytestmark = pytest.mark.xdist_group("job-control")


def _start(root: Path, name: str, auth: bool) -> Server:
    args = ["--executor", name]
    if name == "local":
        args += ["--cores-per-node", "2"]
    env = {"FLUX_URI": os.environ["FLUX_URI"]} if name == "flux" else {}
    if not auth:
        return start_server(root, args, env)
    state = root / "state"
    state.mkdir(parents=True)
    added = CliRunner().invoke(
        add_user, [BOB, "--password-stdin", "--state-dir", str(state)], input=f"{BOB_PW}\n"
    )
    assert added.exit_code == 0, added.output
    return start_server(root, args, {**env, **AUTH_ENV})


@pytest.fixture(scope="module", params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def control_server(executor: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _start(tmp_path_factory.mktemp(f"control-{executor}"), executor, auth=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(control_server: Server) -> Iterator[Api]:
    with httpx.Client(base_url=control_server.url, timeout=30.0) as client:
        yield Api(client)


@pytest.fixture(scope="module")
def auth_server(executor: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _start(tmp_path_factory.mktemp(f"control-auth-{executor}"), executor, auth=True)
    yield server
    server.stop()


def _client(server: Server, user: str, password: str) -> httpx.Client:
    login = httpx.post(
        f"{server.url}/v1/login/access-token", data={"username": user, "password": password}
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
    )


@pytest.fixture(scope="module")
def root_api(auth_server: Server) -> Iterator[Api]:
    with _client(auth_server, ROOT, ROOT_PW) as client:
        yield Api(client)


@pytest.fixture(scope="module")
def bob_api(auth_server: Server) -> Iterator[Api]:
    with _client(auth_server, BOB, BOB_PW) as client:
        yield Api(client)


def submit(api: Api, **fields: object) -> httpx.Response:
    return api.client.post("/v1/jobs/submit", json=fields)


def submitted(api: Api, **fields: object) -> int:
    response = submit(api, **fields)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def started(api: Api, job: int) -> dict:
    """Wait until the job's tasks run (its first output line is proof)."""
    wait_for(lambda: api.output(job), timeout=60)
    return api.info(job)


# -- dependencies ---------------------------------------------------------------------------------
def test_an_afterok_chain_runs_in_order(api: Api) -> None:
    first = submitted(api, command="sh -c 'echo up; exec sleep 120'", name="gate")
    started(api, first)
    second = submitted(api, command="echo second", dependency=f"afterok:{f58(first)}")
    third = submitted(api, command="echo third", dependency=[f"afterok:{second}"])
    info = api.info(second)
    assert info["state"] == "DEPEND"
    assert info["pending_reason"] == f"waiting on afterok:{f58(first)}"
    listed = {j["id"]: j for j in api.client.get("/v1/jobs").json()["jobs"]}
    assert listed[third]["pending_reason"] == f"waiting on afterok:{f58(second)}"
    assert api.client.post(f"/v1/jobs/{first}/signal", json={"signal": "TERM"}).status_code == 200
    gate = api.wait_done(first, timeout=60)
    assert gate["result"] == "FAILED"  # killed by SIGTERM: afterok can never be met
    for job in (second, third):
        done = api.wait_done(job, timeout=60)
        assert done["result"] == "FAILED"
        assert done["exception"]["type"] == "dependency"
        assert done["pending_reason"].startswith("can never run: ")
        assert api.output(job) == []


def test_afterok_afterany_and_afternotok_after_a_success(api: Api) -> None:
    ok = submitted(api, command="true")
    api.wait_done(ok, timeout=60)
    on_ok = submitted(api, command="echo ok", dependency=f"afterok:{ok}")
    on_any = submitted(api, command="echo any", dependency=f"afterany:{hex(ok)}")
    assert api.wait_done(on_ok, timeout=60)["result"] == "COMPLETED"
    assert api.wait_done(on_any, timeout=60)["result"] == "COMPLETED"
    assert api.output(on_ok) == ["ok\n"]
    # Known at submit to be impossible: refused, as Flux refuses it, with the reason.
    never = submit(api, command="echo notok", dependency=f"afternotok:{f58(ok)}")
    assert never.status_code == 400, never.text
    assert "afternotok" in never.json()["Error"] and "succeeded" in never.json()["Error"]


def test_after_waits_for_the_start_and_several_dependencies_all_count(api: Api) -> None:
    gate = submitted(api, command="sleep 120", urgency=0)
    failing = submitted(api, command="false")
    api.wait_done(failing, timeout=60)
    job = submitted(api, command="echo both", dependency=f"after:{gate},afternotok:{failing}")
    info = api.info(job)
    assert info["state"] == "DEPEND"
    assert info["pending_reason"] == f"waiting on after:{f58(gate)}"
    assert api.client.post(f"/v1/jobs/{gate}/release").status_code == 200
    api.wait_done(job, timeout=60)
    assert api.output(job) == ["both\n"]
    api.client.post(f"/v1/jobs/{gate}/cancel")
    api.wait_done(gate, timeout=60)


def test_dependency_bad_input(api: Api) -> None:
    missing = submit(api, command="true", dependency="afterok:ƒ2zqL5Hn")
    assert missing.status_code == 404, missing.text
    assert "not found" in missing.json()["detail"]
    for value, words in [
        ("afterbogus:1", "unknown scheme"),
        ("afterok", "must look like scheme:jobid"),
        ("afterok:not-an-id", "is not a job id"),
        ("singleton:1", "does not take on submit"),
        (7, "must be 'scheme:jobid'"),
    ]:
        response = submit(api, command="true", dependency=value)
        assert response.status_code == 400, (value, response.text)
        assert any(words in e for e in response.json()["Errors"]), response.json()
    repeated = api.client.post(
        "/v1/jobs/submit",
        params=[("command", "true"), ("dependency", "afterok:1"), ("dependency", "bogus:2")],
    )
    assert repeated.status_code == 400 and "unknown scheme" in repeated.text


# -- hold, release, urgency -----------------------------------------------------------------------
def test_a_held_job_waits_until_released(api: Api) -> None:
    held = submitted(api, command="echo held", urgency=0)
    later = submitted(api, command="echo later")
    api.wait_done(later, timeout=60)  # the scheduler ran, and passed the held job by
    info = api.info(held)
    assert info["state"] == "SCHED" and info["pending_reason"] == "held (urgency 0)"
    released = api.client.post(f"/v1/jobs/{held}/release")
    assert released.status_code == 200, released.text
    assert released.json()["urgency"] == 16 and released.json()["old_urgency"] == 0
    assert api.wait_done(held, timeout=60)["result"] == "COMPLETED"


def test_hold_then_release_restores_the_urgency(api: Api) -> None:
    gate = submitted(api, command="sleep 120", urgency=0)
    job = submitted(api, command="echo x", urgency=9, dependency=f"after:{gate}")
    hold = api.client.post(f"/v1/jobs/{job}/hold")
    assert hold.status_code == 200 and hold.json() == {
        "Message": "Job is held.",
        "id": job,
        "urgency": 0,
        "old_urgency": 9,
    }
    assert api.client.post(f"/v1/jobs/{job}/hold").json()["old_urgency"] == 0  # no change
    assert api.info(job)["urgency"] == 0
    release = api.client.post(f"/v1/jobs/{job}/release").json()
    assert release["urgency"] == 9
    again = api.client.post(f"/v1/jobs/{job}/release").json()
    assert again["Message"] == "Job is not held."
    set_to = api.client.post(f"/v1/jobs/{job}/urgency", json={"urgency": "expedite"})
    assert set_to.status_code == 200 and set_to.json()["urgency"] == 31
    assert (
        api.client.post(f"/v1/jobs/{job}/urgency", params={"urgency": "3"}).json()["old_urgency"]
        == 31
    )
    assert api.info(job)["urgency"] == 3
    assert api.client.post("/v1/jobs/cancel", json={"ids": [gate, job]}).json()["count"] == 2


def test_urgency_bad_input(api: Api) -> None:
    job = submitted(api, command="true", urgency=0)
    for value, status in [(32, 400), (-1, 400), ("soon", 400), (None, 400), (True, 400)]:
        response = api.client.post(f"/v1/jobs/{job}/urgency", json={"urgency": value})
        assert response.status_code == status, (value, response.text)
        assert response.json()["code"] == "invalid_request"
    assert api.client.post("/v1/jobs/ƒ2zqL5Hn/hold").status_code == 404
    assert api.client.post("/v1/jobs/nonsense/hold").status_code == 400
    api.client.post(f"/v1/jobs/{job}/cancel")
    api.wait_done(job, timeout=60)
    inactive = api.client.post(f"/v1/jobs/{job}/urgency", json={"urgency": 4})
    assert inactive.status_code == 400 and "inactive" in inactive.json()["detail"]


def test_a_running_job_keeps_its_urgency(api: Api) -> None:
    job = submitted(api, command="sh -c 'echo up; sleep 60'")
    started(api, job)
    response = api.client.post(f"/v1/jobs/{job}/hold")
    assert response.status_code == 400, response.text
    assert "RUN" in response.json()["detail"]
    api.client.post(f"/v1/jobs/{job}/cancel")
    api.wait_done(job, timeout=60)


# -- signals --------------------------------------------------------------------------------------
TRAP = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGUSR1, lambda *a: (print('got USR1', flush=True), sys.exit(3)))\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


def test_a_signal_reaches_a_running_job(api: Api) -> None:
    job = submitted(api, command=[PY, "-c", TRAP])
    started(api, job)
    response = api.client.post(f"/v1/jobs/{job}/signal", json={"signal": "usr1"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "SIGUSR1" and response.json()["signal"] == 10
    done = api.wait_done(job, timeout=60)
    assert done["returncode"] == 3
    assert api.output(job) == ["ready\n", "got USR1\n"]


def test_interrupt_and_hangup_are_not_ignored_by_jobs(api: Api) -> None:
    """A job starts with every signal at its default, so ``signal -s INT`` ends a plain job."""
    show = "grep SigIgn /proc/self/status; echo ready; exec sleep 120"
    job = submitted(api, command=["sh", "-c", show])
    started(api, job)
    ignored = int(api.output(job)[0].split()[1], 16)
    for signum in signal.valid_signals():  # (not the C library's own two, 32 and 33)
        assert not ignored & (1 << (signum - 1)), f"{signum!r} is ignored in the job"
    wait_for(lambda: len(api.output(job)) == 2, timeout=60)
    response = api.client.post(f"/v1/jobs/{job}/signal", json={"signal": "INT"})
    assert response.status_code == 200, response.text
    done = api.wait_done(job, timeout=60)
    # The local executor reports the task's signal (-2, as upstream's returncode does); Flux's
    # shell, which forwarded the signal to the task, exits 128 + 2 (checked on flux-core 0.88).
    assert done["returncode"] in (-2, 130) and done["result"] == "FAILED", done


def test_signal_bad_input(api: Api) -> None:
    queued = submitted(api, command="true", urgency=0)
    for value in ["SIGBOGUS", "0", 0, 99999, -3, True, [1], "SIG_DFL"]:
        response = api.client.post(f"/v1/jobs/{queued}/signal", json={"signal": value})
        assert response.status_code == 400, (value, response.text)
    pending = api.client.post(f"/v1/jobs/{queued}/signal", json={"signal": "HUP"})
    assert pending.status_code == 400 and "not running" in pending.json()["detail"]
    api.client.post(f"/v1/jobs/{queued}/cancel")


# -- bulk cancel ----------------------------------------------------------------------------------
def test_bulk_cancel_by_name_and_state(api: Api) -> None:
    jobs = [submitted(api, command="true", urgency=0, name="sweep-a") for _ in range(3)]
    other = submitted(api, command="true", urgency=0, name="keep-me")
    response = api.client.post("/v1/jobs/cancel", json={"name": "sweep-a", "state": "pending"})
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 3 and sorted(response.json()["ids"]) == sorted(jobs)
    for job in jobs:
        assert api.wait_done(job, timeout=60)["result"] == "CANCELED"
    assert api.info(other)["state"] == "SCHED"
    again = api.client.post("/v1/jobs/cancel", params={"name": "sweep-a"})
    assert again.json() == {"Message": "0 jobs requested to cancel.", "count": 0, "ids": []}
    assert api.client.post("/v1/jobs/cancel", params={"ids": str(other)}).json()["count"] == 1


def test_bulk_cancel_bad_input(api: Api) -> None:
    for body in [{}, {"all": False}, {"state": "inactive"}, {"state": "bogus"},
                 {"ids": "1,nope"}, {"ids": {"a": 1}}, {"name": 5}]:  # fmt: skip
        response = api.client.post("/v1/jobs/cancel", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["code"] == "invalid_request"
    assert api.client.post("/v1/jobs/cancel").status_code == 400
    broken = api.client.post(
        "/v1/jobs/cancel", content=b"{", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400


# -- who may do what ------------------------------------------------------------------------------
def test_bulk_cancel_touches_only_the_callers_jobs(root_api: Api, bob_api: Api) -> None:
    roots = [submitted(root_api, command="true", urgency=0, name="mine") for _ in range(2)]
    bobs = [submitted(bob_api, command="true", urgency=0, name="mine") for _ in range(2)]
    response = bob_api.client.post("/v1/jobs/cancel", json={"all": True})
    assert response.status_code == 200, response.text
    assert sorted(response.json()["ids"]) == sorted(bobs)
    for job in roots:
        assert root_api.info(job)["state"] == "SCHED"
    other = bob_api.client.post("/v1/jobs/cancel", json={"user": ROOT})
    assert other.status_code == 403
    by_ids = bob_api.client.post("/v1/jobs/cancel", json={"ids": roots})
    assert by_ids.json()["count"] == 0  # not bob's: not seen, not touched
    swept = root_api.client.post("/v1/jobs/cancel", json={"user": ROOT, "name": "mine"})
    assert sorted(swept.json()["ids"]) == sorted(roots)


def test_control_is_authorised_as_cancel_is(root_api: Api, bob_api: Api) -> None:
    job = submitted(root_api, command="true", urgency=0)
    for action, body in [("hold", None), ("release", None), ("urgency", {"urgency": 3}),
                         ("signal", {"signal": "TERM"})]:  # fmt: skip
        response = bob_api.client.post(f"/v1/jobs/{job}/{action}", json=body)
        assert response.status_code == 404, (action, response.text)
    with httpx.Client(base_url=str(bob_api.client.base_url)) as anonymous:
        assert anonymous.post(f"/v1/jobs/{job}/hold").status_code == 401
    hidden = submit(bob_api, command="true", dependency=f"afterany:{job}")
    assert hidden.status_code == 404  # a job bob may not see is no job at all
    root_api.client.post(f"/v1/jobs/{job}/cancel")


def test_only_superusers_expedite(root_api: Api, bob_api: Api) -> None:
    gate = submitted(bob_api, command="sleep 120", urgency=0)
    job = submitted(bob_api, command="true", dependency=f"after:{gate}")
    for value in (17, 31, "expedite"):
        response = bob_api.client.post(f"/v1/jobs/{job}/urgency", json={"urgency": value})
        assert response.status_code == 403, response.text
        assert "superusers" in response.json()["detail"]
    assert submit(bob_api, command="true", urgency=20).status_code == 403
    assert bob_api.client.post(f"/v1/jobs/{job}/urgency", json={"urgency": 16}).status_code == 200
    expedite = root_api.client.post(f"/v1/jobs/{job}/urgency", json={"urgency": 31})
    assert expedite.status_code == 200 and expedite.json()["urgency"] == 31
    assert root_api.info(job)["urgency"] == 31
    cancelled = bob_api.client.post("/v1/jobs/cancel", json={"ids": f"{gate},{job}"})
    assert cancelled.json()["count"] == 2


# -- pending reasons ------------------------------------------------------------------------------
def test_a_job_waiting_for_cores_says_how_many_are_free(api: Api) -> None:
    nodes = api.client.get("/v1/nodes", params={"detail": "true"}).json()["detail"]
    total = sum(int(n["cores"]) for n in nodes)
    hog = submitted(api, command="sleep 120", num_tasks=total)
    api.wait_state(hog, "RUN", timeout=60)
    waiter = submitted(api, command="true", num_tasks=2)
    expected = f"waiting for 2 cores (0 free of {total})"
    info = api.wait_state(waiter, "SCHED", timeout=60)
    assert info["pending_reason"] == expected
    listed = {j["id"]: j for j in api.client.get("/v1/jobs").json()["jobs"]}
    assert listed[waiter]["pending_reason"] == expected
    assert listed[hog]["pending_reason"] == ""
    detailed = api.client.get("/v1/jobs", params={"details": "true", "listing": "true"}).json()
    assert {j["id"]: j["pending_reason"] for j in detailed}[waiter] == expected
    api.client.post("/v1/jobs/cancel", json={"ids": [hog]})
    assert api.wait_done(waiter, timeout=60)["pending_reason"] == ""


async def _announcement(client: httpx.AsyncClient, job: int) -> dict:
    """The job's first ``annotations`` frame in the event feed."""
    sse = {"Accept": "text/event-stream"}
    async with client.stream("GET", "/v1/events", params={"ids": str(job)}, headers=sse) as stream:
        async for line in stream.aiter_lines():
            frame = json.loads(line[6:]) if line.startswith("data: ") else {}
            if frame.get("event") == "annotations":
                return frame
    raise AssertionError(f"the feed ended without announcing job {job}")


# The local scheduler's own announcements; Flux's sched-simple (the test instance's scheduler)
# sets no reason_pending, so there is nothing to see on the flux executor.
@pytest.mark.parametrize("executor", ["local"], scope="module")
async def test_the_event_feed_says_when_a_job_waits_for_cores(control_server: Server) -> None:
    """A job still short of cores at the poll after it queued: an ``annotations`` event, as
    Flux's journal has them, whose ``sched.reason_pending`` the feed gives as ``reason``; once
    for each kind of wait, not at every poll."""
    async with httpx.AsyncClient(base_url=control_server.url, timeout=30) as client:

        async def submit_(**fields: object) -> int:
            return int((await client.post("/v1/jobs/submit", json=fields)).json()["id"])

        nodes = (await client.get("/v1/nodes", params={"detail": "true"})).json()["detail"]
        total = sum(int(n["cores"]) for n in nodes)
        hog = await submit_(command="sleep 120", num_tasks=total)
        waiter = await submit_(command="true", num_tasks=2)
        first = await _announcement(client, waiter)
        # A job queued behind it is announced at a later poll: by then the first was looked
        # at again, and not announced again.
        later = await submit_(command="true")
        second = await _announcement(client, later)
        events = (await client.get(f"/v1/jobs/{waiter}/events")).json()["events"]
        info = (await client.get(f"/v1/jobs/{waiter}")).json()
        await client.post("/v1/jobs/cancel", json={"ids": [hog, waiter, later]})

        async def waiter_info() -> dict:
            return dict((await client.get(f"/v1/jobs/{waiter}")).json())

        ended = await wait_for_async(
            waiter_info, 30, until=lambda i: i["state"] == "INACTIVE", what="waiter ended"
        )
    assert first["reason"] == f"waiting for 2 cores (0 free of {total})"
    # Job info carries the scheduler's annotation while the job waits, as Flux's job-list does.
    assert info["annotations"] == {"sched": {"reason_pending": first["reason"]}}
    assert ended["annotations"] == {}
    assert first["state"] is None  # it changes no state
    assert first["context"]["annotations"]["sched"]["reason_pending"] == first["reason"]
    assert second["reason"] == f"waiting for 1 core (0 free of {total})"
    assert [e["name"] for e in events].count("annotations") == 1


async def test_the_event_feed_says_why_jobs_wait(control_server: Server) -> None:
    async with httpx.AsyncClient(base_url=control_server.url, timeout=30) as client:
        response = await client.post("/v1/jobs/submit", json={"command": "true", "urgency": 0})
        held = response.json()["id"]
        response = await client.post(
            "/v1/jobs/submit", json={"command": "true", "dependency": f"afterok:{held}"}
        )
        waiter = response.json()["id"]
        await client.post(f"/v1/jobs/{held}/cancel")
        reasons: dict[int, list[str]] = {held: [], waiter: []}
        ended: set[int] = set()
        async with client.stream(
            "GET", "/v1/events", params={"ids": f"{held},{waiter}"},
            headers={"Accept": "text/event-stream"},
        ) as stream:  # fmt: skip
            async for line in stream.aiter_lines():
                if not line.startswith("data: "):
                    continue
                frame = json.loads(line[6:])
                if "reason" in frame:
                    reasons[frame["id"]].append(frame["reason"])
                if frame["event"] == "clean":
                    ended.add(frame["id"])
                    if ended == {held, waiter}:
                        break
    assert reasons[held] == ["held (urgency 0)"]
    assert reasons[waiter][0] == f"waiting on afterok:{f58(held)}"
    assert reasons[waiter][-1].startswith("can never run: ")
