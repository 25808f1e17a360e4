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

from rich.segment import Segment
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from flux_restful_client import OutputLine

__all__ = ["LogView"]

_CACHE_MAX = 2_000


class LogView(ScrollView, can_focus=True):
    """The output lines of one job; keeps at most ``max_lines`` of them."""

    DEFAULT_CSS = """
    LogView { height: 1fr; background: $surface; color: $foreground; }
    """

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
        self.buffer: deque[OutputLine] = deque(maxlen=max_lines)
        """The newest ``max_lines`` lines."""
        self.total = 0
        """Lines received, including those dropped to stay bounded."""
        self.wrap = False
        """Wrap long lines (else scroll sideways)."""
        self.auto_scroll = True
        """Follow new lines while the view is at the bottom."""
        self._regex: re.Pattern[str] | None = None
        self._matching: deque[OutputLine] = deque(maxlen=max_lines)
        self._widest = 0
        self._strips: dict[int, list[Strip]] = {}
        self._window: tuple[tuple[int, int, int, int, int], list[Strip]] | None = None
        self._version = 0

    # -- content -----------------------------------------------------------------------------
    @property
    def shown(self) -> deque[OutputLine]:
        """The kept lines that match the search (all of them without one)."""
        return self._matching if self._regex is not None else self.buffer

    def _shows(self, line: OutputLine) -> bool:
        return self._regex is None or bool(self._regex.search(line.data))

    def _measure(self, line: OutputLine) -> None:
        width = len(line.data) + (11 if self.show_time else 0) + (5 if self.show_rank else 0)
        if width > self._widest:
            self._widest = width

    def add_lines(self, lines: Iterable[OutputLine]) -> None:
        """Append lines (a batch)."""
        at_end = self.scroll_y >= self.max_scroll_y
        for line in lines:
            self.buffer.append(line)
            self.total += 1
            if self._regex is not None and self._regex.search(line.data):
                self._matching.append(line)
            self._measure(line)
        if len(self._strips) > _CACHE_MAX:
            self._strips.clear()
        self._changed(follow=self.auto_scroll and at_end)

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
        for line in self.buffer:
            self._measure(line)
        self._changed(follow=self.auto_scroll)

    def _changed(self, *, follow: bool) -> None:
        self._version += 1
        width = 0 if self.wrap else self._widest + 1
        self.virtual_size = Size(width, len(self.shown))
        if follow:
            self.scroll_end(animate=False, x_axis=False)
        self.refresh()

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

    # -- drawing -----------------------------------------------------------------------------
    def render_line_text(self, line: OutputLine) -> Text:
        """One output line as styled text."""
        text = Text(no_wrap=not self.wrap, end="")
        if self.show_time and line.t is not None:
            text.append(time.strftime("%H:%M:%S ", time.localtime(line.t)), style="dim")
        if self.show_rank:
            text.append(f"[{line.rank}] ", style="cyan")
        body = line.data.rstrip("\n").expandtabs()
        text.append(body, style="red" if line.stream == "stderr" else "")
        if self._regex is not None:
            text.highlight_regex(self._regex, style="black on yellow")
        return text

    def _line_strips(self, line: OutputLine, width: int) -> list[Strip]:
        """The rows of ``line``: one without wrap, as many as it takes with it."""
        key = id(line)
        cached = self._strips.get(key)
        if cached is not None:
            return cached
        text = self.render_line_text(line)
        style = self.rich_style
        if self.wrap:
            strips = [
                Strip(segments)
                for segments in self.app.console.render_lines(
                    text, self.app.console.options.update_width(max(1, width)), style=style
                )
            ]
        else:
            segments = list(text.render(self.app.console))
            strips = [Strip(Segment.apply_style(segments, style))]
        self._strips[key] = strips
        return strips

    def _rows(self) -> list[Strip]:
        """The rows of the window (computed once per frame)."""
        width = self.scrollable_content_region.width
        height = self.scrollable_content_region.height
        top = int(self.scroll_y)
        key = (self._version, top, width, height, int(self.wrap))
        if self._window is not None and self._window[0] == key:
            return self._window[1]
        shown = self.shown
        rows: list[Strip] = []
        if not self.wrap:
            for index in range(top, min(len(shown), top + height)):
                rows.extend(self._line_strips(shown[index], width))
        elif top >= self.max_scroll_y:
            # at the bottom: the last line's last row is the window's last row
            index = len(shown) - 1
            while index >= 0 and len(rows) < height:
                rows[:0] = self._line_strips(shown[index], width)
                index -= 1
            rows = rows[-height:]
        else:
            index = top
            while index < len(shown) and len(rows) < height:
                rows.extend(self._line_strips(shown[index], width))
                index += 1
        self._window = (key, rows)
        return rows

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        rows = self._rows()
        if y >= len(rows):
            return Strip.blank(width, self.rich_style)
        strip = rows[y]
        if not self.wrap:
            x = int(self.scroll_x)
            strip = strip.crop(x, x + width)
        return strip.adjust_cell_length(width, self.rich_style)
