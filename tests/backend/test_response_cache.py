"""Cached responses never show stale state and never leak another user's finished job."""

from __future__ import annotations

import httpx

from tests.conftest import Server, wait_for

from .test_auth_server import auth_server, login, submit  # noqa: F401 - the fixture is used


def test_listing_follows_every_change(server: Server, http: httpx.Client) -> None:
    first = http.get("/v1/jobs").json()["jobs"]
    assert http.get("/v1/jobs").json()["jobs"] == first  # served again, unchanged
    job = http.post("/v1/jobs/submit", params={"command": "sleep 0.3"}).json()["id"]
    assert http.get("/v1/jobs").json()["jobs"][0]["id"] == job
    wait_for(lambda: http.get("/v1/jobs").json()["jobs"][0]["state"] == "RUN")
    wait_for(lambda: http.get("/v1/jobs").json()["jobs"][0]["result"] == "COMPLETED")
    details = http.get("/v1/jobs", params={"details": "true"}).json()
    assert details[str(job)]["result"] == "COMPLETED"


def test_cached_finished_job_stays_private(auth_server: Server) -> None:  # noqa: F811
    url = auth_server.url
    alice, mallory = login(url, "alice", "alice-pw"), login(url, "mallory", "mallory-pw")
    job = submit(url, alice, "true")

    def done() -> bool:
        return httpx.get(f"{url}/v1/jobs/{job}", headers=alice).json()["state"] == "INACTIVE"

    wait_for(done)
    first = httpx.get(f"{url}/v1/jobs/{job}", headers=alice)
    assert httpx.get(f"{url}/v1/jobs/{job}", headers=alice).json() == first.json()
    other = httpx.get(f"{url}/v1/jobs/{job}", headers=mallory)
    assert other.status_code == 404
    assert other.json()["detail"] == f"Job {job} not found"
    assert httpx.get(f"{url}/v1/jobs", headers=mallory).json()["jobs"] == []
    assert [j["id"] for j in httpx.get(f"{url}/v1/jobs", headers=alice).json()["jobs"]] == [job]


def test_a_bad_listing_query_is_refused_every_time(server: Server, http: httpx.Client) -> None:
    # What a listing parsed from its query is kept per query string; a refused one never is.
    for _ in range(2):
        answer = http.get("/v1/jobs", params={"limit": "-1", "state": "RUN"})
        assert answer.status_code == 400 and "limit" in answer.json()["detail"]
    job = http.post("/v1/jobs/submit", params={"command": "true"}).json()["id"]
    for limit in ("1", "1"):
        assert [j["id"] for j in http.get("/v1/jobs", params={"limit": limit}).json()["jobs"]] == [
            job
        ]
