"""The submit path: requests to jobspecs (signed in multi-user mode), all in flight at once.

Every ``submit_async`` of a batch is started in the reactor before the first answer is awaited,
so Flux ingests them pipelined; each job is added to the index when its id arrives (before the
journal says so), with its idempotency key.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from ...domain.environment import JobEnvironments
from ...domain.errors import ExecutorUnavailable, SubmitRefused
from ...domain.owner import Owner
from ...domain.request import JobRequest, SubmitKey
from ...domain.resources import ResourceLimits
from ...settings import Settings
from ._connect import Connection, reason
from ._index import JobIndex
from ._jobspec import build_jobspec
from ._reactor import FluxFuture, Handle

__all__ = ["Submitter"]


class Submitter:
    """Turns requests into Flux jobs; see the module docstring."""

    def __init__(self, conn: Connection, settings: Settings, index: JobIndex) -> None:
        self._conn = conn
        self._settings = settings
        self._index = index
        self.limits = ResourceLimits(1, 1, 0)
        """The largest job the instance can ever run (learnt from its resources)."""
        self.queues: tuple[str, ...] = ()
        """The instance's named queues (``[queues]`` in its config); empty: one anonymous."""
        self.environments = JobEnvironments(os.environ, settings.env_passthrough)
        """Every job's environment (the server's share filtered once per owner: costly)."""

    def jobspec(
        self, request: JobRequest, owner: Owner, key: SubmitKey | None = None, index: int = 0
    ) -> str:
        """The jobspec for ``request`` (unsigned).

        Raises:
            SubmitRefused: The request can never fit, or cannot be expressed.
        """
        self.limits.check(request)
        s = self._settings
        try:
            jobspec = build_jobspec(
                request, owner, server_options=s.option_flags,
                environments=self.environments,
                queue=request.queue if self.queues else None,
                key=None if key is None else {"key": key.key, "fingerprint": key.fingerprint,
                                              "index": index},
            )  # fmt: skip
        except (ValueError, TypeError) as exc:
            raise SubmitRefused(str(exc)) from None
        return jobspec

    async def dry_run(self, request: JobRequest, owner: Owner) -> dict[str, Any] | None:
        """The jobspec ``submit`` would send, as a document.

        Raises:
            SubmitRefused: The server is stopping, or the request would be refused.
        """
        if self._conn.stopping:
            raise SubmitRefused("the server is shutting down")
        document: dict[str, Any] = json.loads(self.jobspec(request, owner))
        return document

    async def submit_many(
        self,
        requests: Sequence[tuple[int, JobRequest]],
        owner: Owner,
        key: SubmitKey | None = None,
    ) -> list[int | SubmitRefused]:
        """Submit every job at once: all ``submit_async`` calls are in flight together."""
        if self._conn.stopping:
            raise ExecutorUnavailable("the server is shutting down")
        flux = self._conn.flux
        flags: dict[str, Any] = {}
        signed = owner.uid is not None and owner.uid != os.getuid()
        if signed:
            flags["pre_signed"] = True
        outcomes: list[int | SubmitRefused | asyncio.Future[int]] = []
        reactor = self._conn.r()
        for index, request in requests:
            try:
                jobspec = self.jobspec(request, owner, key, index)
                if signed:
                    assert owner.uid is not None
                    jobspec = _sign_as(owner.uid, jobspec)
            except SubmitRefused as exc:
                outcomes.append(exc)
                continue
            outcomes.append(reactor.request(_submitter(flux, jobspec, request.urgency, flags), _id))
        results: list[int | SubmitRefused] = []
        for (index, request), outcome in zip(requests, outcomes, strict=True):
            if isinstance(outcome, asyncio.Future):
                try:
                    job_id = await outcome
                except OSError as exc:
                    results.append(SubmitRefused(reason(exc)))
                    continue
                self._index.add(job_id, owner.user, request.job_name)
                if key is not None:
                    self._index.add_key(key, index, job_id)
                results.append(job_id)
            else:
                results.append(outcome)
        return results


def _submitter(
    flux: Any, jobspec: str, urgency: int, flags: dict[str, Any]
) -> Callable[[Handle], FluxFuture]:
    """Start one ``submit_async`` in the reactor (a closure per job, so none shares a jobspec)."""
    return lambda h: flux.job.submit_async(h, jobspec, urgency=urgency, **flags)


def _id(future: FluxFuture) -> int:
    return int(future.get_id())


def _sign_as(uid: int, jobspec: str) -> str:
    """Sign ``jobspec`` on behalf of ``uid`` (multi-user mode), or refuse with the reason."""
    try:
        from flux.security import SecurityContext
    except ImportError:
        raise SubmitRefused(
            "multi-user mode with the flux executor needs flux-security's Python bindings to "
            "sign jobs as the user (install flux-security and build flux-core with it)"
        ) from None
    try:
        signed = SecurityContext().sign_wrap_as(uid, jobspec.encode(), mech_type="none")
    except OSError as exc:
        raise SubmitRefused(f"cannot sign the job as uid {uid}: {reason(exc)}") from None
    return signed.decode() if isinstance(signed, bytes) else str(signed)
