"""Job control from the dashboard: ask first, then cancel, hold, release or re-prioritise.

Screens post ``CancelRequested`` and ``UrgencyRequested``; the app (a :class:`JobControl`)
confirms in a modal that names the job, or the count of jobs, it will act on, then acts on each
job in a worker and reports every refusal as a notification with the server's reason: expected
errors never end the app (STYLE.md §6).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from textual import work
from textual.app import App

from flux_restful_client import AsyncClient, FluxRestfulError

from .screens.confirm import ConfirmScreen
from .screens.jobs import JobsScreen
from .screens.urgency import UrgencyScreen
from .store import JobStore

__all__ = ["JobControl", "confirmation", "describe_jobs"]

_VERBS = {"cancel": "Cancel", "hold": "Hold", "release": "Release"}


def describe_jobs(ids: Sequence[int]) -> str:
    """The jobs in words: ``job 1006``, or ``3 jobs (1006, 1007, 1008)`` (five ids at most)."""
    if len(ids) == 1:
        return f"job {ids[0]}"
    shown = ", ".join(map(str, ids[:5])) + ("…" if len(ids) > 5 else "")
    return f"{len(ids)} jobs ({shown})"


def confirmation(action: str, ids: Sequence[int]) -> tuple[str, str]:
    """The question asked before ``action`` (cancel, hold, release) and its button's label.

    Both name what is acted on as the table shows it: ``Release job 1006?`` with a ``Release
    job`` button, ``Release 3 jobs (1006, 1007, 1008)?`` with ``Release jobs``.
    """
    verb = _VERBS[action]
    question = f"{verb} {describe_jobs(ids)}?"
    if action == "hold":
        question += " It stays queued until released."
    return question, f"{verb} {'job' if len(ids) == 1 else 'jobs'}"


class JobControl(App[None]):
    """The dashboard's job control: confirmations and the workers that act on the answer."""

    client: AsyncClient
    """The SDK client."""
    store: JobStore
    """Every known job."""
    read_only: bool
    """Whether actions are hidden."""
    jobs_screen: JobsScreen
    """The main screen, whose marks are cleared once an action is done."""

    if TYPE_CHECKING:  # the app's own worker, declared here so that this part type-checks

        def fetch_jobs(self, ids: list[int]) -> object:
            """Fetch the jobs' info again, once an action changed them."""

    def confirm_cancel(self, job_ids: Iterable[int]) -> None:
        """Ask, then cancel these jobs."""
        ids = list(job_ids)
        if self.read_only or not ids:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.cancel_jobs(ids)

        question, label = confirmation("cancel", ids)
        self.push_screen(ConfirmScreen(question, confirm_label=label), answered)

    def confirm_urgency(self, job_ids: Iterable[int], action: str) -> None:
        """Ask, then hold, release or set the urgency of these jobs (``action``)."""
        ids = list(job_ids)
        if self.read_only or not ids:
            return
        if action == "urgency":
            first = self.store.jobs.get(ids[0])

            def chosen(value: int | None) -> None:
                if value is not None:
                    self.change_urgency(ids, action, value)

            self.push_screen(
                UrgencyScreen(describe_jobs(ids), first.urgency if first else None), chosen
            )
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.change_urgency(ids, action, None)

        question, label = confirmation(action, ids)
        self.push_screen(ConfirmScreen(question, confirm_label=label), answered)

    @work(group="urgency")
    async def change_urgency(self, ids: list[int], action: str, value: int | None) -> None:
        """Hold, release or set the urgency of jobs; each refusal is a notification."""
        title = {"hold": "Hold", "release": "Release"}.get(action, "Urgency")
        done = 0
        for job_id in ids:
            try:
                if action == "hold":
                    await self.client.hold_job(job_id)
                elif action == "release":
                    await self.client.release_job(job_id)
                else:
                    await self.client.set_urgency(job_id, value if value is not None else 16)
            except FluxRestfulError as exc:
                self.notify(str(exc), title=f"{title} job {job_id}", severity="error")
            else:
                done += 1
        if done:
            jobs = f"{done} job{'s' if done > 1 else ''}"
            said = {"hold": f"{jobs} held", "release": f"{jobs} released"}.get(
                action, f"Urgency {value} set for {jobs}"
            )
            self.notify(said, title=title)
            self.fetch_jobs(ids)
        if self.jobs_screen.is_mounted:
            self.jobs_screen.table.action_clear_marks()

    @work(group="cancel")
    async def cancel_jobs(self, ids: list[int]) -> None:
        """Cancel jobs; each refusal is a notification with the server's reason."""
        done = 0
        for job_id in ids:
            try:
                await self.client.cancel_job(job_id)
            except FluxRestfulError as exc:
                self.notify(str(exc), title=f"Cancel job {job_id}", severity="error")
            else:
                done += 1
        if done:
            self.notify(f"Cancel requested for {done} job{'s' if done > 1 else ''}", title="Cancel")
        if self.jobs_screen.is_mounted:
            self.jobs_screen.table.action_clear_marks()
