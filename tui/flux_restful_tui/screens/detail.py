"""Job detail: the info fields, the eventlog as a timeline, and the job's webhook deliveries."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Label, Static

from flux_restful_client import FluxRestfulError, JobEvent, JobInfo, WebhookDelivery

from ..context import DashContext
from ..messages import CancelRequested, LogRequested
from ..store import format_runtime
from ..widgets.footer import KeysFooter
from ..widgets.formats import RESULT_STYLES, format_time, state_text

__all__ = ["JobDetailScreen", "deliveries_table", "info_table", "timeline"]

DELIVERY_STYLES = {"delivered": "green", "pending": "yellow", "failed": "red"}

FIELDS = (
    "id", "name", "user", "state", "pending_reason", "result", "returncode", "runtime",
    "ntasks", "ncores",
    "nnodes", "nodelist", "cwd", "queue", "urgency", "priority", "duration", "t_submit",
    "t_run", "t_cleanup", "t_inactive", "waitstatus", "exception",
)  # fmt: skip


def _value(key: str, value: Any, job: JobInfo, runtime: float | None) -> str | Text:
    if key == "state":
        return state_text(str(value))
    if key == "result":
        return Text(str(value), style=RESULT_STYLES.get(str(value), ""))
    if key == "runtime":
        return format_runtime(runtime)
    if key.startswith("t_"):
        return format_time(value if isinstance(value, int | float) else None)
    if key == "exception" and isinstance(value, dict):
        if not value.get("occurred"):
            return "none"
        kind, severity = value.get("type", ""), value.get("severity", "")
        return f"{kind} (severity {severity}): {value.get('note', '')}"
    return "" if value is None else str(value)


def info_table(job: JobInfo, runtime: float | None) -> Table:
    """Key/value table of a job's info."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key in FIELDS:
        if key == "pending_reason" and not job.pending_reason:
            continue  # shown only while the job waits (or could never run)
        if key in job.raw or key in ("id", "state"):
            table.add_row(key, _value(key, job.raw.get(key, getattr(job, key, "")), job, runtime))
    return table


def timeline(entries: list[JobEvent]) -> Table:
    """The eventlog as a vertical timeline with the delay from submit."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(style="bold")
    table.add_column(style="dim", justify="right")
    table.add_column()
    start = next((e.timestamp for e in entries if e.timestamp), None)
    for index, entry in enumerate(entries):
        when = time.strftime("%H:%M:%S", time.localtime(entry.timestamp)) if entry.timestamp else ""
        offset = f"+{entry.timestamp - start:.2f}s" if entry.timestamp and start is not None else ""
        glyph = "┬" if index == 0 else ("┴" if index == len(entries) - 1 else "├")
        context = " ".join(f"{k}={v}" for k, v in entry.context.items())
        table.add_row(when, glyph, entry.name, offset, context)
    return table


def deliveries_table(deliveries: list[WebhookDelivery]) -> Table:
    """A job's webhook deliveries, oldest first: event, status, attempts, last answer."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(style="dim", justify="right")
    table.add_column()
    for d in sorted(deliveries, key=lambda d: d.id):
        last = str(d.last_status_code) if d.last_status_code is not None else "-"
        note = f"{last} {d.last_error}" if d.last_error else last
        table.add_row(
            d.type.removeprefix("job."),
            Text(d.status, style=DELIVERY_STYLES.get(d.status, "")),
            f"×{d.attempts}",
            note,
        )
    return table


