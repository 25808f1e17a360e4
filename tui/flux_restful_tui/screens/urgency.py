"""Ask for a new urgency for the selected jobs (the dialog is the confirmation)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

__all__ = ["URGENCY_WORDS", "UrgencyScreen", "parse_urgency"]

URGENCY_WORDS = {"hold": 0, "default": 16, "expedite": 31}
"""Flux's names for urgencies, accepted as the answer."""


def parse_urgency(text: str) -> int | None:
    """``0``-``31`` or ``hold``/``default``/``expedite``; ``None`` for anything else."""
    word = text.strip().lower()
    if word in URGENCY_WORDS:
        return URGENCY_WORDS[word]
    if word.isdigit() and 0 <= int(word) <= 31:
        return int(word)
    return None


class UrgencyScreen(ModalScreen[int | None]):
    """An input for the urgency; dismisses with the value, or ``None`` when abandoned."""

    BINDINGS = [Binding("escape", "abandon", "Back")]

    def __init__(self, what: str, current: int | None = None) -> None:
        super().__init__(id="urgency-screen")
        self.what = what
        """The jobs the urgency is for, in words."""
        self.current = current
        """The urgency the (first) job has now, as a starting value."""

    def compose(self) -> ComposeResult:
        with Vertical(id="urgency-dialog", classes="dialog"):
            yield Label(
                f"Urgency of {self.what}: 0-31 (0 holds, 16 default, 31 expedites; above 16 "
                "needs a superuser), or hold, default, expedite",
                id="urgency-question",
            )
            yield Input(
                value="" if self.current is None else str(self.current),
                placeholder="16",
                id="urgency-value",
            )
            yield Label("", id="urgency-error")
            with Horizontal(classes="buttons"):
                yield Button("Set urgency", variant="warning", id="urgency-set")
                yield Button("Back", variant="primary", id="urgency-back")

    def on_mount(self) -> None:
        self.query_one("#urgency-value", Input).focus()

    def action_abandon(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#urgency-set")
    def _set(self) -> None:
        value = parse_urgency(self.query_one("#urgency-value", Input).value)
        if value is None:
            self.query_one("#urgency-error", Label).update(
                "Not an urgency: give 0-31, hold, default or expedite"
            )
            return
        self.dismiss(value)

    @on(Button.Pressed, "#urgency-back")
    def _back(self) -> None:
        self.dismiss(None)
