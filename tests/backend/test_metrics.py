"""``/metrics``: Prometheus text that parses, counters that move after real requests, and auth."""

from __future__ import annotations

import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, ServerFactory, wait_for

from .conftest import Api
from .test_auth_server import add

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
AUTH_ENV = {"FLUX_AUTH_BACKEND": "database", "FLUX_USER": "admin", "FLUX_TOKEN": "admin-pass"}


def scrape(client: httpx.Client, **kwargs) -> Samples:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counters_move_after_real_requests(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        api = Api(client)
        before = scrape(client)
        job = api.submit(command="echo counted")
        assert client.post("/v1/jobs/submit", params={"num_tasks": "2"}).status_code == 400
        api.wait_done(job)
        assert client.get("/no/such/route").status_code == 404
        after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    submit = {"route": "/v1/jobs/submit", "method": "POST"}
    assert moved("flux_restful_requests_total", **submit, status="200") == 1
    assert moved("flux_restful_requests_total", **submit, status="400") == 1
    assert moved("flux_restful_requests_total", route="unmatched", method="GET", status="404") == 1
    assert moved("flux_restful_submits_total", outcome="accepted") == 1
    assert moved("flux_restful_submits_total", outcome="refused") == 1
    assert moved("flux_restful_request_duration_seconds_count", **submit) == 2
    assert value(after, "flux_restful_request_duration_seconds_bucket", **submit, le="+Inf") >= 2
    polls = moved(
        "flux_restful_request_duration_seconds_count", route="/v1/jobs/<job_id>", method="GET"
    )
    assert polls >= 1  # wait_done polled the job: the route template, never the raw path
    assert not any("counted" in labels_text for labels_text in map(str, after))
    assert value(after, "flux_restful_jobs", state="INACTIVE") >= 1
    assert value(after, "flux_restful_stream_lagged_total") == 0


def test_stream_followers_are_counted_while_open(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        api = Api(client)
        job = api.submit(command="sh -c 'echo go; sleep 60'")
        api.wait_state(job, "RUN")
        opened = threading.Event()
        done = threading.Event()

        def follow() -> None:
            url = f"{server.url}/v1/jobs/{job}/output/stream"
            with httpx.stream("GET", url, timeout=30) as response:
                lines = response.iter_lines()  # kept: a dropped iterator closes the stream
                assert next(lines) == "go"
                opened.set()
                done.wait(30)

        thread = threading.Thread(target=follow)
        thread.start()
        try:
            assert opened.wait(10)
            wait_for(
                lambda: value(scrape(client), "flux_restful_stream_followers", kind="job") == 1
            )
            running = value(scrape(client), "flux_restful_jobs", state="RUN")
            assert running >= 1
        finally:
            done.set()
            thread.join(10)
            client.post(f"/v1/jobs/{job}/cancel")
        wait_for(lambda: value(scrape(client), "flux_restful_stream_followers", kind="job") == 0)


@pytest.fixture
def auth_server(server_factory: ServerFactory) -> Server:
    return server_factory(env=AUTH_ENV)


def test_metrics_need_a_superuser_when_auth_is_on(auth_server: Server) -> None:
    add(auth_server.state_dir, "bob", "bob-pass")
    with httpx.Client(base_url=auth_server.url, timeout=10) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", auth=("bob", "bob-pass")).status_code == 403
        samples = scrape(client, auth=("admin", "admin-pass"))
    labels = {"route": "/metrics", "method": "GET", "status": "401"}
    assert value(samples, "flux_restful_requests_total", **labels) == 1


def test_an_operator_can_open_metrics_to_scrapers(server_factory: ServerFactory) -> None:
    server = server_factory(env={**AUTH_ENV, "FLUX_METRICS_PUBLIC": "true"})
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/v1/jobs").status_code == 401
        assert value(scrape(client), "flux_restful_jobs", state="RUN") == 0
