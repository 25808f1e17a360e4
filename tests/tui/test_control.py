"""The dashboard's hold, release and urgency keys, and pending reasons, against a real server."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import Button, Input, Label

from flux_restful_client import AsyncClient
from flux_restful_tui import DashboardApp
from flux_restful_tui.screens.confirm import ConfirmScreen
from flux_restful_tui.screens.detail import info_table
from flux_restful_tui.screens.urgency import UrgencyScreen, parse_urgency

from .conftest import FAST, until

SIZE = (140, 36)


def cell(app: DashboardApp, job_id: int, column: str) -> str:
    table = app.jobs_screen.table
    return table.cell(job_id, column).strip() if job_id in table.store.jobs else ""


def urgency(app: DashboardApp, job_id: int) -> int | None:
    job = app.store.jobs.get(job_id)
    return job.urgency if job else None


async def test_hold_release_and_urgency_keys_are_confirmed(aclient: AsyncClient):
    gate = await aclient.submit_job(["sleep", "120"], urgency=0, name="gate")
    job = await aclient.submit_job(["true"], dependency=f"after:{gate}", name="waiter")
    app = DashboardApp(aclient, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: job in app.jobs_screen.table.row_ids())
        assert cell(app, gate, "name") == "gate · held (urgency 0)"
        assert cell(app, job, "name").startswith("waiter · waiting on after:ƒ")
        assert app.jobs_screen.table.select_job(job)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # declined: nothing changes
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert (await aclient.get_job(job)).urgency == 16
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: urgency(app, job) == 0)
        assert (await aclient.get_job(job)).urgency == 0
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: urgency(app, job) == 16)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, UrgencyScreen))
        field = app.screen.query_one("#urgency-value", Input)
        assert field.value == "16"  # starts from the job's urgency
        question = app.screen.query_one("#urgency-question")
        dialog = app.screen.query_one("#urgency-dialog")
        # the whole question shows, wrapped inside the dialog (it was cut at the border)
        assert question.outer_size.width <= dialog.content_size.width
        assert question.size.height > 1
        field.value = "99"
        await pilot.press("enter")
        assert isinstance(app.screen, UrgencyScreen)  # refused in the dialog: not an urgency
        field.value = "4"
        await pilot.press("enter")
        await until(pilot, lambda: urgency(app, job) == 4)
        assert (await aclient.get_job(job)).urgency == 4
        # The gate is held: releasing it from the table lets both run.
        assert app.jobs_screen.table.select_job(gate)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: cell(app, job, "result") == "COMPLETED", timeout=30)
        assert cell(app, job, "name") == "waiter"
        await aclient.cancel_job(gate)


async def test_refusals_are_notifications_and_the_detail_shows_the_reason(aclient: AsyncClient):
    running = await aclient.submit_job(["sleep", "120"], name="busy")
    held = await aclient.submit_job(["true"], urgency=0, name="parked")
    app = DashboardApp(aclient, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: cell(app, running, "state") == "RUN", timeout=30)
        assert app.jobs_screen.table.select_job(running)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: any("RUN" in str(n.message) for n in app._notifications))
        assert app.screen is app.jobs_screen  # the app lives on
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(info_table(app.store.jobs[held], None))
        lines = [" ".join(line.split()) for line in console.export_text().splitlines()]
        assert "pending_reason held (urgency 0)" in lines
        await aclient.cancel_jobs(ids=[running, held])


async def _asked(pilot, app: DashboardApp, key: str) -> tuple[str, str]:
    """Press ``key``, read the confirmation as the user does (question, button), decline it."""
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    question = str(app.screen.query_one("#confirm-question", Label).render())
    label = str(app.screen.query_one("#confirm-yes", Button).label)
    await pilot.press("n")
    await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
    return question, label


async def test_confirmations_name_the_job_or_the_count(aclient: AsyncClient):
    ids = [await aclient.submit_job(["true"], urgency=0, name=f"parked-{n}") for n in range(3)]
    app = DashboardApp(aclient, feed=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: set(ids) <= set(app.jobs_screen.table.row_ids()))
        one = ids[0]
        assert app.jobs_screen.table.select_job(one)
        assert await _asked(pilot, app, "c") == (f"Cancel job {one}?", "Cancel job")
        assert await _asked(pilot, app, "h") == (
            f"Hold job {one}? It stays queued until released.",
            "Hold job",
        )
        assert await _asked(pilot, app, "u") == (f"Release job {one}?", "Release job")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, UrgencyScreen))
        asked = str(app.screen.query_one("#urgency-question", Label).render())
        assert asked.startswith(f"Urgency of job {one}: 0-31")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.jobs_screen)
        for job_id in ids:
            assert app.jobs_screen.table.select_job(job_id)
            await pilot.press("space")
        await until(pilot, lambda: app.jobs_screen.table.marks == set(ids))
        listed = ", ".join(map(str, sorted(ids)))
        assert await _asked(pilot, app, "c") == (f"Cancel 3 jobs ({listed})?", "Cancel jobs")
        assert await _asked(pilot, app, "u") == (f"Release 3 jobs ({listed})?", "Release jobs")
        assert [(await aclient.get_job(i)).urgency for i in ids] == [0, 0, 0]  # all declined
    await aclient.cancel_jobs(ids=ids)


def test_urgency_words():
    assert [parse_urgency(t) for t in ("0", "31", " Hold ", "default", "expedite")] == [
        0, 31, 0, 16, 31,
    ]  # fmt: skip
    assert parse_urgency("32") is None and parse_urgency("-1") is None
    assert parse_urgency("soon") is None
