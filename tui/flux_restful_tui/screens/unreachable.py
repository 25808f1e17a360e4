"""Shown while the server cannot be reached at start; retries until it answers."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Label, Static

from ..messages import RetryRequested
from ..widgets.footer import KeysFooter

__all__ = ["UnreachableScreen"]


class UnreachableScreen(Screen[None]):
    """A clear message instead of a traceback; the app dismisses it when the server answers."""

    BINDINGS = [Binding("r", "retry", "Retry now"), Binding("q", "app.quit", "Quit")]

    reason: reactive[str] = reactive("")
    """The last error."""
    attempts: reactive[int] = reactive(0)
    """Failed attempts so far."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(id="unreachable-screen")
        self.host = host
        """The API host."""
        self.set_reactive(UnreachableScreen.reason, reason)

    def compose(self) -> ComposeResult:
        with Vertical(id="unreachable-box", classes="dialog"):
            yield Label(f"Cannot reach the Flux RESTful API at {self.host}", id="unreachable-title")
            yield Static(id="unreachable-reason")
            yield Label("Retrying… (r to retry now, q to quit)", id="unreachable-hint")
        yield KeysFooter()

    def watch_reason(self) -> None:
        self._show()

    def watch_attempts(self) -> None:
        self._show()

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.is_mounted:
            text = self.reason + (f"\n\nattempt {self.attempts}" if self.attempts else "")
            self.query_one("#unreachable-reason", Static).update(text)

    def action_retry(self) -> None:
        self.post_message(RetryRequested())
