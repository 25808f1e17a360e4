"""The dashboard's job detail screen shows the job's webhook deliveries (live server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from textual.widgets import Static

from flux_restful_client import AsyncClient
from flux_restful_tui import DashboardApp
from flux_restful_tui.screens.detail import JobDetailScreen
from tests.conftest import Server, wait_for
from tests.webhook_receiver import hooked_server, receiver

from .conftest import FAST, until

pytestmark = pytest.mark.xdist_group("tui-webhooks")


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from hooked_server(tmp_path_factory.mktemp("tuiwh"))


@pytest.fixture
async def hooked_client(hooked: Server) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(host=hooked.url) as client:
        yield client


async def test_detail_screen_and_web_page_show_deliveries(
    hooked: Server, hooked_client: AsyncClient
) -> None:
    with receiver() as rec:
        job_id = await hooked_client.submit_job("true", name="hooked", webhook_url=rec.url)
        rec.wait(3)

        def all_delivered() -> bool:
            found = httpx.get(f"{hooked.url}/v1/webhooks/deliveries", params={"job_id": job_id})
            return [d["status"] for d in found.json()["deliveries"]] == ["delivered"] * 3

        wait_for(all_delivered)
    page = httpx.get(f"{hooked.url}/job/{job_id}").text
    assert "Webhook deliveries" in page and page.count("delivery-delivered") == 3
    plain = await hooked_client.submit_job("true", name="plain")
    assert "Webhook deliveries" not in httpx.get(f"{hooked.url}/job/{plain}").text
    app = DashboardApp(hooked_client, feed=FAST)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: job_id in app.store.jobs)
        app.open_detail(job_id)
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        screen = app.screen
        assert isinstance(screen, JobDetailScreen)
        await until(pilot, lambda: len(screen.deliveries) == 3)
        assert [d.type for d in screen.deliveries] == [
            "job.submitted",
            "job.started",
            "job.finished",
        ]
        assert screen.query_one("#detail-webhooks", Static).display
