"""Job control: cancel, urgency and signals, with Flux's refusals mapped onto the executor's."""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable

from ...domain.errors import JobInactive, JobNotFound, JobStateConflict, SubmitRefused
from ...domain.record import JobRecord
from ...domain.states import JobState
from ._connect import Connection, reason

__all__ = ["Control"]


class Control:
    """Changes running and waiting jobs.

    Args:
        conn: The bindings and the reactor.
        info: Looks up a job's record (``JobNotFound`` when there is none), to say why Flux
            refused.
    """

    def __init__(self, conn: Connection, info: Callable[[int], Awaitable[JobRecord]]) -> None:
        self._conn = conn
        self._info = info

    async def cancel(self, job_id: int) -> None:
        """Cancel a job (``JobInactive`` once it has ended)."""
        flux = self._conn.flux
        try:
            await self._conn.request(lambda h: flux.job.cancel_async(h, job_id), lambda f: f.get())
        except FileNotFoundError as exc:
            if "inactive" not in reason(exc):
                await self._info(job_id)  # JobNotFound unless job-list still knows it
            raise JobInactive("job is inactive") from None
        except OSError as exc:
            raise SubmitRefused(f"Flux refused to cancel job {job_id}: {reason(exc)}") from None

    async def set_urgency(self, job_id: int, urgency: int) -> int:
        """Set a waiting job's urgency; return the old one."""
        try:
            old: int = await self._conn.request(
                lambda h: h.rpc("job-manager.urgency", {"id": job_id, "urgency": urgency}),
                lambda f: int(f.get()["old_urgency"]),
            )
        except OSError as exc:
            raise await self._error(job_id, exc) from None
        return old

    async def signal(self, job_id: int, signum: int) -> None:
        """Send ``signum`` to a running job's tasks."""
        flux = self._conn.flux
        try:
            await self._conn.request(
                lambda h: flux.job.kill_async(h, job_id, signum), lambda f: f.get()
            )
        except OSError as exc:
            raise await self._error(job_id, exc) from None

    async def _error(self, job_id: int, exc: OSError) -> Exception:
        """Map Flux's refusal of an urgency change or a signal onto the executor's errors."""
        try:
            record = await self._info(job_id)
        except JobNotFound as missing:
            return missing
        state = JobState(record["state"])
        if state is JobState.INACTIVE:
            return JobInactive("job is inactive")
        if exc.errno in (errno.EINVAL, errno.EPERM, errno.ENOENT, errno.EPROTO):
            return JobStateConflict(f"it is {state.name}: {reason(exc)}")
        return SubmitRefused(f"Flux refused: {reason(exc)}")
