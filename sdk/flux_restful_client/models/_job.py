"""A job and what is done to it: info, eventlog, nodes; the answers of job control and submits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._convert import opt_float, opt_int, opt_str

__all__ = [
    "BatchEntry",
    "BatchResult",
    "CancelResult",
    "DryRun",
    "JobEvent",
    "JobInfo",
    "Node",
    "SignalResult",
    "TERMINAL_STATE",
    "UrgencyChange",
]


TERMINAL_STATE = "INACTIVE"
"""The Flux state a job ends in."""


@dataclass(frozen=True)
class JobInfo:
    """A job as ``GET /v1/jobs/{id}`` describes it."""

    id: int
    """Job id (decimal)."""
    state: str
    """Flux state name: ``DEPEND`` ... ``RUN``, ``CLEANUP``, ``INACTIVE``."""
    result: str = ""
    """``COMPLETED``, ``FAILED``, ``CANCELED``, ``TIMEOUT``, or ``""`` while active."""
    returncode: int | None = None
    """Exit code once the job ended (negative for a signal), else ``None``."""
    name: str = ""
    """Job name (the command's first word unless given)."""
    user: str | None = None
    """API user who submitted the job, when the server records one."""
    runtime: float | None = None
    """Seconds the job has been running (or ran)."""
    t_submit: float | None = None
    """Submit time (epoch seconds)."""
    pending_reason: str | None = None
    """Why the job is not running yet, in plain words (``held (urgency 0)``, ``waiting for 4
    cores (2 free of 8)``, ``waiting on afterok:ƒ2zq...``), else ``None``."""
    urgency: int | None = None
    """The job's urgency (0 held, 16 default, 31 expedited), when the server reports it."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @property
    def is_held(self) -> bool:
        """Whether the job waits with urgency 0 (``hold_job``) until released."""
        return self.urgency == 0 and not self.is_done

    @property
    def is_done(self) -> bool:
        """Whether the job reached its final state."""
        return self.state == TERMINAL_STATE

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobInfo:
        """Build from the API's job-info object."""
        state = data.get("state", "")
        return cls(
            id=int(data["id"]),
            state=str(state) if state is not None else "",
            result=str(data.get("result") or ""),
            returncode=opt_int(data.get("returncode")),
            name=str(data.get("name") or ""),
            user=data.get("user") if isinstance(data.get("user"), str) else None,
            runtime=opt_float(data.get("runtime")),
            t_submit=opt_float(data.get("t_submit")),
            pending_reason=opt_str(data.get("pending_reason")),
            urgency=opt_int(data.get("urgency")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class UrgencyChange:
    """The answer to ``hold_job``, ``release_job`` and ``set_urgency``."""

    id: int
    """The job."""
    urgency: int
    """Its urgency now."""
    old_urgency: int
    """Its urgency before (the same when nothing changed)."""
    message: str = ""
    """The server's words (``Job is held.``, ``Job is not held.``...)."""

    @property
    def changed(self) -> bool:
        """Whether the urgency changed."""
        return self.urgency != self.old_urgency

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UrgencyChange:
        """Build from the API's answer."""
        return cls(
            id=int(data["id"]),
            urgency=int(data["urgency"]),
            old_urgency=int(data["old_urgency"]),
            message=str(data.get("Message") or ""),
        )


@dataclass(frozen=True)
class SignalResult:
    """The answer to ``signal_job``."""

    id: int
    """The job."""
    signal: int
    """The signal's number."""
    name: str
    """The signal's name (``SIGUSR1``)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignalResult:
        """Build from the API's answer."""
        return cls(id=int(data["id"]), signal=int(data["signal"]), name=str(data["name"]))


@dataclass(frozen=True)
class CancelResult:
    """The answer to ``cancel_jobs``: which jobs were asked to cancel."""

    ids: tuple[int, ...]
    """The jobs asked to cancel (active jobs matching the filters that the caller may cancel)."""
    message: str = ""
    """The server's words (``3 jobs requested to cancel.``)."""

    @property
    def count(self) -> int:
        """How many jobs were asked to cancel."""
        return len(self.ids)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CancelResult:
        """Build from the API's answer."""
        return cls(
            ids=tuple(int(i) for i in data.get("ids", [])), message=str(data.get("Message") or "")
        )


@dataclass(frozen=True)
class Node:
    """A node that is up."""

    name: str
    """Host name."""
    cores: int | None = None
    """Cores on the node (``detail=true`` only)."""
    gpus: int | None = None
    """GPUs on the node (``detail=true`` only)."""
    free_cores: int | None = None
    """Cores not allocated to a job (``detail=true`` only)."""
    free_gpus: int | None = None
    """GPUs not allocated to a job (``detail=true`` only)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Node:
        """Build from a node name or a detailed node object."""
        if isinstance(data, str):
            return cls(name=data)
        return cls(
            name=str(data.get("name", "")),
            cores=opt_int(data.get("cores")),
            gpus=opt_int(data.get("gpus")),
            free_cores=opt_int(data.get("cores_free", data.get("free_cores"))),
            free_gpus=opt_int(data.get("gpus_free", data.get("free_gpus"))),
        )


@dataclass(frozen=True)
class JobEvent:
    """One entry of a job's eventlog (``GET /v1/jobs/{id}/events``)."""

    name: str
    """Event name (``submit``, ``alloc``, ``start``, ``finish``, ``clean``...)."""
    timestamp: float | None = None
    """When it happened (epoch seconds)."""
    context: Mapping[str, Any] = field(default_factory=dict)
    """The event's context object."""
    seq: int | None = None
    """Position in the eventlog."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobEvent:
        """Build from one eventlog entry."""
        context = data.get("context")
        return cls(
            name=str(data.get("name", data.get("event", ""))),
            timestamp=opt_float(data.get("timestamp", data.get("t"))),
            context=dict(context) if isinstance(context, Mapping) else {},
            seq=opt_int(data.get("seq")),
        )


@dataclass(frozen=True)
class BatchEntry:
    """The result of one entry of a batch submit (``submit_many``)."""

    index: int
    """Position of the entry in the batch, from 0."""
    id: int | None = None
    """The job's id when it was accepted."""
    status: int | None = None
    """The HTTP status the entry failed with (400), when it failed."""
    code: str | None = None
    """Machine code of the failure (``invalid_request``, ``refused``, ``unsatisfiable``)."""
    detail: str | None = None
    """Why it failed, for people."""
    errors: tuple[str, ...] = ()
    """Every problem found in the entry."""
    request: Mapping[str, Any] | None = None
    """In a dry run: the normalised request."""
    jobspec: Mapping[str, Any] | None = None
    """In a dry run on the flux executor: the jobspec it would submit."""

    @property
    def ok(self) -> bool:
        """Whether the entry was accepted (or, in a dry run, is valid)."""
        return self.status is None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchEntry:
        """Build from one item of the answer's ``results``."""
        errors = data.get("errors")
        return cls(
            index=int(data["index"]),
            id=opt_int(data.get("id")),
            status=opt_int(data.get("status")),
            code=data.get("code") if isinstance(data.get("code"), str) else None,
            detail=data.get("detail") if isinstance(data.get("detail"), str) else None,
            errors=tuple(str(e) for e in errors) if isinstance(errors, list) else (),
            request=data.get("request") if isinstance(data.get("request"), Mapping) else None,
            jobspec=data.get("jobspec") if isinstance(data.get("jobspec"), Mapping) else None,
        )


@dataclass(frozen=True)
class BatchResult:
    """The answer to a batch submit: one entry per job, in the order they were given."""

    entries: tuple[BatchEntry, ...]
    """Every entry's result, in order."""
    message: str = ""
    """The server's summary (``"Submitted 4 of 5 jobs."``)."""
    dry_run: bool = False
    """Whether nothing was submitted (a dry run)."""
    replayed: bool = False
    """Whether the server answered a retry of an earlier request with its ids."""

    @property
    def ids(self) -> list[int | None]:
        """The job ids in order, ``None`` for an entry that failed."""
        return [entry.id for entry in self.entries]

    @property
    def failed(self) -> list[BatchEntry]:
        """The entries that failed."""
        return [entry for entry in self.entries if not entry.ok]

    @property
    def ok(self) -> bool:
        """Whether every entry was accepted (or is valid, in a dry run)."""
        return not self.failed

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, replayed: bool = False) -> BatchResult:
        """Build from the answer of ``POST /v1/jobs/batch``."""
        return cls(
            entries=tuple(BatchEntry.from_json(item) for item in data["results"]),
            message=str(data.get("Message", "")),
            dry_run=bool(data.get("dry_run", False)),
            replayed=replayed,
        )


@dataclass(frozen=True)
class DryRun:
    """What a dry-run submit answers: the request as the server would run it."""

    request: Mapping[str, Any]
    """The normalised request (command as argv, counts, name, envars, queue...)."""
    jobspec: Mapping[str, Any] | None = None
    """The jobspec the flux executor would submit (``None`` on the local executor)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DryRun:
        """Build from a dry-run answer."""
        jobspec = data.get("jobspec")
        return cls(
            request=dict(data["request"]),
            jobspec=dict(jobspec) if isinstance(jobspec, Mapping) else None,
        )
