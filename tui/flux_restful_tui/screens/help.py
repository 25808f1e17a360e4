"""The ``?`` help: every key of the dashboard."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HELP", "HelpScreen", "help_text"]

HELP: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Jobs view",
        (
            ("↑ ↓ PgUp PgDn", "move"),
            ("enter", "job detail (info and eventlog)"),
            ("l", "follow the job's log"),
            ("space / ctrl+a / esc", "mark / mark all / unmark"),
            ("s", "submit a job"),
            ("c", "cancel the marked jobs (or the current one)"),
            ("h / u", "hold / release the marked jobs (held: urgency 0, they wait until released)"),
            ("p", "set the urgency of the marked jobs (0-31, hold, default, expedite)"),
            ("/", "filter (regex; ! inverts)"),
            ("1 … 5", "all / pending / running / done / failed"),
            ("m", "mine / all"),
            ("o / O / click header", "sort by next column / reverse / by that column"),
            ("n", "nodes"),
            ("r", "reload now"),
        ),
    ),
    (
        "Log view",
        (
            ("/", "search (regex); esc clears"),
            ("p / t", "rank prefix / timestamps"),
            ("w / a", "wrap / autoscroll"),
        ),
    ),
)
"""Each view's keys and what they do, in the order shown."""


def help_text() -> Group:
    """The help as tables whose key column never wraps (a key split over lines reads wrong)."""
    parts: list[Table | Text] = [Text("Flux RESTful dashboard", style="bold", justify="center")]
    widest = max(len(key) for _, keys in HELP for key, _ in keys)
    for title, keys in HELP:
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        table.add_column(title, style="bold", no_wrap=True, min_width=widest)
        table.add_column("")
        for key, what in keys:
            table.add_row(key, what)
        parts.append(table)
    parts.append(Text("ctrl+p opens the command palette (themes too); q quits; escape goes back."))
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """Key reference."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static(help_text())

    def action_close(self) -> None:
        self.dismiss(None)
