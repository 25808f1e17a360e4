"""The dashboard against a real server with real jobs (Pilot)."""

from __future__ import annotations

from textual.widgets import Static

from flux_restful_client import AsyncClient
from flux_restful_tui import DashboardApp
from flux_restful_tui.screens.confirm import ConfirmScreen
from flux_restful_tui.screens.log import LogScreen
from flux_restful_tui.screens.submit import SubmitScreen
from flux_restful_tui.screens.unreachable import UnreachableScreen

from .conftest import FAST, until
from .fake import StaticApi

SIZE = (120, 36)


def keys(text: str) -> list[str]:
    names = {" ": "space", ">": "greater_than_sign", "&": "ampersand", ";": "semicolon"}
    return [names.get(c, c) for c in text]


def row_state(app: DashboardApp, job_id: int) -> str:
    job = app.store.jobs.get(job_id)
    return job.state if job else ""


def table_cell(app: DashboardApp, job_id: int, column: str) -> str:
    table = app.jobs_screen.table
    return table.cell(job_id, column).strip() if job_id in table.store.jobs else ""


async def test_table_follows_a_job_through_its_states_over_the_feed(aclient: AsyncClient):
    app = DashboardApp(aclient, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection == "live")
        job_id = await aclient.submit_job(["sh", "-c", "sleep 1.5; exit 3"], name="worker")
        await until(pilot, lambda: job_id in app.jobs_screen.table.row_ids())
        await until(pilot, lambda: table_cell(app, job_id, "state") == "RUN")
        await until(pilot, lambda: table_cell(app, job_id, "result") == "FAILED")
        assert table_cell(app, job_id, "rc") == "3"
        assert table_cell(app, job_id, "name") == "worker"
        assert app.connection == "live"  # the feed did it: no fallback to polling


async def test_log_view_receives_lines_while_the_job_runs(aclient: AsyncClient, tmp_path):
    # The job ends only once the test has seen its lines arrive live (never on a timer).
    go = tmp_path / "go"
    script = (
        f"for i in 1 2 3 4; do echo line $i; done; while [ ! -e {go} ]; do sleep 0.05; done; "
        "echo oops >&2"
    )
    job_id = await aclient.submit_job(["sh", "-c", script], name="talker")
    app = DashboardApp(aclient, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: job_id in app.store.jobs)
        app.open_log(job_id)
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        assert isinstance(screen, LogScreen)
        await until(pilot, lambda: screen.log_view.total >= 1)
        assert screen.follow_state == "live"  # lines arrive before the job ended
        go.touch()
        await until(pilot, lambda: screen.follow_state == "ended")
        lines = screen.log_view.lines()
        assert [ln.data.strip() for ln in lines] == ["line 1", "line 2", "line 3", "line 4", "oops"]
        assert lines[-1].stream == "stderr"
        assert "COMPLETED" in screen.ended
        # the search keeps only matching lines
        screen.log_view.set_search("line [23]")
        assert screen.log_view.matches() == 2


async def test_submit_from_the_form_then_cancel_with_confirmation(aclient: AsyncClient):
    app = DashboardApp(aclient, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection == "live")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        await pilot.press(*keys("sleep 60"))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        assert isinstance(screen, LogScreen)
        job_id = screen.job_id
        assert app.jobs_screen.table.current_job_id == job_id  # the new job is selected
        await until(pilot, lambda: row_state(app, job_id) == "RUN")
        await pilot.press("escape")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: table_cell(app, job_id, "result") == "CANCELED")


async def test_server_validation_is_shown_at_the_field(aclient: AsyncClient):
    app = DashboardApp(aclient, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        screen = app.screen
        await pilot.press(*keys("hostname"))
        screen.query_one("#field-num-nodes").value = "5"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        error = screen.query_one("#error-num-nodes", Static)
        await until(pilot, lambda: "you requested 5" in str(error.render()))
        assert isinstance(app.screen, SubmitScreen)  # still open, nothing submitted
        assert await aclient.list_jobs() == []


async def test_filters_quick_filters_and_invalid_regex(aclient: AsyncClient):
    running = await aclient.submit_job("sleep 30", name="keepme")
    done = await aclient.submit_job("true", name="quick")
    await aclient.wait(done, timeout=10)
    app = DashboardApp(aclient, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        table = app.jobs_screen.table
        await until(pilot, lambda: table.row_count == 2 and row_state(app, running) == "RUN")
        await pilot.press("slash", *keys("keep"), "enter")
        assert table.row_ids() == [running]
        await pilot.press("slash", "ctrl+u", *keys("!keep"), "enter")
        assert table.row_ids() == [done]
        await pilot.press("slash", "ctrl+u", "enter")
        await pilot.press("3")  # running
        assert table.row_ids() == [running]
        await pilot.press("4")  # done
        assert table.row_ids() == [done]
        await pilot.press("1")
        await pilot.press("slash", *keys("(["), "enter")
        await pilot.pause()
        assert any("Invalid filter" in n.message for n in app._notifications)
        assert table.row_count == 2  # the old filter stays


async def test_survives_a_server_restart_and_resumes(server, aclient: AsyncClient):
    app = DashboardApp(aclient, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection == "live")
        server.stop()
        await until(pilot, lambda: app.connection == "reconnecting", timeout=15)
        server.restart()
        await until(pilot, lambda: app.connection == "live", timeout=20)
        job_id = await aclient.submit_job("true", name="after-restart")
        await until(pilot, lambda: job_id in app.jobs_screen.table.row_ids())
        await until(pilot, lambda: table_cell(app, job_id, "result") == "COMPLETED")


async def test_server_down_at_start_shows_a_retrying_screen(server_factory):
    server = server_factory(args=["--cores-per-node", "2"], start=False)
    async with AsyncClient(host=server.url, attempts=1, backoff=0.05) as client:
        app = DashboardApp(client, feed=FAST)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, UnreachableScreen))
            assert server.url in str(app.screen.query_one("#unreachable-title").render())
            server.start()
            await until(pilot, lambda: app.screen is app.jobs_screen, timeout=15)
            await until(pilot, lambda: app.connection == "live")


async def test_read_only_hides_every_action(aclient: AsyncClient):
    job_id = await aclient.submit_job("sleep 30")
    app = DashboardApp(aclient, feed=FAST, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: job_id in app.jobs_screen.table.row_ids())
        await pilot.press("s")
        await pilot.press("c")
        await pilot.pause()
        assert app.screen is app.jobs_screen
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        assert "submit" not in shown and "cancel" not in shown
        assert (await aclient.get_job(job_id)).state == "RUN"


async def test_polls_with_backoff_when_the_server_has_no_feed():
    api = StaticApi()
    client = api.client()
    app = DashboardApp(client, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection == "polling")
        assert app.jobs_screen.table.row_count == 6
        api.jobs[1006]["state"] = "RUN"
        await until(pilot, lambda: row_state(app, 1006) == "RUN", timeout=5)
    await client.aclose()