class JobDetailScreen(Screen[None]):
    """One job's info and eventlog.

    Built once and reused for every job opened (the app installs it): opening a job fills the
    few widgets from the store before the first frame, then fetches the full info and the
    eventlog in a worker once that frame is drawn.
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("l", "open_log", "Log"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, ctx: DashContext, job_id: int) -> None:
        super().__init__(id="detail-screen")
        self.ctx = ctx
        """The client, the store and the session."""
        self.job_id = job_id
        """The job shown."""
        self.job: JobInfo | None = None
        """Its latest info."""
        self.deliveries: list[WebhookDelivery] = []
        """Its webhook deliveries, as last shown."""

    def compose(self) -> ComposeResult:
        yield Label(id="detail-title", classes="title")
        with Horizontal(id="detail-body"):
            with VerticalScroll(id="detail-info-box"):
                yield Static(id="detail-info")
            with VerticalScroll(id="detail-events-box"):
                yield Label("Eventlog", classes="subtitle")
                yield Static(id="detail-events")
                yield Label("Webhook deliveries", id="detail-webhooks-title", classes="subtitle")
                yield Static(id="detail-webhooks")
        yield KeysFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "cancel" and self.ctx.read_only)

    def on_mount(self) -> None:
        self._fill()

    def show(self, job_id: int) -> None:
        """Show another job (before the screen is pushed again)."""
        self.job_id = job_id
        if self.is_mounted:
            self._fill()

    def _fill(self) -> None:
        """What the store knows now; the rest comes after the first frame."""
        self.job = None
        known = self.ctx.store.jobs.get(self.job_id)
        if known is not None:
            self.show_job(known)
        else:
            self.query_one("#detail-title", Label).update(f"Job {self.job_id}")
            self.query_one("#detail-info", Static).update("loading…")
        self.query_one("#detail-events", Static).update("loading…")
        self._show_deliveries([])
        for box in self.query(VerticalScroll):
            box.scroll_home(animate=False, immediate=True)

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self.action_reload)

    def action_reload(self) -> None:
        self.load()

    def action_open_log(self) -> None:
        self.post_message(LogRequested(self.job_id))

    def action_cancel(self) -> None:
        self.post_message(CancelRequested([self.job_id]))

    def job_changed(self, job: JobInfo) -> None:
        """The app saw this job change: show it and reload the eventlog."""
        self.show_job(job)
        self.load_events()

    def show_job(self, job: JobInfo) -> None:
        self.job = job
        self.query_one("#detail-title", Label).update(f"Job {job.id}  {job.name}")
        self.query_one("#detail-info", Static).update(info_table(job, self.ctx.store.runtime(job)))

    @work(exclusive=True, group="detail")
    async def load(self) -> None:
        job_id = self.job_id
        try:
            job = await self.ctx.client.get_job(job_id)
        except FluxRestfulError as exc:
            if job_id == self.job_id:
                self.query_one("#detail-info", Static).update(Text(str(exc), style="red"))
                self.notify(str(exc), title=f"Job {job_id}", severity="error")
            return
        if job_id != self.job_id:
            return
        self.show_job(job)
        await self._events()

    @work(exclusive=True, group="detail-events")
    async def load_events(self) -> None:
        await self._events()

    async def _events(self) -> None:
        job_id = self.job_id
        target = self.query_one("#detail-events", Static)
        try:
            entries = await self.ctx.client.get_job_events(job_id)
        except FluxRestfulError as exc:
            if job_id == self.job_id:
                target.update(Text(f"eventlog unavailable: {exc}", style="yellow"))
            return
        if job_id == self.job_id:
            target.update(timeline(entries) if entries else "no events yet")
        try:
            deliveries = await self.ctx.client.webhooks.for_job(job_id)
        except FluxRestfulError:  # another server, or webhooks are off: show nothing
            deliveries = []
        if job_id == self.job_id:
            self._show_deliveries(deliveries)

    def _show_deliveries(self, deliveries: list[WebhookDelivery]) -> None:
        """Show the job's webhook deliveries; the section is hidden when there are none."""
        self.deliveries = deliveries
        for widget in self.query("#detail-webhooks-title, #detail-webhooks"):
            widget.display = bool(deliveries)
        if deliveries:
            self.query_one("#detail-webhooks", Static).update(deliveries_table(deliveries))
