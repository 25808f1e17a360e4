"""The jobs view: counts, the live table, the filter line and the status bar."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input

from flux_restful_client import Identity, JobInfo

from ..context import DashContext
from ..messages import (
    CancelRequested,
    DetailRequested,
    LogRequested,
    NodesRequested,
    ReloadRequested,
    SubmitRequested,
    UrgencyRequested,
)
from ..store import QUICK_FILTERS
from ..widgets.footer import KeysFooter
from ..widgets.jobs_table import JobsTable
from ..widgets.state_counts import StateCounts
from ..widgets.status_bar import StatusBar

__all__ = ["JobsScreen"]

QUICK_KEYS = dict(zip("12345", QUICK_FILTERS, strict=True))


class JobsScreen(Screen[None]):
    """Every job the caller may see, updated live."""

    BINDINGS = [
        Binding("enter", "open_detail", "Detail"),
        Binding("l", "open_log", "Log"),
        Binding("s", "submit", "Submit"),
        Binding("c", "cancel", "Cancel"),
        Binding("h", "control('hold')", "Hold"),
        Binding("u", "control('release')", "Release"),
        Binding("p", "control('urgency')", "Urgency", show=False),
        Binding("n", "nodes", "Nodes"),
        Binding("slash", "filter", "Filter"),
        Binding("o", "sort", "Sort"),
        Binding("O", "reverse", "Reverse", show=False),
        Binding("m", "mine", "Mine/all", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        *(
            Binding(key, f"quick('{name}')", name.capitalize(), show=False)
            for key, name in QUICK_KEYS.items()
        ),
    ]

    def __init__(self, ctx: DashContext) -> None:
        super().__init__(id="jobs-screen")
        self.ctx = ctx
        """The client, the store and the session."""
        store = ctx.store
        self._sort_cycle = ["id", "name", "user", "state", "runtime", "submitted"]
        self.counts = StateCounts(id="counts")
        """Counts by state (header)."""
        self.table = JobsTable(store, id="jobs")
        """The jobs."""
        self.status = StatusBar(id="status")
        """Server, user and connection."""
        self.connection = "connecting"
        self.identity: Identity | None = None
        """Who the server takes the client for (``/v1/me``), once known; ``None`` before, and
        against servers without ``/v1/me``."""
        """The link to the server, as the app last told it (shown in the status bar)."""

    def compose(self) -> ComposeResult:
        yield self.counts
        yield Input(
            placeholder="filter: regex, ! to invert (enter to apply, esc to clear)", id="filter"
        )
        yield self.table
        yield self.status
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        status = self.status
        status.server = self.ctx.client.host
        status.user = self.ctx.user
        status.read_only = self.ctx.read_only
        status.connection = self.connection
        self.table.focus()
        self.refresh_counts()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("submit", "cancel", "control") and self.ctx.read_only:
            return False
        if action == "mine" and self.identity is not None and not self.identity.superuser:
            return False  # a user sees only their own jobs: "all" would show the same
        return True

    # -- content -----------------------------------------------------------------------------
    def refresh_counts(self) -> None:
        counts = self.counts
        counts.counts = self.ctx.store.counts()
        counts.shown = self.table.row_count
        counts.hidden = self.table.hidden
        f = self.ctx.store.filter
        words = []
        if f.quick != "all":
            words.append(f.quick)
        if f.user:
            words.append(f"user {f.user}")
        if f.pattern:
            words.append(f"/{f.pattern}")
        sort = f"sort {self.ctx.store.sort_key}{' ↓' if self.ctx.store.sort_reverse else ' ↑'}"
        counts.describe = " ".join([*words, sort])

    def rebuild(self) -> None:
        """Redraw every row from the store."""
        self.table.rebuild()
        self.refresh_counts()

    def jobs_changed(self, jobs: Iterable[JobInfo]) -> None:
        """Some jobs changed (the store holds them already): redraw their rows if in view."""
        self.table.update_jobs(jobs)
        self.refresh_counts()

    def tick(self) -> None:
        self.table.tick()

    # -- actions -----------------------------------------------------------------------------
    def action_open_detail(self) -> None:
        job_id = self.table.current_job_id
        if job_id is not None:
            self.post_message(DetailRequested(job_id))

    def action_open_log(self) -> None:
        job_id = self.table.current_job_id
        if job_id is not None:
            self.post_message(LogRequested(job_id))

    def action_submit(self) -> None:
        self.post_message(SubmitRequested())

    def action_cancel(self) -> None:
        self.post_message(CancelRequested(list(self.table.selection())))

    def action_control(self, action: str) -> None:
        """Hold, release or set the urgency of the marked jobs (or the current one)."""
        self.post_message(UrgencyRequested(list(self.table.selection()), action))

    def action_nodes(self) -> None:
        self.post_message(NodesRequested())

    def action_refresh(self) -> None:
        self.post_message(ReloadRequested())

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.ctx.store.filter.pattern
        box.focus()

    def action_quick(self, name: str) -> None:
        self.set_filter(replace(self.ctx.store.filter, quick=name))

    def action_mine(self) -> None:
        f = self.ctx.store.filter
        me = self.identity.user if self.identity is not None else None
        self.set_filter(replace(f, user=None if f.user else (me or self.ctx.user or None)))

    def action_sort(self, column: str | None = None) -> None:
        store = self.ctx.store
        if column is None:
            index = (
                self._sort_cycle.index(store.sort_key) if store.sort_key in self._sort_cycle else -1
            )
            column = self._sort_cycle[(index + 1) % len(self._sort_cycle)]
            store.set_sort(column, store.sort_reverse)
        else:
            reverse = not store.sort_reverse if column == store.sort_key else store.sort_reverse
            store.set_sort(column, reverse)
        self.rebuild()

    def action_reverse(self) -> None:
        store = self.ctx.store
        store.set_sort(store.sort_key, not store.sort_reverse)
        self.rebuild()

    def set_filter(self, new: object) -> bool:
        from ..store import JobFilter

        assert isinstance(new, JobFilter)
        try:
            self.ctx.store.set_filter(new)
        except re.error as exc:
            self.notify(f"Invalid filter {new.pattern!r}: {exc}", severity="error")
            return False
        self.rebuild()
        return True

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        if self.set_filter(replace(self.ctx.store.filter, pattern=event.value)):
            event.input.display = False
            self.table.focus()

    @on(Input.Changed, "#filter")
    def _live_filter(self, event: Input.Changed) -> None:
        try:
            self.ctx.store.set_filter(replace(self.ctx.store.filter, pattern=event.value))
        except re.error:
            return  # finish typing; enter reports the error
        self.rebuild()

    def on_key(self, event: object) -> None:
        from textual.events import Key

        assert isinstance(event, Key)
        box = self.query_one("#filter", Input)
        if event.key == "escape" and box.has_focus:
            box.value = ""
            self.set_filter(replace(self.ctx.store.filter, pattern=""))
            box.display = False
            self.table.focus()
            event.stop()

    @on(JobsTable.MarksChanged)
    def _marks(self, event: JobsTable.MarksChanged) -> None:
        self.status.marked = len(event.marked)

    @on(JobsTable.SortRequested)
    def _sort(self, event: JobsTable.SortRequested) -> None:
        self.action_sort(event.column)

    @on(JobsTable.RowSelected)
    def _row_selected(self, event: JobsTable.RowSelected) -> None:
        self.action_open_detail()
