"""The dashboard against an upstream-shaped 1.1.0 server (Pilot): the jobs view polls the
listing (no event feed there), the log view follows ``/output/stream`` (no frame stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from flux_restful_client import AsyncClient
from flux_restful_tui import DashboardApp
from flux_restful_tui.screens.log import LogScreen
from tests.upstream_shaped import UpstreamShapedServer

from .conftest import FAST, until

SIZE = (120, 36)


@pytest.fixture(params=["noauth", "auth"])
async def upstream_client(request) -> AsyncIterator[tuple[UpstreamShapedServer, AsyncClient]]:
    server = UpstreamShapedServer(auth=request.param == "auth").start()
    creds = (
        {"user": "fluxuser", "token": "12345", "secret_key": "notsecrethoo"} if server.auth else {}
    )
    async with AsyncClient(host=server.url, backoff=0.1, attempts=3, **creds) as client:
        yield server, client
    server.stop()


async def test_jobs_view_polls_the_listing(upstream_client):
    server, client = upstream_client
    app = DashboardApp(client, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection == "polling")
        job_id = await client.submit_job(["sh", "-c", "sleep 0.5; exit 3"])
        await until(pilot, lambda: job_id in app.jobs_screen.table.row_ids())
        await until(pilot, lambda: app.store.jobs[job_id].result == "FAILED")
        assert app.jobs_screen.table.cell(job_id, "rc").strip() == "3"
        assert app.connection == "polling"
    assert not any(r.path == "/v1/events" for r in server.requests)  # it knew not to ask


async def test_log_view_follows_the_chunked_output_stream(upstream_client):
    server, client = upstream_client
    script = "for i in 1 2 3; do echo line $i; sleep 0.3; done"
    job_id = await client.submit_job(["sh", "-c", script])
    app = DashboardApp(client, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: job_id in app.store.jobs)
        app.open_log(job_id)
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        assert isinstance(screen, LogScreen)
        await until(pilot, lambda: screen.follow_state == "ended")
        assert screen.log_view.total == 3
        assert "exit code 0" in screen.ended
    assert any(r.path == f"/v1/jobs/{job_id}/output/stream" for r in server.requests)
