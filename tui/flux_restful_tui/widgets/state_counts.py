"""The header line with how many jobs are in each state."""

from __future__ import annotations

from collections import Counter

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from .formats import STATE_STYLES

__all__ = ["StateCounts"]

ORDER = ("DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP", "INACTIVE")


class StateCounts(Static):
    """``RUN 3  SCHED 1  INACTIVE 40 · total 44 · shown 44 · filter: ...``."""

    DEFAULT_CSS = """
    StateCounts { height: 1; padding: 0 1; background: $boost; }
    """

    counts: reactive[Counter[str]] = reactive(Counter, always_update=True)
    """Jobs per state."""
    shown: reactive[int] = reactive(0)
    """Rows that pass the filter."""
    hidden: reactive[int] = reactive(0)
    """Rows that match but are not drawn (beyond the table's cap)."""
    describe: reactive[str] = reactive("")
    """The active filter, in words."""

    def render(self) -> Text:
        text = Text()
        states = [s for s in ORDER if self.counts.get(s)] + sorted(
            s for s in self.counts if s not in ORDER
        )
        for state in states:
            text.append(state, style=STATE_STYLES.get(state, "bold"))
            text.append(f" {self.counts[state]}  ")
        total = sum(self.counts.values())
        text.append(f"· total {total} · shown {self.shown}", style="dim")
        if self.hidden:
            text.append(f" (+{self.hidden} more: filter to narrow)", style="yellow")
        if self.describe:
            text.append(f" · {self.describe}", style="bold cyan")
        return text
