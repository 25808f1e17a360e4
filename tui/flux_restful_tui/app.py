"""The dashboard application: owns the client, the jobs store and the feed worker.

It keeps the store in step with the server (the feed, listings, fetches of changed jobs) and
answers the screens' requests for navigation; job control (confirm, then act) is
``control.JobControl``, which the app is.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterable
from typing import ClassVar

import anyio
from textual import on, work
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from flux_restful_client import AsyncClient, FluxRestfulError, JobInfo

from .context import DashContext
from .control import JobControl
from .feed import FeedSettings, follow_jobs
from .messages import (
    CancelRequested,
    ConnectionChanged,
    DetailRequested,
    JobEventReceived,
    JobsListed,
    JobsRefreshed,
    LogRequested,
    NodesRequested,
    ReloadRequested,
    RetryRequested,
    SubmitRequested,
    UrgencyRequested,
)
from .screens.detail import JobDetailScreen
from .screens.help import HelpScreen
from .screens.jobs import JobsScreen
from .screens.log import LogScreen
from .screens.nodes import NodesScreen
from .screens.submit import SubmitScreen
from .screens.unreachable import UnreachableScreen
from .store import JobFilter, JobStore
from .terminal import HUNG_UP, hung_up, terminal_fd

__all__ = ["DashboardApp"]

REFRESH_EVENTS = frozenset(
    {"submit", "start", "finish", "clean", "exception", "release", "urgency", "depend"}
)
"""Feed events after which the job's full info is fetched (name, result, return code...)."""


