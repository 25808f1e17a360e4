"""A job's output: stderr coloured, optional rank and time prefixes, search, bounded memory."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import RichLog

from flux_restful_client import OutputLine

__all__ = ["LogView"]


class LogView(RichLog):
    """The output lines of one job; keeps at most ``max_lines`` of them."""

    DEFAULT_CSS = """
    LogView { height: 1fr; }
    """

    show_rank: reactive[bool] = reactive(False)
    """Prefix each line with the rank that wrote it."""
    show_time: reactive[bool] = reactive(False)
    """Prefix each line with the time it was written."""
    search: reactive[str] = reactive("")
    """Only lines matching this (case-insensitive regex) are shown, highlighted."""

    def __init__(self, *, max_lines: int = 10_000, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, wrap=False, auto_scroll=True, id=id, markup=False)
        self.buffer: deque[OutputLine] = deque(maxlen=max_lines)
        """The newest ``max_lines`` lines (what a redraw shows)."""
        self.total = 0
        """Lines received, including those dropped to stay bounded."""
        self._regex: re.Pattern[str] | None = None

    def render_line_text(self, line: OutputLine) -> Text:
        """One output line as styled text."""
        text = Text(no_wrap=not self.wrap)
        if self.show_time and line.t is not None:
            text.append(time.strftime("%H:%M:%S ", time.localtime(line.t)), style="dim")
        if self.show_rank:
            text.append(f"[{line.rank}] ", style="cyan")
        body = line.data.rstrip("\n")
        text.append(body, style="red" if line.stream == "stderr" else "")
        if self._regex is not None:
            text.highlight_regex(self._regex, style="black on yellow")
        return text

    def _shows(self, line: OutputLine) -> bool:
        return self._regex is None or bool(self._regex.search(line.data))

    def add_lines(self, lines: Iterable[OutputLine]) -> None:
        """Append lines (a batch)."""
        for line in lines:
            self.buffer.append(line)
            self.total += 1
            if self._shows(line):
                self.write(self.render_line_text(line))

    def redraw(self) -> None:
        """Draw the kept lines again (after a toggle or a new search)."""
        self.clear()
        for line in self.buffer:
            if self._shows(line):
                self.write(self.render_line_text(line))

    def matches(self) -> int:
        """How many kept lines match the search."""
        return sum(1 for line in self.buffer if self._shows(line))

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
