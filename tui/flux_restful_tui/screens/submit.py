"""The submit form: every submit field; the server's validation messages shown at the field."""

from __future__ import annotations

import re
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static, TextArea

from flux_restful_client import ApiError, FluxRestfulError

from ..context import DashContext

__all__ = ["FIELD_HINTS", "SubmitScreen", "field_for_error", "parse_env"]

INT_FIELDS = ("num_tasks", "cores_per_task", "gpus_per_task", "num_nodes", "runtime", "urgency")
TEXT_FIELDS = ("command", "name", "workdir", "option_flags")

LABELS = {
    "command": "Command",
    "name": "Name",
    "num_tasks": "Tasks",
    "cores_per_task": "Cores/task",
    "gpus_per_task": "GPUs/task",
    "num_nodes": "Nodes",
    "runtime": "Runtime (s)",
    "urgency": "Urgency",
    "workdir": "Workdir",
    "option_flags": "Options",
}

FIELD_HINTS: tuple[tuple[str, str], ...] = (
    ("gpu", "gpus_per_task"),
    ("node", "num_nodes"),
    ("exclusive", "num_nodes"),
    ("runtime", "runtime"),
    ("urgency", "urgency"),
    ("-o", "option_flags"),
    ("option", "option_flags"),
    ("core", "cores_per_task"),
    ("task", "num_tasks"),
    ("workdir", "workdir"),
    ("directory", "workdir"),
    ("environment", "envars"),
    ("envar", "envars"),
    ("name", "name"),
    ("command", "command"),
)
"""Words in a server message and the field it is about (first match wins)."""


def field_for_error(message: str) -> str | None:
    """The form field a server validation message is about, if it names one."""
    lower = message.lower()
    for word, name in FIELD_HINTS:
        if word in lower:
            return name
    return None


def parse_env(text: str) -> dict[str, str]:
    """``KEY=value`` lines (blank lines and ``#`` comments skipped).

    Raises:
        ValueError: A line is not ``KEY=value`` with a valid name.
    """
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"line {number}: expected KEY=value, got {raw.strip()!r}")
        env[key] = value
    return env


def _server_messages(exc: ApiError) -> list[str]:
    detail = exc.detail
    if isinstance(detail, dict):
        errors = detail.get("Errors")
        if isinstance(errors, list) and errors:
            return [str(e) for e in errors]
        for key in ("Error", "Message", "detail"):
            if isinstance(detail.get(key), str):
                return [detail[key]]
    return [str(exc)]


class SubmitScreen(ModalScreen[int | None]):
    """Dismisses with the new job's id, or ``None`` when abandoned."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+s", "submit", "Submit"),
    ]

    def __init__(self, ctx: DashContext) -> None:
        super().__init__(id="submit-screen")
        self.ctx = ctx
        """The client, the store and the session."""

    def _row(self, name: str, widget: Any) -> ComposeResult:
        with Horizontal(classes="form-row", id=f"row-{name}"):
            yield Label(LABELS.get(name, name), classes="form-label")
            yield widget
        yield Static("", id=f"error-{name.replace('_', '-')}", classes="form-error")

    def compose(self) -> ComposeResult:
        with Vertical(id="submit-dialog", classes="dialog"):
            yield Label("Submit a job", classes="title")
            yield Static("", id="error-form", classes="form-error")
            with VerticalScroll(id="submit-fields"):
                yield from self._row(
                    "command", Input(placeholder="e.g. sleep 10", id="field-command")
                )
                yield from self._row("name", Input(placeholder="(first word)", id="field-name"))
                for name in INT_FIELDS:
                    yield from self._row(
                        name,
                        Input(placeholder="", id=f"field-{name.replace('_', '-')}", type="text"),
                    )
                yield from self._row(
                    "workdir", Input(placeholder="(server default)", id="field-workdir")
                )
                yield from self._row(
                    "option_flags", Input(placeholder="k=v,k2=v2", id="field-option-flags")
                )
                with Horizontal(classes="form-row"):
                    yield Label("Exclusive", classes="form-label")
                    yield Checkbox("whole nodes", id="field-exclusive")
                with Horizontal(classes="form-row", id="row-envars"):
                    yield Label("Environment", classes="form-label")
                    yield TextArea(id="field-envars", soft_wrap=False, show_line_numbers=False)
                yield Static("", id="error-envars", classes="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Submit", variant="success", id="submit-ok")
                yield Button("Cancel", variant="default", id="submit-cancel")

    def on_mount(self) -> None:
        self.query_one("#field-command", Input).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#submit-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#submit-ok")
    @on(Input.Submitted)
    def _ok(self) -> None:
        self.action_submit()

    # -- errors ------------------------------------------------------------------------------
    def clear_errors(self) -> None:
        for widget in self.query(".form-error"):
            assert isinstance(widget, Static)
            widget.update("")
            widget.remove_class("-shown")

    def show_error(self, field: str | None, message: str) -> None:
        target = self.query_one(f"#error-{(field or 'form').replace('_', '-')}", Static)
        old = str(target.render()) if target.has_class("-shown") else ""
        target.update(f"{old}\n{message}".strip() if old else message)
        target.add_class("-shown")

    def collect(self) -> tuple[str, dict[str, Any]] | None:
        """Read the form; show local errors and return ``None`` when it is not valid."""
        self.clear_errors()
        ok = True
        command = self.query_one("#field-command", Input).value.strip()
        if not command:
            self.show_error("command", "A command is required.")
            ok = False
        fields: dict[str, Any] = {}
        for name in INT_FIELDS:
            text = self.query_one(f"#field-{name.replace('_', '-')}", Input).value.strip()
            if not text:
                continue
            try:
                fields[name] = int(text)
            except ValueError:
                self.show_error(name, f"{LABELS[name]} must be a whole number, not {text!r}.")
                ok = False
        for name in ("name", "workdir", "option_flags"):
            text = self.query_one(f"#field-{name.replace('_', '-')}", Input).value.strip()
            if text:
                fields[name] = text
        if self.query_one("#field-exclusive", Checkbox).value:
            fields["exclusive"] = True
        try:
            env = parse_env(self.query_one("#field-envars", TextArea).text)
        except ValueError as exc:
            self.show_error("envars", str(exc))
            ok = False
        else:
            if env:
                fields["envars"] = env
        return (command, fields) if ok else None

    def action_submit(self) -> None:
        collected = self.collect()
        if collected is not None:
            self.send(*collected)

    @work(exclusive=True, group="submit")
    async def send(self, command: str, fields: dict[str, Any]) -> None:
        button = self.query_one("#submit-ok", Button)
        button.disabled = True
        try:
            job_id = await self.ctx.client.submit_job(command, **fields)
        except ApiError as exc:
            for message in _server_messages(exc):
                self.show_error(field_for_error(message), message)
            self.notify(str(exc), title="Submit refused", severity="error")
            return
        except FluxRestfulError as exc:
            self.show_error(None, str(exc))
            self.notify(str(exc), title="Submit failed", severity="error")
            return
        finally:
            button.disabled = False
        self.dismiss(job_id)
