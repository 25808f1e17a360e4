"""The dashboard (Pilot) against the real upstream 1.1.0 server on Flux (`just test-flux`)."""

from __future__ import annotations

import pytest

from flux_restful_client import AsyncClient
from flux_restful_tui import DashboardApp
from flux_restful_tui.screens.log import LogScreen

from .conftest import FAST, until

pytestmark = [pytest.mark.flux, pytest.mark.xdist_group("real-upstream")]


async def test_jobs_and_log_views(real_upstream):
    creds = (
        {
            "user": real_upstream.user,
            "token": real_upstream.password,
            "secret_key": real_upstream.secret,
        }
        if real_upstream.auth
        else {}
    )
    async with AsyncClient(host=real_upstream.url, backoff=0.1, **creds) as client:
        app = DashboardApp(client, feed=FAST)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: app.connection == "polling", timeout=20)
            script = "for i in 1 2 3; do echo line $i; sleep 0.3; done; exit 4"
            job_id = await client.submit_job(["sh", "-c", script])
            await until(pilot, lambda: job_id in app.jobs_screen.table.row_ids(), timeout=20)
            app.open_log(job_id)
            await until(pilot, lambda: isinstance(app.screen, LogScreen))
            screen = app.screen
            assert isinstance(screen, LogScreen)
            await until(pilot, lambda: screen.follow_state == "ended", timeout=30)
            assert screen.log_view.total == 3 and "exit code 4" in screen.ended
            await until(pilot, lambda: app.store.jobs[job_id].result == "FAILED", timeout=20)
