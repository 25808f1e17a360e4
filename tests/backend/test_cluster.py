"""A 4-node emulated cluster (4 nodes x 2 cores): queueing, spreading, exclusive, never-fit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, wait_for

from .conftest import Api, start_server

INVALID = "Invalid submit request"


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("cluster"), ["--nodes", "4", "--cores-per-node", "2"]
    )
    yield server
    server.stop()


def free_cores(client: httpx.Client) -> list[int]:
    detail = client.get("/v1/nodes", params={"detail": "true"}).json()["detail"]
    return [node["cores_free"] for node in detail]


@pytest.fixture(autouse=True)
def _idle(client: httpx.Client) -> Iterator[None]:
    """Every test starts and ends with the whole cluster free."""
    wait_for(lambda: free_cores(client) == [2, 2, 2, 2])
    yield
    for job in client.get("/v1/jobs", params={"state": "active"}).json()["jobs"]:
        client.post(f"/v1/jobs/{job['id']}/cancel")
    wait_for(lambda: free_cores(client) == [2, 2, 2, 2])


def test_nodes(client: httpx.Client) -> None:
    body = client.get("/v1/nodes", params={"detail": "true"}).json()
    assert len(body["nodes"]) == 4
    assert body["nodes"] == sorted(body["nodes"])
    assert [n["name"] for n in body["detail"]] == body["nodes"]
    assert all(n["cores"] == 2 and n["gpus"] == 0 for n in body["detail"])


def test_jobs_queue_for_resources_and_start_fifo(api: Api) -> None:
    whole = [api.submit(command="sleep 0.3", num_tasks=8) for _ in range(3)]
    infos = [api.wait_done(job) for job in whole]
    for info in infos:
        assert info["result"] == "COMPLETED"
        assert info["nnodes"] == 4
        assert info["ncores"] == 8
    # one at a time, in submission order: each starts only after the previous released the cores
    for earlier, later in zip(infos, infos[1:], strict=False):
        assert later["t_run"] >= earlier["t_cleanup"]
    assert [i["t_run"] for i in infos] == sorted(i["t_run"] for i in infos)


def test_small_job_behind_a_big_one_waits_its_turn(api: Api) -> None:
    running = api.submit(command="sleep 30", num_tasks=6)
    api.wait_state(running, "RUN")
    big = api.submit(command="true", num_tasks=4)
    small = api.submit(command="true", num_tasks=1)
    assert api.info(big)["state"] == "SCHED"
    # FIFO: the small job fits in the 2 free cores but does not jump the queue
    assert api.info(small)["state"] == "SCHED"
    api.client.post(f"/v1/jobs/{running}/cancel")
    big_info = api.wait_done(big)
    small_info = api.wait_done(small)
    assert big_info["result"] == small_info["result"] == "COMPLETED"
    assert small_info["t_run"] >= big_info["t_run"]


def test_job_starts_as_soon_as_resources_free(api: Api, client: httpx.Client) -> None:
    first = api.submit(command="sleep 30", num_tasks=8)
    api.wait_state(first, "RUN")
    assert free_cores(client) == [0, 0, 0, 0]
    waiting = api.submit(command="echo ran", num_tasks=2)
    assert api.info(waiting)["state"] == "SCHED"
    api.client.post(f"/v1/jobs/{first}/cancel")
    info = api.wait_done(waiting)
    assert info["result"] == "COMPLETED"
    assert api.output(waiting) == ["ran\n", "ran\n"]
    assert info["t_run"] >= api.info(first)["t_cleanup"]


def test_num_nodes_spreads_tasks(api: Api) -> None:
    job = api.submit(
        command="sh -c 'echo $FLUX_TASK_RANK $FLUX_JOB_SIZE $FLUX_JOB_NNODES'",
        num_tasks=4,
        num_nodes=2,
    )
    info = api.wait_done(job)
    assert info["nnodes"] == 2
    assert info["ntasks"] == 4
    assert info["ranks"] == "0-1"
    prefix = api.client.get("/v1/nodes").json()["nodes"][0][:-1]  # names are <host><index>
    assert info["nodelist"] == f"{prefix}[0-1]"
    assert sorted(api.output(job)) == [f"{r} 4 2\n" for r in range(4)]


def test_tasks_fill_nodes_without_num_nodes(api: Api) -> None:
    job = api.submit(command="true", num_tasks=8)
    info = api.wait_done(job)
    assert info["nnodes"] == 4
    assert info["ranks"] == "0-3"


def test_exclusive_takes_whole_nodes(api: Api, client: httpx.Client) -> None:
    job = api.submit(command="sleep 30", num_tasks=2, num_nodes=2, exclusive="true")
    info = api.wait_state(job, "RUN")
    assert info["nnodes"] == 2
    assert info["ncores"] == 4
    # two whole nodes are taken even though each task needs one core
    assert sorted(free_cores(client)) == [0, 0, 2, 2]
    shared = api.submit(command="sleep 30", num_tasks=2, num_nodes=2)
    info = api.wait_state(shared, "RUN")
    assert info["ncores"] == 2
    assert sorted(free_cores(client)) == [0, 0, 1, 1]
    # an exclusive job needs idle nodes: it waits although 2 cores are free
    third = api.submit(command="true", num_tasks=1, num_nodes=1, exclusive="true")
    assert api.info(third)["state"] == "SCHED"
    api.client.post(f"/v1/jobs/{job}/cancel")
    assert api.wait_done(third)["result"] == "COMPLETED"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"num_tasks": 9}, "9 tasks"),
        ({"cores_per_task": 3}, "3 cores"),
        ({"num_tasks": 5, "num_nodes": 5}, "The server only has 4 nodes, you requested 5"),
        ({"num_tasks": 3, "num_nodes": 1}, "do not fit on a node"),
        (
            {"num_tasks": 4, "cores_per_task": 2, "num_nodes": 4, "gpus_per_task": 1},
            "This server does not support gpus: gpus_per_task cannot be set.",
        ),
    ],
)
def test_requests_that_can_never_fit_are_rejected(
    client: httpx.Client, params: dict[str, int], reason: str
) -> None:
    before = len(client.get("/v1/jobs").json()["jobs"])
    response = client.post("/v1/jobs/submit", params={"command": "true", **params})
    assert response.status_code == 400
    body = response.json()
    assert body["Message"] == INVALID
    assert any(reason in error for error in body["Errors"]), body
    # nothing was queued
    assert len(client.get("/v1/jobs").json()["jobs"]) == before


def test_largest_request_that_fits_runs(api: Api) -> None:
    job = api.submit(command="true", num_tasks=4, cores_per_task=2, num_nodes=4)
    info = api.wait_done(job)
    assert info["result"] == "COMPLETED"
    assert info["ncores"] == 8
    assert info["nnodes"] == 4
