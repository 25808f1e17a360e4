"""The log view: follows a job's stream live, resumes after drops, polls when there is none."""

from __future__ import annotations

import re
import time

import anyio
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from flux_restful_client import (
    FluxRestfulError,
    InvalidRequestError,
    NotFoundError,
    OutputLine,
    StreamClosedError,
    TransportError,
    UnsupportedByServer,
)

from ..context import DashContext
from ..lines import Line, LineJoiner
from ..messages import CancelRequested
from ..widgets.footer import KeysFooter
from ..widgets.log_view import LogView

__all__ = ["LogScreen"]

FLUSH_EVERY = 0.1
"""Seconds between redraws while lines pour in (one batch per redraw: at most 10 a second)."""


def _on(flag: bool) -> str:
    return "on" if flag else "off"


class LogScreen(Screen[None]):
    """One job's output, live."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("p", "toggle_rank", "Rank"),
        Binding("t", "toggle_time", "Time"),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("a", "toggle_autoscroll", "Autoscroll"),
        Binding("c", "cancel", "Cancel"),
        Binding("G", "end", "End", show=False),
    ]

    follow_state: reactive[str] = reactive("connecting")
    """``live``, ``reconnecting``, ``polling``, ``ended`` or ``error``."""

    def __init__(self, ctx: DashContext, job_id: int, *, max_lines: int = 10_000) -> None:
        super().__init__(id="log-screen")
        self.ctx = ctx
        """The client, the store and the session."""
        self.job_id = job_id
        """The job followed."""
        self.max_lines = max_lines
        """Lines kept in memory."""
        self.ended: str = ""
        """How the job ended, once it did."""
        self.log_view = LogView(max_lines=max_lines, id="log")
        """The lines (created here so workers can write before it is mounted)."""
        self._pending: list[Line] = []
        self._joiner = LineJoiner()

    def compose(self) -> ComposeResult:
        yield Label(f"Log of job {self.job_id}", id="log-title", classes="title")
        yield Input(placeholder="search: regex (enter to apply, esc to clear)", id="log-search")
        yield self.log_view
        yield Static(id="log-status")
        yield KeysFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "cancel" and self.ctx.read_only)

    def on_mount(self) -> None:
        self.query_one("#log-search", Input).display = False
        self.log_view.focus()
        self.set_interval(FLUSH_EVERY, self.flush)
        self.follow()
        self.show_status()

    # -- status ------------------------------------------------------------------------------
    def watch_follow_state(self) -> None:
        self.show_status()

    def show_status(self) -> None:
        if not self.is_mounted:
            return
        view = self.log_view
        kept = len(view.buffer)
        text = Text.assemble(
            (self.follow_state, "bold green" if self.follow_state == "live" else "bold yellow"),
            f" · {view.total} lines",
            (f" ({kept} kept)" if kept < view.total else "", "dim"),
            f" · wrap {_on(view.wrap)} · autoscroll {_on(view.auto_scroll)}",
            f" · rank {_on(view.show_rank)} · time {_on(view.show_time)}",
        )
        if view.search:
            text.append(f" · /{view.search}: {view.matches()} matches", style="bold cyan")
        if self.ended:
            text.append(f" · {self.ended}", style="bold")
        self.query_one("#log-status", Static).update(text)

    # -- lines -------------------------------------------------------------------------------
    def add(self, record: OutputLine) -> None:
        """Queue a record's lines; batches are drawn every ``FLUSH_EVERY`` seconds.

        A record's last line without its line end waits for the next record of the same
        stream and rank (the rest of the line), or ``HOLD_FRAGMENT`` seconds.
        """
        self._pending.extend(self._joiner.feed(record, time.monotonic()))

    def flush(self, *, drain: bool = False) -> None:
        """Draw the queued lines (and fragments held too long, or all of them if ``drain``)."""
        if self._joiner.holding:
            joiner = self._joiner
            self._pending.extend(joiner.drain() if drain else joiner.expired(time.monotonic()))
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self.log_view.add_lines(batch)
        self.show_status()

    def finish(self, state: str, result: str | None, returncode: int | None) -> None:
        self.flush(drain=True)
        rc = "" if returncode is None else f", exit code {returncode}"
        self.ended = f"job {state.lower()} {result or ''}{rc}".strip()
        self.follow_state = "ended"

    # -- following ---------------------------------------------------------------------------
    @work(exclusive=True, group="log")
    async def follow(self) -> None:
        client = self.ctx.client
        since: int | None = None
        delay = 0.5
        while True:
            try:
                self.follow_state = "live"
                async for frame in client.iter_frames(self.job_id, since=since):
                    if frame.seq is not None:
                        since = frame.seq  # the last seen: the server sends what follows
                    delay = 0.5
                    if frame.type == "output":
                        self.add(OutputLine.from_frame(frame))
                    elif frame.type == "end":
                        self.finish(frame.state or "INACTIVE", frame.result, frame.returncode)
                        return
                self.flush(drain=True)
                return
            except UnsupportedByServer:
                # No frame stream here (upstream's server): its chunked output stream instead.
                await self.follow_output_stream()
                return
            except (NotFoundError, InvalidRequestError):
                # A server that claims the stream but has no such route: poll the output.
                await self.poll()
                return
            except (StreamClosedError, TransportError) as exc:
                self.flush()
                self.follow_state = "reconnecting"
                self.log_view.border_subtitle = str(exc)[:120]
            except FluxRestfulError as exc:
                self.follow_state = "error"
                self.notify(str(exc), title=f"Log of job {self.job_id}", severity="error")
                return
            await anyio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def follow_output_stream(self) -> None:
        """Follow upstream's ``/output/stream`` (unlabelled lines), then show how the job ended."""
        client = self.ctx.client
        self.follow_state = "live"
        try:
            async for line in client.iter_lines(self.job_id):
                self.add(line)
            job = await client.wait(self.job_id)
        except FluxRestfulError as exc:
            self.flush(drain=True)
            self.follow_state = "error"
            self.notify(str(exc), title=f"Log of job {self.job_id}", severity="error")
            return
        self.finish(job.state, job.result, job.returncode)

    async def poll(self) -> None:
        """Follow by polling ``GET /v1/jobs/{id}/output?labels=true`` until the job ends."""
        client = self.ctx.client
        self.follow_state = "polling"
        seen = 0
        delay = 0.5
        while True:
            try:
                job = await client.get_job(self.job_id)
                lines = await client.get_labelled_output(self.job_id)
            except TransportError as exc:
                self.follow_state = "reconnecting"
                self.log_view.border_subtitle = str(exc)[:120]
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            except FluxRestfulError as exc:
                self.follow_state = "error"
                self.notify(str(exc), title=f"Log of job {self.job_id}", severity="error")
                return
            self.follow_state = "polling"
            new = lines[seen:]
            for line in new:
                self.add(line)
            seen = max(seen, len(lines))
            self.flush()
            if job.is_done:
                self.finish(job.state, job.result, job.returncode)
                return
            await anyio.sleep(delay)
            delay = 0.5 if new else min(delay * 1.5, 2.0)

    # -- actions -----------------------------------------------------------------------------
    def action_back(self) -> None:
        box = self.query_one("#log-search", Input)
        if box.has_focus:
            self._clear_search()
            return
        self.dismiss(None)

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = True
        box.value = self.log_view.search
        box.focus()

    def _clear_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.value = ""
        box.display = False
        self.log_view.set_search("")
        self.log_view.focus()
        self.show_status()

    @on(Input.Submitted, "#log-search")
    def _apply_search(self, event: Input.Submitted) -> None:
        try:
            self.log_view.set_search(event.value)
        except re.error as exc:
            self.notify(f"Invalid search {event.value!r}: {exc}", severity="error")
            return
        if not event.value:
            event.input.display = False
        self.log_view.focus()
        self.show_status()

    def action_toggle_rank(self) -> None:
        self.log_view.show_rank = not self.log_view.show_rank
        self.show_status()

    def action_toggle_time(self) -> None:
        self.log_view.show_time = not self.log_view.show_time
        self.show_status()

    def action_toggle_wrap(self) -> None:
        self.log_view.toggle_wrap()
        self.show_status()

    def action_toggle_autoscroll(self) -> None:
        self.log_view.auto_scroll = not self.log_view.auto_scroll
        if self.log_view.auto_scroll:
            self.log_view.scroll_end(animate=False)
        self.show_status()

    def action_end(self) -> None:
        self.log_view.scroll_end(animate=False)

    def action_cancel(self) -> None:
        self.post_message(CancelRequested([self.job_id]))
