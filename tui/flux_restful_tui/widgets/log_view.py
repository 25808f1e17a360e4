"""A job's output: stderr coloured, optional rank and time prefixes, search, bounded memory.

A virtual view (the approach of Textual's ``Log`` and of Toolong): the lines live in a bounded
deque and ``render_line`` draws only the rows in the window, so appending a batch costs the
batch (not a re-render of what is kept) and a keypress costs the height of the window.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..lines import LINE_ENDS, Line, LogLine

__all__ = ["LogView"]

_ENDS = "".join(LINE_ENDS)


class LogView(ScrollView, can_focus=True):
    """The output lines of one job; keeps at most ``max_lines`` of them."""

    DEFAULT_CSS = """
    LogView { height: 1fr; background: $surface; color: $foreground; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "line(-1)", "Up", show=False),
        Binding("down", "line(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "top", "Top", show=False),
        Binding("end", "bottom", "Bottom", show=False),
    ]

    show_rank: reactive[bool] = reactive(False)
    """Prefix each line with the rank that wrote it."""
    show_time: reactive[bool] = reactive(False)
    """Prefix each line with the time it was written."""
    search: reactive[str] = reactive("")
    """Only lines matching this (case-insensitive regex) are shown, highlighted."""

    def __init__(self, *, max_lines: int = 10_000, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        """Lines kept."""
        self.buffer: deque[Line] = deque(maxlen=max_lines)
        """The newest ``max_lines`` lines (plain tuples; ``lines()`` names their fields)."""
        self.total = 0
        """Lines received, including those dropped to stay bounded."""
        self.wrap = False
        """Wrap long lines (else scroll sideways)."""
        self.auto_scroll = True
        """Follow new lines while the view is at the bottom."""
        self._regex: re.Pattern[str] | None = None
        self._matching: deque[Line] = deque(maxlen=max_lines)
        self._widest = 0
        self._strips: dict[tuple[Line, int], list[Strip]] = {}
        self._window: tuple[tuple[int, ...], list[Strip]] | None = None
        self._version = 0
        self._following = True

    # -- content -----------------------------------------------------------------------------
    @property
    def shown(self) -> deque[Line]:
        """The kept lines that match the search (all of them without one)."""
        return self._matching if self._regex is not None else self.buffer

    def lines(self) -> list[LogLine]:
        """The kept lines, oldest first, with their fields named."""
        return [LogLine._make(line) for line in self.buffer]

    def _shows(self, line: Line) -> bool:
        return self._regex is None or bool(self._regex.search(line[0]))

    def _measure(self, lines: Iterable[Line]) -> None:
        prefix = (11 if self.show_time else 0) + (5 if self.show_rank else 0)
        widest = max((len(line[0]) for line in lines), default=0) + prefix
        if widest > self._widest:
            self._widest = widest

    def add_lines(self, lines: Iterable[Line]) -> None:
        """Append lines (a batch of ``(data, stream, rank, t)`` tuples or ``LogLine`` objects).

        Only the newest ``max_lines`` are kept.
        """
        batch = lines if isinstance(lines, list) else list(lines)
        self.total += len(batch)
        if len(batch) > self.max_lines:
            batch = batch[-self.max_lines :]
        self.buffer.extend(batch)
        if self._regex is not None:
            search = self._regex.search
            self._matching.extend(line for line in batch if search(line[0]))
        self._measure(batch)
        self._changed(follow=self.auto_scroll and self._following)

    def clear(self) -> None:
        """Forget every line."""
        self.buffer.clear()
        self._matching.clear()
        self.total = 0
        self.redraw()

    def redraw(self) -> None:
        """Draw the kept lines again (after a toggle or a new search)."""
        self._strips.clear()
        self._matching = deque(
            (line for line in self.buffer if self._shows(line)), maxlen=self.max_lines
        )
        self._widest = 0
        self._measure(self.buffer)
        self._changed(follow=self.auto_scroll)

    def _changed(self, *, follow: bool) -> None:
        self._version += 1
        width = 0 if self.wrap else self._widest + 1
        self.virtual_size = Size(width, len(self.shown))
        if follow:
            self._to_end()
        self.refresh()

    def _to_end(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        if self.scroll_y < self.max_scroll_y or not self.is_mounted:
            self.call_after_refresh(self._catch_up)

    def _catch_up(self) -> None:
        if self._following and self.auto_scroll:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # scrolled away from the bottom (by the user): stop following until back at the end
        self._following = new_value >= self.max_scroll_y

    def matches(self) -> int:
        """How many kept lines match the search."""
        return len(self.shown)

    def set_search(self, pattern: str) -> None:
        """Search for ``pattern`` (``""`` clears).

        Raises:
            re.error: ``pattern`` is not a valid regex.
        """
        self._regex = re.compile(pattern, re.IGNORECASE) if pattern else None
        self.search = pattern

    def watch_show_rank(self) -> None:
        self.redraw()

    def watch_show_time(self) -> None:
        self.redraw()

    def watch_search(self) -> None:
        self.redraw()

    def toggle_wrap(self) -> None:
        """Wrap long lines, or not."""
        self.wrap = not self.wrap
        self.redraw()

    # -- moving (never animated: lines keep arriving while the user reads) -----------------------
    def _move_to(self, y: float) -> None:
        target = max(0.0, min(y, self.max_scroll_y))
        self._following = target >= self.max_scroll_y
        self.scroll_to(y=target, animate=False, immediate=True)

    def action_line(self, step: int) -> None:
        self._move_to(self.scroll_y + step)

    def action_page(self, step: int) -> None:
        self._move_to(self.scroll_y + step * max(1, self.scrollable_content_region.height - 1))

    def action_top(self) -> None:
        self._move_to(0)

    def action_bottom(self) -> None:
        self._move_to(self.max_scroll_y)

    # -- drawing -----------------------------------------------------------------------------
    def render_line_text(self, line: Line) -> Text:
        """One output line as styled text."""
        data, stream, rank, t = line
        text = Text(no_wrap=not self.wrap, end="")
        if self.show_time and t is not None:
            text.append(time.strftime("%H:%M:%S ", time.localtime(t)), style="dim")
        if self.show_rank:
            text.append(f"[{rank}] ", style="cyan")
        body = data.rstrip(_ENDS).expandtabs()
        text.append(body, style="red" if stream == "stderr" else "")
        if self._regex is not None:
            text.highlight_regex(self._regex, style="black on yellow")
        return text

    def _line_strips(
        self, line: Line, width: int, style: Style, drawn: dict[tuple[Line, int], list[Strip]]
    ) -> list[Strip]:
        """The rows of ``line``: one without wrap, as many as it takes with it.

        Taken from the previous window's when it showed the line too; kept in ``drawn``.
        """
        key = (line, width if self.wrap else 0)
        cached = self._strips.get(key)
        if cached is not None:
            drawn[key] = cached
            return cached
        text = self.render_line_text(line)
        console = self.app.console
        if self.wrap:
            options = console.options.update_width(max(1, width))
            strips = [Strip(s) for s in console.render_lines(text, options, style=style)]
        else:
            strips = [Strip(Segment.apply_style(text.render(console), style))]
        drawn[key] = strips
        return strips

    def _rows(self) -> list[Strip]:
        """The rows of the window, cropped to it (computed once per frame)."""
        width = self.scrollable_content_region.width
        height = self.scrollable_content_region.height
        top = int(self.scroll_y)
        left = 0 if self.wrap else int(self.scroll_x)
        key = (self._version, top, left, width, height, int(self.wrap))
        if self._window is not None and self._window[0] == key:
            return self._window[1]
        style = self.rich_style
        shown = self.shown
        rows: list[Strip] = []
        drawn: dict[tuple[Line, int], list[Strip]] = {}
        if not self.wrap:
            for index in range(top, min(len(shown), top + height)):
                rows.extend(self._line_strips(shown[index], width, style, drawn))
        elif top >= self.max_scroll_y:
            # at the bottom: the last line's last row is the window's last row
            index = len(shown) - 1
            while index >= 0 and len(rows) < height:
                rows[:0] = self._line_strips(shown[index], width, style, drawn)
                index -= 1
            rows = rows[-height:]
        else:
            index = top
            while index < len(shown) and len(rows) < height:
                rows.extend(self._line_strips(shown[index], width, style, drawn))
                index += 1
        rows = [row.crop(left, left + width).adjust_cell_length(width, style) for row in rows]
        rows.extend([Strip.blank(width, style)] * (height - len(rows)))
        self._strips = drawn  # only the lines of this window: the cache stays small and young
        self._window = (key, rows)
        return rows

    def render_line(self, y: int) -> Strip:
        rows = self._rows()
        if y < len(rows):
            return rows[y]
        return Strip.blank(self.scrollable_content_region.width, self.rich_style)
