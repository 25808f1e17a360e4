"""The status bar: server, user, connection state and what is marked."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

__all__ = ["CONNECTION_STYLES", "StatusBar"]

CONNECTION_STYLES = {
    "connecting": ("…", "yellow"),
    "live": ("●", "bold green"),
    "reconnecting": ("◌", "bold yellow"),
    "polling": ("◐", "cyan"),
    "offline": ("✖", "bold red"),
}
"""Symbol and style of each connection state."""


class StatusBar(Static):
    """One line at the bottom of the jobs view."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    server: reactive[str] = reactive("")
    """API host."""
    user: reactive[str] = reactive("")
    """Who the dashboard acts as."""
    connection: reactive[str] = reactive("connecting")
    """``live``, ``reconnecting``, ``polling``, ``offline``."""
    marked: reactive[int] = reactive(0)
    """How many jobs are marked."""
    read_only: reactive[bool] = reactive(False)
    """Whether actions are hidden."""

    def render(self) -> Text:
        symbol, style = CONNECTION_STYLES.get(self.connection, ("?", ""))
        text = Text.assemble(
            (f"{symbol} {self.connection}", style),
            "  ",
            ("server ", "dim"),
            self.server,
            "  ",
            ("user ", "dim"),
            self.user or "anonymous",
        )
        if self.marked:
            text.append(f"  {self.marked} marked", style="bold yellow")
        if self.read_only:
            text.append("  read-only", style="bold magenta")
        return text
