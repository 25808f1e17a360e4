"""The flux executor: drives a real Flux instance through its Python bindings.

All Flux calls run in one reactor thread with its own handle (``_reactor``); the event loop only
awaits their results, so concurrent HTTP submits are pipelined in Flux. Submits go through
``JobspecV1.from_command`` and ``submit_async``; info and listings come from job-list (a page of
full records per listing, selected on an index of every job kept from the job-manager journal,
which also gives the server-wide event feed); cancel is ``flux.job.cancel``; nodes come from
``flux.resource``; a job's log merges its eventlog with ``guest.output`` (``_joblog``).

The ``flux`` package is imported lazily, in :meth:`FluxExecutor.start` and :func:`flux_available`,
so the server runs without it when the local executor is chosen.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from ...domain.environment import job_environment
from ...domain.errors import (
    ExecutorUnavailable,
    JobInactive,
    JobNotFound,
    JobStateConflict,
    SubmitRefused,
)
from ...domain.events import JobEvent, LogEntry, OutputLine
from ...domain.owner import Owner
from ...domain.query import JobFilter, Page
from ...domain.record import JobRecord, search_text
from ...domain.request import JobRequest, SubmitKey, Submitted, dependency_text
from ...domain.resources import NodeInfo, ResourceLimits
from ...domain.states import JobState
from ...limits import LimitError, compile_search
from ...settings import Settings, SettingsError
from ..base import batch_output
from ..hub import Hub
from ._index import JobIndex, Summary
from ._joblog import JobLog
from ._jobspec import build_jobspec
from ._parse import eventlog_entries, node_info, output_lines
from ._reactor import FluxFuture, Handle, ReactorThread

log = logging.getLogger("flux_restful.flux")

INSTALL_HINT = (
    "The flux executor needs flux-core's Python bindings and a running Flux instance: install "
    "flux-core (see docs/flux.md), put its site-packages on PYTHONPATH (for example "
    "PYTHONPATH=/opt/flux/lib/python3.11/site-packages), and run the server inside an instance "
    "(`flux start flux-restful serve --executor flux`) or set FLUX_URI to the instance's URI "
    "(`flux uri --local <jobid>`, or `flux getattr local-uri` inside it)."
)
FEED_HISTORY = 200_000
"""Journal events kept in memory for ``feed(since=...)`` replays."""
MAX_LOGS = 512
"""Complete job logs kept in memory (followed and incomplete ones are always kept)."""
BATCH = 1000
"""Largest batch yielded from history."""
SMALL_PAGE = 8
"""Pages up to this size fetch records one job-list lookup per job, in parallel."""


class FluxUnavailable(SettingsError):
    """The flux executor cannot run here: no bindings, or no instance answers. Says what to do."""


def _import_flux() -> Any:
    try:
        import flux
        import flux.job
        import flux.job.journal
        import flux.resource.list
    except ImportError as exc:
        raise FluxUnavailable(
            f"cannot import the flux Python bindings ({exc}). {INSTALL_HINT}"
        ) from None
    return flux


def _where() -> str:
    uri = os.environ.get("FLUX_URI")
    return f"FLUX_URI={uri}" if uri else "the default URI (FLUX_URI is not set)"


def flux_available(timeout: float = 5.0) -> tuple[bool, str]:
    """Whether the flux executor can run here: the bindings import and an instance answers.

    Returns:
        ``(True, description of the instance)`` or ``(False, the reason and what to do)``.
    """
    try:
        flux = _import_flux()
    except FluxUnavailable as exc:
        return False, str(exc)
    try:
        handle = flux.Flux()
        future = handle.rpc("job-list.job-stats")
        future.wait_for(timeout)
        future.get()
        size = handle.attr_get("size")
        uri = handle.attr_get("local-uri")
    except (OSError, TimeoutError) as exc:
        return False, f"no Flux instance answers at {_where()}: {exc}. {INSTALL_HINT}"
    return True, f"Flux instance {uri} with {size} broker(s)"


PROBE_TIMEOUT = 2.0
"""Seconds the readiness probe waits for the broker."""


class FluxExecutor:
    """Runs jobs in a Flux instance; see the module docstring.

    Args:
        settings: Server settings (shell options, environment passthrough).
        hub: Where feed events are published for live subscribers.
        uri: Instance to drive; ``None`` uses ``FLUX_URI`` or the enclosing instance.
    """

    name = "flux"

    def __init__(self, settings: Settings, hub: Hub | None = None, uri: str | None = None) -> None:
        self.settings = settings
        self.hub = hub or Hub()
        self.uri = uri
        self.index = JobIndex()
        self._flux: Any = None
        self._reactor: ReactorThread | None = None
        self._limits = ResourceLimits(1, 1, 0)
        self._feed: deque[JobEvent] = deque(maxlen=FEED_HISTORY)
        self._feed_seq = 0
        self._journal_in: deque[Any] = deque()
        self._journal_posted = False
        self._journal_ready: asyncio.Event | None = None
        self._journal: Any = None
        self._logs: OrderedDict[int, JobLog] = OrderedDict()
        self._opening: dict[int, asyncio.Future[JobLog]] = {}
        self._users: dict[int, str | None] = {}
        self._stopping = False
        self._server_env: dict[str, str] | None = None
        self._queues: tuple[str, ...] = ()
        """The instance's named queues (``[queues]`` in its config); empty: one anonymous."""

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, learn the resources, and replay the journal into the index and feed.

        Raises:
            FluxUnavailable: No bindings, or no instance answers (with what to do).
        """
        self._flux = _import_flux()
        # The server's share of every job's environment, filtered once (it is costly per submit).
        self._server_env = job_environment(os.environ, {}, Owner(), self.settings.env_passthrough)
        loop = asyncio.get_running_loop()
        reactor = ReactorThread(self.uri)
        try:
            await asyncio.to_thread(reactor.start, loop)
        except OSError as exc:
            raise FluxUnavailable(
                f"cannot connect to Flux at {_where()}: {exc}. {INSTALL_HINT}"
            ) from None
        self._reactor = reactor
        try:
            await asyncio.wait_for(self.nodes(), 30)
            config = await asyncio.wait_for(
                reactor.request(lambda h: h.rpc("config.get"), lambda f: f.get()), 30
            )
            queues = config.get("queues") if isinstance(config, dict) else None
            self._queues = tuple(sorted(queues)) if isinstance(queues, dict) else ()
            self._journal_ready = asyncio.Event()
            reactor.call(self._start_journal)
            await asyncio.wait_for(self._journal_ready.wait(), 120)
        except (OSError, TimeoutError) as exc:
            await asyncio.to_thread(reactor.stop)
            self._reactor = None
            raise FluxUnavailable(
                f"the Flux instance at {_where()} does not answer: {exc}"
            ) from None
        log.info("flux executor: %d jobs known, limits %s", len(self.index.jobs), self._limits)

    async def stop(self) -> None:
        self._stopping = True
        reactor = self._reactor
        if reactor is None:
            return
        journal = self._journal
        if journal is not None:
            reactor.call(lambda _h: _quietly(journal.stop))
        for jl in self._logs.values():
            jl.close_followers()
        self.hub.close()
        self._reactor = None
        await asyncio.to_thread(reactor.stop)

    def _r(self) -> ReactorThread:
        if self._reactor is None:
            raise SubmitRefused("the flux executor is not running")
        return self._reactor

    # -- the Executor interface -----------------------------------------------------------------
    def readiness(self) -> str | None:
        return "the server is shutting down" if self._stopping else None

    async def probe(self) -> str | None:
        unready = self.readiness()
        if unready is not None or self._reactor is None:
            return unready or "the flux executor is not running"
        try:
            await asyncio.wait_for(
                self._reactor.request(lambda h: h.rpc("job-list.job-stats"), lambda f: f.get()),
                PROBE_TIMEOUT,
            )
        except TimeoutError:
            return f"the Flux instance at {_where()} did not answer within {PROBE_TIMEOUT:g} s"
        except OSError as exc:
            return f"the Flux instance at {_where()} does not answer: {_reason(exc)}"
        return None

    def limits(self) -> ResourceLimits:
        return self._limits

    def queues(self) -> tuple[str, ...]:
        return self._queues or ("default",)

    def _jobspec(
        self, request: JobRequest, owner: Owner, key: SubmitKey | None = None, index: int = 0
    ) -> str:
        """The jobspec (signed in multi-user mode) for ``request``, or the refusal's reason.

        Raises:
            SubmitRefused: The request cannot be expressed or signed.
        """
        self._limits.check(request)
        try:
            jobspec = build_jobspec(
                request, owner, server_options=self.settings.option_flags,
                passthrough=self.settings.env_passthrough, server_env=self._server_env,
                queue=request.queue if self._queues else None,
                key=None if key is None else {"key": key.key, "fingerprint": key.fingerprint,
                                              "index": index},
            )  # fmt: skip
        except (ValueError, TypeError) as exc:
            raise SubmitRefused(str(exc)) from None
        return jobspec

    async def dry_run(self, request: JobRequest, owner: Owner) -> dict[str, Any] | None:
        if self._stopping:
            raise SubmitRefused("the server is shutting down")
        document: dict[str, Any] = json.loads(self._jobspec(request, owner))
        return document

    async def submit(self, request: JobRequest, owner: Owner) -> int:
        (outcome,) = await self.submit_many([(0, request)], owner)
        if isinstance(outcome, SubmitRefused):
            raise outcome
        return outcome

    async def submitted(self, user: str | None, key: str) -> Submitted | None:
        return self.index.submitted(user, key)

    async def submit_many(
        self,
        requests: Sequence[tuple[int, JobRequest]],
        owner: Owner,
        key: SubmitKey | None = None,
    ) -> list[int | SubmitRefused]:
        """Submit every job at once: all ``submit_async`` calls are in flight together."""
        if self._stopping:
            raise ExecutorUnavailable("the server is shutting down")
        flux = self._flux
        flags: dict[str, Any] = {}
        signed = owner.uid is not None and owner.uid != os.getuid()
        if signed:
            flags["pre_signed"] = True
        outcomes: list[int | SubmitRefused | asyncio.Future[int]] = []
        reactor = self._r()
        for index, request in requests:
            try:
                jobspec = self._jobspec(request, owner, key, index)
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
                    results.append(SubmitRefused(_reason(exc)))
                    continue
                self.index.add(job_id, owner.user, request.job_name)
                if key is not None:
                    self.index.add_key(key, index, job_id)
                results.append(job_id)
            else:
                results.append(outcome)
        return results

    async def cancel(self, job_id: int) -> None:
        flux = self._flux
        try:
            await self._r().request(lambda h: flux.job.cancel_async(h, job_id), lambda f: f.get())
        except FileNotFoundError as exc:
            if "inactive" not in _reason(exc):
                await self.info(job_id)  # JobNotFound unless job-list still knows it
            raise JobInactive("job is inactive") from None
        except OSError as exc:
            raise SubmitRefused(f"Flux refused to cancel job {job_id}: {_reason(exc)}") from None

    async def set_urgency(self, job_id: int, urgency: int) -> int:
        try:
            old: int = await self._r().request(
                lambda h: h.rpc("job-manager.urgency", {"id": job_id, "urgency": urgency}),
                lambda f: int(f.get()["old_urgency"]),
            )
        except OSError as exc:
            raise await self._control_error(job_id, exc) from None
        return old

    async def signal(self, job_id: int, signum: int) -> None:
        flux = self._flux
        try:
            await self._r().request(
                lambda h: flux.job.kill_async(h, job_id, signum), lambda f: f.get()
            )
        except OSError as exc:
            raise await self._control_error(job_id, exc) from None

    async def _control_error(self, job_id: int, exc: OSError) -> Exception:
        """Map Flux's refusal of an urgency change or a signal onto the executor's errors."""
        try:
            record = await self.info(job_id)
        except JobNotFound as missing:
            return missing
        state = JobState(record["state"])
        if state is JobState.INACTIVE:
            return JobInactive("job is inactive")
        if exc.errno in (errno.EINVAL, errno.EPERM, errno.ENOENT, errno.EPROTO):
            return JobStateConflict(f"it is {state.name}: {_reason(exc)}")
        return SubmitRefused(f"Flux refused: {_reason(exc)}")

    async def info(self, job_id: int) -> JobRecord:
        flux = self._flux
        try:
            record: JobRecord = await self._r().request(
                lambda h: flux.job.job_list_id(h, job_id, attrs=["all"]), lambda f: f.get_job()
            )
        except (FileNotFoundError, ValueError, OverflowError):
            raise JobNotFound(job_id) from None
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EPROTO, errno.EINVAL):
                raise JobNotFound(job_id) from None
            raise
        record["user"] = await self._user(job_id)
        await self._add_reasons([record])
        return record

    async def query(
        self, filters: JobFilter, page: Page, *, summary: bool = False
    ) -> list[JobRecord]:
        if filters.text:
            return _window(await self._search(filters), page)
        summaries = self.index.select(filters, page)
        if not summary:
            return await self._records(summaries)
        # A started job's summary is all in the index (no RPC); a pending one's needs job-list
        # for its pending reason. Each job is answered one way, as row_revisions() says.
        kept = {s.id: r for s in summaries if _indexed(s) and (r := s.record()) is not None}
        fetched = {
            r["id"]: r for r in await self._records([s for s in summaries if s.id not in kept])
        }
        return [r for s in summaries if (r := kept.get(s.id) or fetched.get(s.id)) is not None]

    def revision(self) -> int | None:
        # Jobs change inside Flux between journal events we may not have read yet.
        return None

    async def query_ids(self, filters: JobFilter, page: Page) -> list[int]:
        if filters.text:
            return [r["id"] for r in _window(await self._search(filters), page)]
        return [s.id for s in self.index.select(filters, page)]

    def row_revisions(self, ids: Sequence[int], *, summary: bool = False) -> list[int | None]:
        # A started job's summary comes from the index alone (see query() and _indexed()), and
        # the index changes only by events, which it counts; full records come from
        # job-list, which may be ahead of the journal we have read.
        if not summary:
            return [None] * len(ids)
        jobs = self.index.jobs
        return [s.events if (s := jobs.get(i)) is not None and _indexed(s) else None for i in ids]

    async def count(self, filters: JobFilter) -> int:
        if filters.text:
            return len(await self._search(filters))
        return len(self.index.select(filters))

    async def nodes(self) -> list[NodeInfo]:
        flux = self._flux
        nodes: list[NodeInfo] = await self._r().request(
            lambda h: flux.resource.list.resource_list(h), lambda f: node_info(f.get())
        )
        if nodes:
            self._limits = ResourceLimits(
                len(nodes), max(n.cores for n in nodes), max(n.gpus for n in nodes)
            )
        return nodes

    async def eventlog(self, job_id: int) -> list[JobEvent]:
        jl = await self._job_log(job_id)
        if not jl.done:
            want = await self._count_events(job_id)
            await self._until(lambda: jl.done or (not jl.ordered and jl.events_emitted >= want))
        return [e for e in jl.entries if isinstance(e, JobEvent)]

    async def output(self, job_id: int) -> list[OutputLine]:
        jl = await self._job_log(job_id)
        if jl.done:
            return [e for e in jl.entries if isinstance(e, OutputLine)]
        flux = self._flux
        try:
            found = await self._r().request(
                lambda h: flux.job.job_info_lookup(h, job_id, keys=["guest.output"]),
                lambda f: f.get(),
            )
        except OSError:
            return []
        text = (found or {}).get("guest.output") if isinstance(found, dict) else None
        lines: list[OutputLine] = []
        for event in eventlog_entries(text):
            for stream, rank, data in output_lines(event["name"], event.get("context", {})):
                lines.append(
                    OutputLine(job_id, len(lines) + 1, event["timestamp"], stream, rank, data)
                )
        return lines

    async def output_batches(self, job_id: int) -> AsyncIterator[list[OutputLine]]:
        # Flux hands the output over whole (job-info lookup, or the watched log kept here).
        for batch in batch_output(await self.output(job_id)):
            yield batch

    async def log(self, job_id: int, since: int = 0) -> AsyncIterator[list[LogEntry]]:
        jl = await self._job_log(job_id)
        sub = jl.subscribe()
        try:
            last = since
            history = jl.entries[since:]
            for start in range(0, len(history), BATCH):
                batch = history[start : start + BATCH]
                last = batch[-1].seq
                yield batch
                if _ends(batch):
                    return
            while True:
                batch = [e for e in await sub.get_batch() if e.seq > last]
                if not batch:
                    if sub.closed and not jl.entries[last:]:
                        return
                    if sub.closed:
                        batch = jl.entries[last:]
                    else:
                        continue
                last = batch[-1].seq
                yield batch
                if _ends(batch):
                    return
        finally:
            jl.unsubscribe(sub)

    async def feed(self, since: int = 0) -> AsyncIterator[list[JobEvent]]:
        with self.hub.feed() as sub:
            history = [e for e in self._feed if e.feed_seq > since]
            last = since
            for start in range(0, len(history), BATCH):
                batch = history[start : start + BATCH]
                last = batch[-1].feed_seq
                yield batch
            while True:
                got = await sub.get_batch()
                if not got:
                    return
                batch = [e for e in got if e.feed_seq > last]
                if batch:
                    last = batch[-1].feed_seq
                    yield batch

    # -- records and search ------------------------------------------------------------------------
    async def _user(self, job_id: int) -> str | None:
        summary = self.index.jobs.get(job_id)
        if summary is not None and (summary.user is not None or summary.events):
            return summary.user
        if job_id in self._users:
            return self._users[job_id]
        flux = self._flux
        try:
            found = await self._r().request(
                lambda h: flux.job.job_info_lookup(h, job_id, keys=["jobspec"]),
                lambda f: f.get_decode(),
            )
        except OSError:
            return None
        from ._index import jobspec_user

        user = jobspec_user((found or {}).get("jobspec")) if isinstance(found, dict) else None
        self._users[job_id] = user
        return user

    async def _records(self, summaries: list[Summary]) -> list[JobRecord]:
        """Full job-list records for ``summaries``, in their order (jobs gone are skipped)."""
        if not summaries:
            return []
        found: dict[int, JobRecord] = {}
        times = [s.t_submit for s in summaries if s.t_submit is not None]
        if len(summaries) > SMALL_PAGE and times:
            constraint = {"and": [{"t_submit": [f">={min(times)!r}"]},
                                  {"t_submit": [f"<={max(times)!r}"]}]}  # fmt: skip
            wanted = {s.id for s in summaries}
            for record in await self._list(constraint):
                if record["id"] in wanted:
                    found[record["id"]] = record
        missing = [s.id for s in summaries if s.id not in found]
        if missing:
            got = await asyncio.gather(*(self._info_or_none(i) for i in missing))
            found.update({r["id"]: r for r in got if r is not None})
        out = []
        for s in summaries:
            full = found.get(s.id)
            if full is not None:
                full["user"] = s.user
                out.append(full)
        await self._add_reasons(out)
        return out

    async def _add_reasons(self, records: list[JobRecord]) -> None:
        """Set ``pending_reason`` on the records of waiting jobs (one resource RPC at most)."""
        free: tuple[int, int] | None = None
        for record in records:
            state = record.get("state")
            if state is None or state >= JobState.RUN:
                continue
            if free is None and state == JobState.SCHED:
                try:
                    nodes = await self.nodes()
                except OSError:
                    nodes = []
                free = (sum(n.cores_free for n in nodes), sum(n.cores for n in nodes))
            reason = pending_reason(record, free)
            if reason:
                record["pending_reason"] = reason

    async def _info_or_none(self, job_id: int) -> JobRecord | None:
        with contextlib.suppress(JobNotFound):
            return await self.info(job_id)
        return None

    async def _list(self, constraint: dict[str, Any] | None = None) -> list[JobRecord]:
        flux = self._flux
        userid = flux.constants.FLUX_USERID_UNKNOWN
        jobs: list[JobRecord] = await self._r().request(
            lambda h: flux.job.job_list(
                h, max_entries=0, attrs=["all"], userid=userid, constraint=constraint
            ),  # fmt: skip
            _all_jobs,
        )
        return jobs

    async def _search(self, filters: JobFilter) -> list[JobRecord]:
        """Every record matching ``filters`` including its ``text``, newest first."""
        text = filters.text or ""
        if filters.regex:
            try:
                matches = compile_search(text)  # RE2: linear time, whatever the pattern
            except LimitError as exc:
                raise SubmitRefused(str(exc)) from None
        else:
            needle = text.lower()

            def matches(haystack: str) -> bool:
                return needle in haystack

        summaries = {s.id: s for s in self.index.select(filters)}
        out = []
        for record in await self._list():
            summary = summaries.get(record["id"])
            if summary is None:
                continue
            record["user"] = summary.user
            if matches(search_text(record)):
                out.append(record)
        out.sort(key=lambda r: r["id"], reverse=True)
        return out

    # -- job logs ---------------------------------------------------------------------------------
    async def _job_log(self, job_id: int) -> JobLog:
        jl = self._logs.get(job_id)
        if jl is not None:
            self._logs.move_to_end(job_id)
            return jl
        opening = self._opening.get(job_id)
        if opening is not None:
            return await asyncio.shield(opening)
        fut: asyncio.Future[JobLog] = asyncio.get_running_loop().create_future()
        self._opening[job_id] = fut
        try:
            record = await self.info(job_id)
            jl = JobLog(job_id, record.get("user"), ordered=record["state"] == JobState.INACTIVE)
            self._logs[job_id] = jl
            self._r().call(lambda h: self._watch(h, jl))
            self._evict()
            fut.set_result(jl)
            return jl
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters get it from shield
            raise
        finally:
            del self._opening[job_id]

    def _evict(self) -> None:
        extra = len(self._logs) - MAX_LOGS
        for job_id in list(self._logs):
            if extra <= 0:
                break
            jl = self._logs[job_id]
            if jl.done and not jl.followed:
                del self._logs[job_id]
                extra -= 1

    def _forget_failed(self, jl: JobLog) -> None:
        if jl.error is not None and self._logs.get(jl.job_id) is jl:
            del self._logs[jl.job_id]

    def _watch(self, h: Handle, jl: JobLog) -> None:
        """In the reactor: follow the eventlog, and ``guest.output`` once the shell is up."""
        flux = self._flux
        post = self._r().post
        job_id = jl.job_id
        st: dict[str, Any] = {"main": False, "out": True, "clean": None, "error": None,
                              "exec": False, "started": False}  # fmt: skip

        def end_if_done() -> None:
            if st["main"] and st["out"]:
                if st["clean"] is not None:
                    post(jl.add, st["clean"])
                post(jl.finish, st["error"])
                post(self._forget_failed, jl)

        def on_output(f: FluxFuture) -> None:
            try:
                ev = f.get_event()
            except OSError:
                ev = None
            if ev is None:
                st["out"] = True
                end_if_done()
                return
            post(jl.add, ("output", ev.name, ev.timestamp, ev.context))

        def on_exec(f: FluxFuture) -> None:
            if st["exec"]:
                return
            try:
                ev = f.get_event()
            except OSError:
                ev = None
            if ev is None:
                st["exec"] = st["out"] = True
                end_if_done()
                return
            if ev.name == "shell.init":
                st["exec"] = True
                _quietly(lambda: f.cancel(stop=True))
                flux.job.event_watch_async(h, job_id, "guest.output").then(on_output)

        def on_main(f: FluxFuture) -> None:
            try:
                ev = f.get_event()
            except OSError as exc:
                if exc.errno != errno.ENODATA:
                    st["error"] = exc
                ev = None
            if ev is None:
                st["main"] = True
                end_if_done()
                return
            raw = ("event", ev.name, ev.timestamp, ev.context)
            if ev.name == "start" and not st["started"]:
                st["started"] = True
                st["out"] = False
                flux.job.event_watch_async(h, job_id, "guest.exec.eventlog").then(on_exec)
            if ev.name == "clean":
                st["clean"] = raw
            else:
                post(jl.add, raw)

        flux.job.event_watch_async(h, job_id).then(on_main)

    async def _count_events(self, job_id: int) -> int:
        flux = self._flux
        try:
            found = await self._r().request(
                lambda h: flux.job.job_info_lookup(h, job_id, keys=["eventlog"]),
                lambda f: f.get(),
            )
        except OSError:
            return 0
        text = (found or {}).get("eventlog") if isinstance(found, dict) else None
        return len(eventlog_entries(text))

    @staticmethod
    async def _until(ready: Any, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not ready() and loop.time() < deadline:
            await asyncio.sleep(0.01)

    # -- the journal: index and feed --------------------------------------------------------------
    def _start_journal(self, h: Handle) -> None:
        """In the reactor: subscribe to the job-manager journal, with its history."""
        from flux.job.journal import JournalConsumer

        consumer = JournalConsumer(h, full=True, include_sentinel=True)
        consumer.set_callback(self._on_journal)
        consumer.start()
        self._journal = consumer

    def _on_journal(self, event: Any) -> None:
        """In the reactor: queue one journal event for the event loop."""
        if event is None:
            item: Any = None
        elif event.is_empty():
            item = "sentinel"
        else:
            item = (int(event.jobid), event.name, event.timestamp, event.context, event.jobspec)
        self._journal_in.append(item)
        if not self._journal_posted:
            self._journal_posted = True
            self._r().post(self._drain_journal)

    def _drain_journal(self) -> None:
        """On the event loop: apply queued journal events to the index, the feed and the hub."""
        self._journal_posted = False
        queue = self._journal_in
        while queue:
            item = queue.popleft()
            if item is None:
                if not self._stopping:
                    log.warning("the Flux job-manager journal ended; the event feed is stale")
                continue
            if item == "sentinel":
                if self._journal_ready is not None:
                    self._journal_ready.set()
                continue
            job_id, name, timestamp, context, jobspec = item
            summary, state = self.index.apply(job_id, name, timestamp, context, jobspec)
            if summary is None or name == "invalidate":
                continue
            seq = max(int(round(timestamp * 1_000_000)), self._feed_seq + 1)
            self._feed_seq = seq
            event = JobEvent(job_id, summary.events, name, timestamp, dict(context or {}), seq,
                             summary.user, state)  # fmt: skip
            self._feed.append(event)
            self.hub.publish(event)


# -- helpers --------------------------------------------------------------------------------------
def _submitter(
    flux: Any, jobspec: str, urgency: int, flags: dict[str, Any]
) -> Callable[[Handle], FluxFuture]:
    """Start one ``submit_async`` in the reactor (a closure per job, so none shares a jobspec)."""
    return lambda h: flux.job.submit_async(h, jobspec, urgency=urgency, **flags)


def _id(future: FluxFuture) -> int:
    return int(future.get_id())


def _quietly(fn: Any) -> None:
    with contextlib.suppress(Exception):
        fn()


def _reason(exc: OSError) -> str:
    return str(exc.strerror or exc)


def pending_reason(record: JobRecord, free: tuple[int, int] | None = None) -> str:
    """Why Flux has not run a job yet; ``""`` when it is not waiting.

    From its outstanding dependencies (job-list's ``dependencies``), a hold (urgency 0), the
    scheduler's ``sched.reason_pending`` annotation, and ``free`` (free and total cores).
    """
    state = record.get("state")
    if state is None or state >= JobState.RUN:
        return ""
    dependencies = record.get("dependencies")
    if state == JobState.DEPEND and isinstance(dependencies, list) and dependencies:
        return "waiting on " + ", ".join(dependency_text(str(d)) for d in dependencies)
    if record.get("urgency") == 0:
        return "held (urgency 0)"
    annotations = record.get("annotations")
    sched = annotations.get("sched") if isinstance(annotations, dict) else None
    why = sched.get("reason_pending") if isinstance(sched, dict) else None
    if state != JobState.SCHED:
        return ""
    cores = record.get("ncores")
    wanted = f"waiting for {cores} core{'s' if cores != 1 else ''}" if cores else "waiting"
    if why:
        return f"{wanted} ({why})"
    if free is not None and free[1]:
        if cores and cores <= free[0]:
            return f"{wanted} ({free[0]} free of {free[1]}; queued behind other jobs)"
        return f"{wanted} ({free[0]} free of {free[1]})"
    return f"{wanted} (in the scheduler's queue)"


def _ends(batch: list[LogEntry]) -> bool:
    last = batch[-1]
    return isinstance(last, JobEvent) and last.name == "clean"


def _window(records: list[JobRecord], page: Page) -> list[JobRecord]:
    if page.after is not None:
        records = [r for r in records if r["id"] < page.after]
    end = None if page.limit is None else page.offset + page.limit
    return records[page.offset : end]


def _all_jobs(future: FluxFuture) -> list[JobRecord]:
    jobs: list[JobRecord] = future.get_jobs()
    return jobs


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
        raise SubmitRefused(f"cannot sign the job as uid {uid}: {_reason(exc)}") from None
    return signed.decode() if isinstance(signed, bytes) else str(signed)


def _indexed(summary: Summary) -> bool:
    """Whether a job's summary row comes from the index alone.

    It must have started (a pending job's reason needs job-list) and its submit event be in.
    """
    return summary.t_submit is not None and summary.state >= JobState.RUN