class DashboardApp(JobControl):
    """A live terminal dashboard of a Flux RESTful API server."""

    CSS_PATH = "app.tcss"
    TITLE = "Flux RESTful dashboard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    connection: reactive[str] = reactive("connecting")
    """``connecting``, ``live``, ``reconnecting``, ``polling`` or ``offline``."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
        feed: FeedSettings | None = None,
        follow: bool = True,
        max_log_lines: int = 10_000,
    ) -> None:
        """Build the app around a connected client.

        Args:
            client: Where everything is read and done.
            read_only: Hide every action (submit, cancel).
            clock: Source of "now" (frozen in snapshot tests).
            feed: Timings of the feed and polling loop.
            follow: Start following the server at mount (tests of static data turn it off).
            max_log_lines: Lines a log view keeps in memory.
        """
        super().__init__()
        self.client = client
        """The SDK client."""
        self.read_only = read_only
        """Whether actions are hidden."""
        self.store = JobStore(clock)
        """Every known job."""
        self.feed_settings = feed or FeedSettings()
        """Feed timings."""
        self.follow = follow
        """Whether the feed runs."""
        self.max_log_lines = max_log_lines
        """Lines a log view keeps."""
        self.user: str = str(getattr(client.auth, "user", None) or "")
        """Who the client acts as (``""``: anonymous)."""
        self.loaded = False
        """Whether a first listing arrived."""
        self.ctx = DashContext(client, self.store, read_only=read_only, user=self.user)
        """What the screens are given."""
        self.jobs_screen = JobsScreen(self.ctx)
        """The main screen."""
        self._dirty: set[int] = set()
        self._to_fetch: set[int] = set()
        self._unreachable: UnreachableScreen | None = None
        self._detail: JobDetailScreen | None = None
        self._attempts = 0

    def get_default_screen(self) -> Screen[None]:
        return self.jobs_screen

    def on_mount(self) -> None:
        self.set_interval(0.1, self.flush)
        self.set_interval(1.0, self.tick)
        terminal = None if self.is_headless else terminal_fd()
        if terminal is not None:
            self.set_interval(1.0, lambda: self._check_terminal(terminal))
        if self.follow:
            self.start_feed()
            self.identify()

    @work(exclusive=True, group="identify", exit_on_error=False)
    async def identify(self) -> None:
        """Ask the server who we are: "mine/all" is offered to superusers only."""
        try:
            if not (await self.client.server_info()).supports("me"):
                return
            identity = await self.client.me()
        except FluxRestfulError:
            return  # the feed reports an unreachable server; the toggle stays offered
        self.jobs_screen.identity = identity
        self.jobs_screen.refresh_bindings()

    # -- the feed ----------------------------------------------------------------------------
    def start_feed(self) -> None:
        """(Re)start following the server."""
        self.run_worker(
            follow_jobs(self.client, self.post_message, self.feed_settings),
            name="feed",
            group="feed",
            exclusive=True,
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name == "feed" and event.state == WorkerState.ERROR:
            self.notify(f"Job feed failed: {event.worker.error}; restarting", severity="error")
            self.set_timer(2.0, self.start_feed)

    def reload_jobs(self) -> None:
        """List every job again now."""
        self._reload()

    @work(exclusive=True, group="reload")
    async def _reload(self) -> None:
        try:
            jobs = await self.client.list_jobs()
        except FluxRestfulError as exc:
            self.notify(str(exc), title="Reload failed", severity="error")
            return
        self.post_message(JobsListed(jobs))

    @on(JobsListed)
    def _listed(self, message: JobsListed) -> None:
        self.store.replace_all(message.jobs)
        if not self.loaded:
            # The app and the first listing live as long as the process: take them out of the
            # cyclic collector's scans, whose full passes over 10,000 jobs stall the UI.
            gc.collect()
            gc.freeze()
        self.loaded = True
        self._attempts = 0
        if self._unreachable is not None:
            if self.screen is self._unreachable:
                self.pop_screen()
            self._unreachable = None
        self.jobs_screen.rebuild()

    @on(JobEventReceived)
    def _event(self, message: JobEventReceived) -> None:
        event = message.event
        if not event.event or not event.id:
            # A control frame (shutdown, lagged): the listing is the truth; relist.
            self.reload_jobs()
            return
        known = self.store.jobs.get(event.id)
        if known is not None and known.is_done:
            return  # history replayed by the feed: a finished job does not change any more
        self.store.apply_event(event)
        self._dirty.add(event.id)
        if known is None or event.event in REFRESH_EVENTS or event.state == "INACTIVE":
            self._to_fetch.add(event.id)

    @on(JobsRefreshed)
    def _refreshed(self, message: JobsRefreshed) -> None:
        for job in message.jobs:
            self.store.upsert(job)
            self._dirty.add(job.id)

    @on(ConnectionChanged)
    def _connection(self, message: ConnectionChanged) -> None:
        self.connection = message.state
        if message.state in ("reconnecting", "offline") and not self.loaded:
            self._attempts += 1
            if self._unreachable is None:
                self._unreachable = UnreachableScreen(self.client.host, message.detail)
                self.push_screen(self._unreachable)
            else:
                self._unreachable.reason = message.detail
                self._unreachable.attempts = self._attempts

    def watch_connection(self, state: str) -> None:
        self.jobs_screen.connection = state
        if self.jobs_screen.is_mounted:
            self.jobs_screen.status.connection = state

    def flush(self) -> None:
        """Push batched job changes to the table (at most ten times a second)."""
        if self._to_fetch:
            ids, self._to_fetch = self._to_fetch, set()
            self.fetch_jobs(sorted(ids))
        if not self._dirty:
            return
        ids, self._dirty = self._dirty, set()
        jobs = [self.store.jobs[i] for i in ids if i in self.store.jobs]
        if self.jobs_screen.is_mounted:
            self.jobs_screen.jobs_changed(jobs)
        screen = self.screen
        if isinstance(screen, JobDetailScreen):
            for job in jobs:
                if job.id == screen.job_id:
                    screen.job_changed(job)

    @work(group="fetch")
    async def fetch_jobs(self, ids: list[int]) -> None:
        """Fetch full info of jobs named by feed events."""
        found: list[JobInfo] = []

        async def one(job_id: int) -> None:
            try:
                found.append(await self.client.get_job(job_id))
            except FluxRestfulError:
                pass  # gone, or not ours: the next listing settles it

        for start in range(0, len(ids), 20):
            async with anyio.create_task_group() as tg:
                for job_id in ids[start : start + 20]:
                    tg.start_soon(one, job_id)
        if found:
            self.post_message(JobsRefreshed(found))

    def tick(self) -> None:
        self.store.activity.sample(self.store.clock(), self.store.running_count())
        if self.jobs_screen.is_mounted:
            self.jobs_screen.tick()

    def _check_terminal(self, fd: int) -> None:
        if hung_up(fd):
            # Nobody can see or type here any more (see ``terminal``). Textual's own shutdown
            # writes to the terminal to restore it, and blocks on a dead one: end the process
            # as the SIGHUP that never came would have.
            os._exit(HUNG_UP)

    # -- navigation and actions (screens ask by message) ---------------------------------------
    @on(LogRequested)
    def _log_requested(self, message: LogRequested) -> None:
        self.open_log(message.job_id)

    @on(DetailRequested)
    def _detail_requested(self, message: DetailRequested) -> None:
        self.open_detail(message.job_id)

    @on(CancelRequested)
    def _cancel_requested(self, message: CancelRequested) -> None:
        self.confirm_cancel(message.job_ids)

    @on(UrgencyRequested)
    def _urgency_requested(self, message: UrgencyRequested) -> None:
        self.confirm_urgency(message.job_ids, message.action)

    @on(SubmitRequested)
    def _submit_requested(self, message: SubmitRequested) -> None:
        self.action_submit()

    @on(NodesRequested)
    def _nodes_requested(self, message: NodesRequested) -> None:
        self.action_nodes()

    @on(ReloadRequested)
    def _reload_requested(self, message: ReloadRequested) -> None:
        self.reload_jobs()

    @on(RetryRequested)
    def _retry_requested(self, message: RetryRequested) -> None:
        self.start_feed()

    def open_detail(self, job_id: int) -> None:
        """Show a job's info and eventlog."""
        screen = self._detail
        if screen is None:
            screen = self._detail = JobDetailScreen(self.ctx, job_id)
            self.install_screen(screen, name="detail")
        elif screen in self.screen_stack:
            self.push_screen(JobDetailScreen(self.ctx, job_id))  # open below: a one-off copy
            return
        else:
            screen.show(job_id)
        self.push_screen(screen)

    def open_log(self, job_id: int) -> None:
        """Follow a job's output."""
        self.push_screen(LogScreen(self.ctx, job_id, max_lines=self.max_log_lines))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_nodes(self) -> None:
        if not isinstance(self.screen, NodesScreen):
            self.push_screen(NodesScreen(self.ctx))

    def action_submit(self) -> None:
        if self.read_only:
            return
        self.push_screen(SubmitScreen(self.ctx), self._submitted)

    def _submitted(self, job_id: int | None) -> None:
        if job_id is None:
            return
        self.notify(f"Job {job_id} submitted", title="Submit")
        self._show_new_job(job_id)

    @work(group="new-job")
    async def _show_new_job(self, job_id: int) -> None:
        try:
            job = await self.client.get_job(job_id)
        except FluxRestfulError:
            job = JobInfo(id=job_id, state="DEPEND", raw={"id": job_id, "state": "DEPEND"})
        self.store.upsert(job)
        if not self.store.matches(job):
            self.jobs_screen.set_filter(JobFilter())
        self.jobs_screen.rebuild()
        self.jobs_screen.table.select_job(job_id)
        self.open_log(job_id)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Nodes", "Cores and GPUs per node, activity", self.action_nodes)
        yield SystemCommand("Help", "Every key of the dashboard", self.action_help)
        yield SystemCommand("Reload jobs", "List every job again now", self.reload_jobs)
        if not self.read_only:
            yield SystemCommand("Submit a job", "Open the submit form", self.action_submit)
        for name in ("all", "pending", "running", "done", "failed"):
            yield SystemCommand(
                f"Show {name} jobs",
                "Quick state filter",
                lambda name=name: self.jobs_screen.action_quick(name),
            )
