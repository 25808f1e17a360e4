"""Recording a new job: the checks a submit passes, its environment, its first log and its row.

A job is recorded in two steps: its log file, holding its first events (``submit`` ...
``priority``, or ``dependency-add`` while it waits), is written before the store transaction,
and the transaction that inserts its row applies the same events (``Ingestion._apply``), so the
job and its first events commit together before the answer. A file is a rename of a spare
(``spares``) when one is ready.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import orjson

from ...domain.environment import JobEnvironments
from ...domain.errors import (
    ExecutorUnavailable,
    SubmitRefused,
)
from ...domain.events import JobEvent
from ...domain.owner import Owner, system_account
from ...domain.request import JobRequest
from ...domain.states import JobState
from ...settings import SettingsError
from .depend import describe
from .ingest import encode_events
from .joblog import (
    Cursor,
)
from .spares import SpareFiles
from .state import ActiveJob, ExecutorState


def job_account(name: str) -> Owner:
    """The account of ``--job-user``: its identity, and ``/`` as home when it has none.

    Raises:
        SettingsError: No such account.
    """
    account = system_account(name)
    if account is None or account.uid is None:
        raise SettingsError(f"--job-user {name!r} is not a system account on this machine")
    if not account.home or not os.path.isdir(account.home):
        account = replace(account, home="/")  # nobody's home is often /nonexistent
    return account


class Recording(ExecutorState):
    """The executor's part that records new jobs; see the module docstring."""

    _job_account: Owner | None
    """The system account every job runs as (``--job-user``), or ``None``."""
    _environments: JobEnvironments
    """Every job's environment: the allowlisted server part (kept per owner), then its own."""
    _spares: SpareFiles
    """Empty files made ahead, renamed into place as jobs' logs."""

    def _prepare(self, request: JobRequest, owner: Owner) -> tuple[Owner, str]:
        """Check that ``request`` can run here; return the account it runs as and its cwd.

        Raises:
            SubmitRefused: It cannot, with the reason (``UnsatisfiableRequest``: never fits).
        """
        if request.unsupported:
            raise SubmitRefused(
                "The local executor cannot run this jobspec: it uses "
                + "; ".join(request.unsupported)
                + " (the flux executor can)"
            )
        self.cluster.limits().check(request)
        if owner.uid is None and self._job_account is not None:
            owner = replace(self._job_account, user=owner.user)
        cwd = request.workdir or owner.home or os.getcwd()
        if not os.path.isdir(cwd):
            raise SubmitRefused(f"workdir {cwd!r} does not exist or is not a directory")
        return owner, cwd

    def _record(
        self, job_id: int, request: JobRequest, owner: Owner, cwd: str, chown: bool, now: float
    ) -> tuple[dict[str, Any], ActiveJob, list[JobEvent]]:
        """Write the job's log (its first events); return its store row, memory record and events.

        The memory record's cursor is past the events written, which are returned to be applied.

        Raises:
            ExecutorUnavailable: The log cannot be created.
        """
        env = self._environments.build(request.envars, owner)
        spec = {
            "argv": list(request.command),
            "env": env,
            "cwd": cwd,
            "options": dict(request.option_flags),
            "is_launcher": request.is_launcher,
            "num_nodes": request.num_nodes,
            "exclusive": request.exclusive,
            "num_tasks": request.num_tasks,
            "cores_per_task": request.cores_per_task,
            "gpus_per_task": request.gpus_per_task,
            "owner": {
                "uid": owner.uid,
                "gid": owner.gid,
                "groups": list(owner.groups),
                "home": owner.home,
                "login": owner.login,
            },
        }
        userid = owner.uid if owner.uid is not None else os.getuid()
        row = {
            "id": job_id,
            "user": owner.user,
            "userid": userid,
            "name": request.job_name,
            "state": int(JobState.NEW),
            "urgency": request.urgency,
            "t_submit": now,
            "ntasks": request.num_tasks,
            "ncores": request.num_tasks * request.cores_per_task,
            "ngpus": request.num_tasks * request.gpus_per_task,
            "duration": request.runtime,
            "cwd": cwd,
            "spec": orjson.dumps(spec).decode(),
        }
        priority = request.urgency  # Flux's default priority plugin: priority = urgency
        events: list[tuple[str, dict[str, Any]]] = [
            ("submit", {"userid": userid, "urgency": request.urgency, "flags": 0, "version": 1}),
            ("validate", {}),
        ]
        waiting = self._judge_dependencies(job_id, request.dependencies)
        if waiting:
            events += [("dependency-add", {"description": describe(d)}) for d in waiting]
        else:
            events += [("depend", {}), ("priority", {"priority": priority})]
        data, first = encode_events(job_id, 0, events, now)
        path = self._log_path(job_id)
        try:
            fd = self._spares.create(path)
        except OSError as exc:
            raise ExecutorUnavailable(
                f"cannot record the job in {self.jobs_dir}: {exc.strerror}"
            ) from None
        try:
            if chown and owner.uid is not None:
                os.fchown(fd, owner.uid, owner.gid if owner.gid is not None else -1)
            os.write(fd, data)
        finally:
            os.close(fd)
        searchable = {k: row[k] for k in ("id", "name", "user", "cwd", "state")}
        job = ActiveJob(
            JobState.NEW,
            priority,
            cursor=Cursor(len(data), len(first)),
            user=owner.user,
            request=request,
            searchable=searchable,
            spec=spec,
            urgency=request.urgency,
            waiting=waiting,
        )
        for dependency in waiting:
            self._dependents.setdefault(dependency.job_id, set()).add(job_id)
        return row, job, first
