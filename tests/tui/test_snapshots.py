"""Snapshots of every view at a fixed size, from static data with the clock frozen."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from flux_restful_client import JobInfo
from flux_restful_tui import DashboardApp
from flux_restful_tui.messages import ConnectionChanged, JobsListed

from .fake import FROZEN, StaticApi, sample_jobs

SIZE = (110, 32)


@pytest.fixture
def app(utc) -> DashboardApp:
    return DashboardApp(StaticApi().client(), clock=lambda: FROZEN, follow=False)


async def _settle(pilot: Pilot) -> None:
    for _ in range(3):
        await pilot.pause(0.1)
    await pilot.wait_for_scheduled_animations()
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    for area in pilot.app.screen.query(TextArea):
        area.cursor_blink = False


def loaded(*keys: str):
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        app.post_message(JobsListed([JobInfo.from_json(j) for j in sample_jobs()]))
        app.post_message(ConnectionChanged("live"))
        await _settle(pilot)
        if keys:
            await pilot.press(*keys)
        await _settle(pilot)

    return run_before


def test_jobs_view(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded("down", "space"))


def test_jobs_view_filtered(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded("slash", "s", "i", "m", "enter"))


def test_detail_view(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded("enter"))


def test_log_view(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded("l", "p", "t"))


def test_submit_form(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded("s", "h", "i"))


def test_cancel_confirmation(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded("space", "space", "c"))


def test_nodes_view(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded("n"))


def test_help(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded("question_mark"))


def test_server_unreachable(utc, snap_compare):
    app = DashboardApp(StaticApi().client(), clock=lambda: FROZEN, follow=False)

    async def run_before(pilot: Pilot) -> None:
        pilot.app.post_message(
            ConnectionChanged("reconnecting", "Could not reach the API: ConnectError: refused")
        )
        await _settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
