"""The live jobs table: a virtual view over the store's sorted rows (only visible lines drawn).

Textual's ``DataTable`` measures and stores every row, so rebuilding it for 10,000 jobs takes
seconds. This widget keeps no rows of its own: ``render_line`` asks the store for the job at
``scroll_y + y`` and draws it, so an event, a keypress or a scroll costs the height of the
window, whatever the number of jobs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from flux_restful_client import JobInfo

from ..store import RUNNING_STATES, JobStore, format_runtime
from .formats import RESULT_STYLES, cached_style, format_time, state_style

__all__ = ["COLUMNS", "JobsTable"]

COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("sel", " ", 1),
    ("id", "ID", 20),  # a 64-bit job id has up to 20 digits: never cut one short
    ("name", "Name", None),
    ("user", "User", 10),
    ("state", "State", 9),
    ("result", "Result", 10),
    ("rc", "RC", 4),
    ("tasks", "Tasks/Nodes", 11),
    ("runtime", "Runtime", 9),
    ("submitted", "Submitted", 14),
)
"""Column key, label and width (``None``: takes the room left, at least ``NAME_MIN``)."""

NAME_MIN = 8
"""Narrowest the flexible name column gets."""


def _dash(value: object) -> str:
    return "-" if value in (None, "") else str(value)


def _fit(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)


class JobsTable(ScrollView, can_focus=True):
    """Jobs in the store's order (newest first); ``space`` marks rows for bulk actions."""

    DEFAULT_CSS = """
    JobsTable {
        height: 1fr;
        overflow-x: hidden;
        background: $surface;
        color: $foreground;
        &:focus { background-tint: $foreground 5%; }
        & > .jobs-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .jobs-table--even-row { background: $surface-lighten-1 50%; }
        &:dark > .jobs-table--even-row { background: $surface-darken-1 40%; }
        & > .jobs-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .jobs-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .jobs-table--mark { color: $warning; text-style: bold; }
        & > .jobs-table--reason { color: $text-muted; text-style: italic; }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "jobs-table--header",
        "jobs-table--even-row",
        "jobs-table--cursor",
        "jobs-table--mark",
        "jobs-table--reason",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
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

    @dataclass
    class RowSelected(Message):
        """The row under the cursor was clicked again (open it)."""

        job_id: int
        """The job of the row."""

    def __init__(self, store: JobStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        """Where rows come from (the store keeps them filtered and sorted)."""
        self.marks: set[int] = set()
        """Jobs marked with ``space``."""
        self.hidden = 0
        """Rows that pass the filter but are not drawn: always 0 (every row can be shown)."""
        self._cursor_id: int | None = None
        self._cursor_row = 0
        self._styles: dict[str, Style] = {}

    def on_mount(self) -> None:
        self.rebuild()

    # -- rows --------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        """Rows that pass the filter (all of them are reachable by scrolling)."""
        return self.store.row_count()

    def row_ids(self) -> list[int]:
        """Ids of every row, in display order."""
        return self.store.row_ids()

    def cell_values(self, job: JobInfo) -> dict[str, tuple[str, Style]]:
        """The row of ``job``: text and style per column (runtime brought up to now)."""
        raw = job.raw
        rc = "" if job.returncode is None else str(job.returncode)
        mark = job.id in self.marks
        return {
            "sel": ("●" if mark else " ", self._styles.get("mark", Style()) if mark else Style()),
            "id": (str(job.id), Style()),
            "name": (
                f"{job.name} · {job.pending_reason}" if job.pending_reason else job.name,
                self._styles.get("reason", cached_style("italic"))
                if job.pending_reason
                else Style(),
            ),
            "user": (job.user or "", Style()),
            "state": (job.state, state_style(job.state)),
            "result": (job.result, cached_style(RESULT_STYLES.get(job.result, ""))),
            "rc": (rc, cached_style("red") if job.returncode else Style()),
            "tasks": (f"{_dash(raw.get('ntasks'))}/{_dash(raw.get('nnodes'))}", Style()),
            "runtime": (format_runtime(self.store.runtime(job)), Style()),
            "submitted": (format_time(job.t_submit), Style()),
        }

    def cell(self, job_id: int, column: str) -> str:
        """The text shown in a cell (``KeyError`` for an unknown job or column)."""
        return self.cell_values(self.store.jobs[job_id])[column][0]

    def rebuild(self) -> None:
        """The store's rows changed wholesale (listing, filter, sort): resize and redraw."""
        self._sync()
        self.refresh()

    def update_jobs(self, jobs: Iterable[JobInfo]) -> bool:
        """Some jobs changed (the store already holds them): redraw if any is in view.

        Returns:
            Always ``True``: the table never needs a rebuild for an event.
        """
        old_rows = self.virtual_size.height - 1
        previous_row = self._cursor_row
        self._sync()
        top = int(self.scroll_y)
        bottom = top + max(1, self.scrollable_content_region.height - 1)
        if self.row_count != old_rows or self._cursor_row != previous_row:
            self.refresh()
            return True
        for job in jobs:
            index = self.store.row_index(job.id)
            if index is not None and top <= index < bottom:
                self.refresh()
                break
        return True

    def tick(self) -> None:
        """Advance the runtime of running jobs in view."""
        top = int(self.scroll_y)
        ids = self.store.row_ids(top, top + self.scrollable_content_region.height)
        jobs = self.store.jobs
        if any(jobs[i].state in RUNNING_STATES for i in ids if i in jobs):
            self.refresh()

    def _sync(self) -> None:
        """Keep the cursor on its job (or its row if the job left), and the view around it."""
        count = self.row_count
        width = self.scrollable_content_region.width or self.size.width
        self.virtual_size = Size(max(1, width), count + 1)
        if count == 0:
            self._cursor_id, self._cursor_row = None, 0
            return
        index = None if self._cursor_id is None else self.store.row_index(self._cursor_id)
        if index is None:
            index = min(self._cursor_row, count - 1)
            self._cursor_id = self.store.row_id(index)
        was_visible = self._row_in_view(self._cursor_row)
        self._cursor_row = index
        if was_visible:
            self._scroll_to_cursor()

    # -- drawing -----------------------------------------------------------------------------
    def _layout(self, width: int) -> list[tuple[str, str, int, int]]:
        """Columns as (key, label, x, width) for a line ``width`` cells wide."""
        fixed = sum(w for _, _, w in COLUMNS if w is not None) + len(COLUMNS) + 1
        flex = max(NAME_MIN, width - fixed)
        out = []
        x = 1
        for key, label, w in COLUMNS:
            size = flex if w is None else w
            out.append((key, label, x, size))
            x += size + 1
        return out

    def render_lines(self, crop: Region) -> list[Strip]:
        self._styles = {
            "base": self.rich_style,
            "header": self.get_component_rich_style("jobs-table--header"),
            "even": self.get_component_rich_style("jobs-table--even-row"),
            "cursor": self.get_component_rich_style("jobs-table--cursor"),
            "mark": self.get_component_rich_style("jobs-table--mark", partial=True),
            "reason": self.get_component_rich_style("jobs-table--reason", partial=True),
        }
        return super().render_lines(crop)

    def _strip(self, cells: list[tuple[str, Style]], base: Style, width: int) -> Strip:
        segments = [Segment(" ", base)]
        for (text, style), (_, _, _, size) in zip(cells, self._layout(width), strict=True):
            segments.append(Segment(_fit(text, size), base + style))
            segments.append(Segment(" ", base))
        return Strip(segments).adjust_cell_length(width, base)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        styles = self._styles or {"base": self.rich_style}
        if y == 0:
            header = styles.get("header", styles["base"])
            return self._strip([(label, Style()) for _, label, _ in COLUMNS], header, width)
        index = int(self.scroll_y) + y - 1
        if index >= self.row_count:
            return Strip.blank(width, styles["base"])
        job = self.store.jobs.get(self.store.row_id(index))
        if job is None:
            return Strip.blank(width, styles["base"])
        values = self.cell_values(job)
        cells = [values[key] for key, _, _ in COLUMNS]
        if index == self._cursor_row:
            cursor = styles.get("cursor", styles["base"])
            return self._strip([(text, style + cursor) for text, style in cells], cursor, width)
        base = styles.get("even", styles["base"]) if index % 2 == 0 else styles["base"]
        return self._strip(cells, base, width)

    # -- cursor and marks --------------------------------------------------------------------
    @property
    def cursor_row(self) -> int:
        """Row of the cursor."""
        return self._cursor_row

    @property
    def current_job_id(self) -> int | None:
        """Job under the cursor."""
        if self.row_count == 0:
            return None
        self._sync()
        return self._cursor_id

    def _row_in_view(self, row: int) -> bool:
        top = int(self.scroll_y)
        return top <= row < top + max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        rows = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self._cursor_row < top:
            self.scroll_to(y=self._cursor_row, animate=False, immediate=True)
        elif self._cursor_row >= top + rows:
            self.scroll_to(y=self._cursor_row - rows + 1, animate=False, immediate=True)

    def move_cursor(self, row: int) -> None:
        """Put the cursor on ``row`` (clamped) and bring it into view."""
        count = self.row_count
        if count == 0:
            return
        self._cursor_row = max(0, min(row, count - 1))
        self._cursor_id = self.store.row_id(self._cursor_row)
        self._scroll_to_cursor()
        self.refresh()

    def select_job(self, job_id: int) -> bool:
        """Move the cursor to ``job_id``; return whether it is shown."""
        self._sync()
        index = self.store.row_index(job_id)
        if index is None:
            return False
        self.move_cursor(index)
        return True

    def selection(self) -> list[int]:
        """Marked jobs, or the one under the cursor."""
        if self.marks:
            return sorted(self.marks)
        current = self.current_job_id
        return [] if current is None else [current]

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self._page())

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(self.row_count - 1)

    def action_toggle_mark(self) -> None:
        job_id = self.current_job_id
        if job_id is None:
            return
        self.marks.symmetric_difference_update({job_id})
        self.move_cursor(self.cursor_row + 1)
        self.post_message(self.MarksChanged(frozenset(self.marks)))

    def action_mark_all(self) -> None:
        self.marks = set(self.row_ids())
        self.refresh()
        self.post_message(self.MarksChanged(frozenset(self.marks)))

    def action_clear_marks(self) -> None:
        self.marks = set()
        self.refresh()
        self.post_message(self.MarksChanged(frozenset()))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        if offset.y == 0:
            for key, _, x, size in self._layout(self.scrollable_content_region.width):
                if x <= offset.x < x + size + 1 and key != "sel":
                    self.post_message(self.SortRequested(key))
            return
        row = int(self.scroll_y) + offset.y - 1
        if row >= self.row_count:
            return
        if row == self.cursor_row and self._cursor_id is not None:
            self.post_message(self.RowSelected(self._cursor_id))
        else:
            self.move_cursor(row)
