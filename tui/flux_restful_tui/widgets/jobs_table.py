"""The live jobs table: one row per job, coloured states, multi-select, ticking runtimes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from flux_restful_client import JobInfo

from ..store import RUNNING_STATES, JobStore, format_runtime

__all__ = ["COLUMNS", "JobsTable", "format_time", "state_text"]

COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("sel", " ", 1),
    ("id", "ID", 9),
    ("name", "Name", 16),
    ("user", "User", 10),
    ("state", "State", 9),
    ("result", "Result", 10),
    ("rc", "RC", 4),
    ("tasks", "Tasks/Nodes", 11),
    ("runtime", "Runtime", 9),
    ("submitted", "Submitted", 14),
)
"""Column key, label and width."""

MAX_ROWS = 500
"""Rows drawn at most: Textual's DataTable measures every row on each rebuild, so a 10,000-job
listing is kept in the store and the table shows the first ``MAX_ROWS`` in the current order
(filters narrow it; the header says how many are hidden)."""

STATE_STYLES = {
    "DEPEND": "magenta",
    "PRIORITY": "magenta",
    "SCHED": "yellow",
    "RUN": "bold green",
    "CLEANUP": "cyan",
    "INACTIVE": "dim",
}
RESULT_STYLES = {"COMPLETED": "green", "FAILED": "bold red", "CANCELED": "yellow", "TIMEOUT": "red"}


def state_text(state: str) -> Text:
    """A state name in its colour."""
    return Text(state, style=STATE_STYLES.get(state, ""))


def format_time(t: float | None) -> str:
    """Epoch seconds as local ``YYYY-MM-DD HH:MM`` (``""`` when unknown)."""
    if not t:
        return ""
    return time.strftime("%m-%d %H:%M:%S", time.localtime(t))


def _dash(value: object) -> str:
    return "-" if value in (None, "") else str(value)


class JobsTable(DataTable[str | Text]):
    """Jobs, newest first; ``space`` marks rows for bulk actions."""

    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", show=True),
        Binding("ctrl+a", "mark_all", "Mark all", show=False),
        Binding("escape", "clear_marks", "Unmark", show=False),
    ]

    @dataclass
    class MarksChanged(Message):
        """The set of marked jobs changed."""

        marked: frozenset[int]
        """Ids of the marked jobs."""

    @dataclass
    class SortRequested(Message):
        """A column header was clicked."""

        column: str
        """Column key."""

    def __init__(self, store: JobStore, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.store = store
        """Where rows come from."""
        self.marks: set[int] = set()
        """Jobs marked with ``space``."""
        self._ticking: set[int] = set()
        self.hidden = 0
        """Rows that pass the filter but are beyond ``MAX_ROWS``."""
        self._newest = 0

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        self.rebuild()

    # -- rows --------------------------------------------------------------------------------
    def cells(self, job: JobInfo) -> list[str | Text]:
        """The row of ``job`` (runtime brought up to now)."""
        raw = job.raw
        tasks = raw.get("ntasks")
        nodes = raw.get("nnodes")
        rc = "" if job.returncode is None else str(job.returncode)
        return [
            Text("●", style="bold yellow") if job.id in self.marks else " ",
            str(job.id),
            job.name,
            job.user or "",
            state_text(job.state),
            Text(job.result, style=RESULT_STYLES.get(job.result, "")),
            Text(rc, style="red" if job.returncode else ""),
            f"{_dash(tasks)}/{_dash(nodes)}",
            format_runtime(self.store.runtime(job)),
            format_time(job.t_submit),
        ]

    def rebuild(self) -> None:
        """Show the store's visible rows, keeping the cursor on the same job."""
        if not self.columns:
            return  # not mounted yet: on_mount rebuilds
        current = self.current_job_id
        self.clear()
        rows = self.store.visible()
        self.hidden = max(0, len(rows) - MAX_ROWS)
        rows = rows[:MAX_ROWS]
        self._newest = max((job.id for job in rows), default=0)
        self._ticking = {job.id for job in rows if job.state in RUNNING_STATES}
        for job in rows:
            self.add_row(*self.cells(job), key=str(job.id))
        if current is not None:
            self.select_job(current)

    def update_jobs(self, jobs: Iterable[JobInfo]) -> bool:
        """Update rows in place; return ``False`` when a rebuild is needed (new or filtered)."""
        if not self.columns:
            return True
        for job in jobs:
            visible = self.store.matches(job)
            present = str(job.id) in self.rows
            if visible and not present and self.row_count >= MAX_ROWS:
                store = self.store
                if store.sort_key == "id" and store.sort_reverse and job.id > self._newest:
                    return False  # a new job goes on top
                continue
            if visible != present:
                return False
            if not present:
                continue
            for (key, _, _), value in zip(COLUMNS, self.cells(job), strict=True):
                try:
                    self.update_cell(str(job.id), key, value)
                except (CellDoesNotExist, RowDoesNotExist):
                    return False
            if job.state in RUNNING_STATES:
                self._ticking.add(job.id)
            else:
                self._ticking.discard(job.id)
        return True

    def tick(self) -> None:
        """Advance the runtime of running jobs."""
        for job_id in list(self._ticking):
            job = self.store.jobs.get(job_id)
            if job is None or job.state not in RUNNING_STATES:
                self._ticking.discard(job_id)
                continue
            try:
                self.update_cell(str(job_id), "runtime", format_runtime(self.store.runtime(job)))
            except (CellDoesNotExist, RowDoesNotExist):
                self._ticking.discard(job_id)

    # -- cursor and marks --------------------------------------------------------------------
    @property
    def current_job_id(self) -> int | None:
        """Job under the cursor."""
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except (CellDoesNotExist, RowDoesNotExist):
            return None
        return int(key) if key is not None else None

    def select_job(self, job_id: int) -> bool:
        """Move the cursor to ``job_id``; return whether it is shown."""
        try:
            index = self.get_row_index(str(job_id))
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index)
        return True

    def selection(self) -> list[int]:
        """Marked jobs, or the one under the cursor."""
        if self.marks:
            return sorted(self.marks)
        current = self.current_job_id
        return [] if current is None else [current]

    def _mark_cell(self, job_id: int) -> None:
        try:
            self.update_cell(
                str(job_id),
                "sel",
                Text("●", style="bold yellow") if job_id in self.marks else " ",
            )
        except (CellDoesNotExist, RowDoesNotExist):
            pass

    def action_toggle_mark(self) -> None:
        job_id = self.current_job_id
        if job_id is None:
            return
        self.marks.symmetric_difference_update({job_id})
        self._mark_cell(job_id)
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)
        self.post_message(self.MarksChanged(frozenset(self.marks)))

    def action_mark_all(self) -> None:
        self.marks = {int(str(key.value)) for key in self.rows}
        self.rebuild()
        self.post_message(self.MarksChanged(frozenset(self.marks)))

    def action_clear_marks(self) -> None:
        old = self.marks
        self.marks = set()
        for job_id in old:
            self._mark_cell(job_id)
        self.post_message(self.MarksChanged(frozenset()))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if event.column_key.value and event.column_key.value != "sel":
            self.post_message(self.SortRequested(event.column_key.value))
