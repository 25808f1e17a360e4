"""The asynchronous client (same methods as ``Client``, awaited)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import anyio
import httpx

from ._arguments import bulk_cancel_body
from ._base import BaseClient
from ._exceptions import FluxRestfulError, TransportError
from ._responses import raise_for_status
from ._server import filter_jobs
from ._streams import EventReader, FrameReader, OutputReader, Poll, Reader, Resume
from ._types import JSON, CommandInput, DurationInput, JobId, SignalInput, SubmitFields
from ._webhooks import WebhookCalls
from .models import (
    BatchResult,
    CancelResult,
    DryRun,
    Event,
    Frame,
    Identity,
    JobEvent,
    JobInfo,
    Node,
    OutputLine,
    PersonalToken,
    ServerInfo,
    SignalResult,
    UrgencyChange,
    Webhook,
    WebhookDelivery,
    WebhookSecret,
)

__all__ = ["AsyncClient", "AsyncWebhooks"]

T = TypeVar("T")


class AsyncClient(BaseClient):
    """Asynchronous client of the Flux RESTful API; the same methods as ``Client``, awaited.

    Upstream's JSON methods are on :class:`AsyncFluxRestfulClient`, built on this class. See
    :class:`BaseClient` for the arguments.
    """

    _http: httpx.AsyncClient

    def _open(
        self, transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncClient:
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError("AsyncClient needs an async transport (httpx.AsyncBaseTransport)")
        return httpx.AsyncClient(transport=transport, **self._http_options())

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        self._refuse_plain_http()  # credentials may have been set since the client was made
        attempt = 0
        while True:
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if self._must_know_server(request, exc):
                    await self._learn_server()
                delay = self._retry_delay(request, attempt, exc=exc)
                if delay is None:
                    raise self._transport_error(request, exc) from exc
            else:
                delay = self._retry_delay(request, attempt, response=response)
                if delay is None:
                    return response
                await response.aclose()
            await anyio.sleep(delay)
            attempt += 1

    @asynccontextmanager
    async def _stream(
        self, request: httpx.Request, *, errors: bool = True
    ) -> AsyncIterator[httpx.Response]:
        response = await self._send(request, stream=True)
        try:
            if errors and response.status_code >= 400:
                await response.aread()
                raise_for_status(response)
            yield response
        finally:
            await response.aclose()

    async def _submit(
        self, command: CommandInput, fields: Any, key: str | None = None
    ) -> httpx.Response:
        request = self._submit_request(command, fields, key)
        if self._too_long(request):
            server = await self.server_info()
            request = self._long_submit_request(request, command, fields, server)
        return await self._send(request)

    # -- typed API ---------------------------------------------------------------------------
    async def login(self, user: str | None = None, password: str | None = None) -> str:
        """Log in now and return the access token (also used by this client from now on)."""
        return self._parse_token(await self._send(self._login_request(user, password)))

    async def auth_info(self) -> JSON:
        """How the server authenticates (``GET /v1/auth``)."""
        return self._json(await self._send(self._auth_info_request()))

    async def server_info(self) -> ServerInfo:
        """Which server this is and what it offers (asked once, then cached)."""
        if self._server is None:
            async with self._stream(self._auth_info_request(), errors=False) as response:
                await response.aread()
                self._parse_server_info(response)
        assert self._server is not None
        return self._server

    async def me(self) -> Identity:
        """Who the server takes this client for: user, superuser or not, scopes (``/v1/me``).

        Raises:
            UnsupportedByServer: The server has no ``/v1/me`` (upstream's).
        """
        self._require(await self.server_info(), "me")
        return self._parse_identity(await self._send(self._me_request()))

    async def create_token(
        self, name: str, *, scope: str | Iterable[str] = "read", expires: DurationInput = "30d"
    ) -> PersonalToken:
        """Create a personal access token for scripts and CI; its ``token`` is shown this once.

        Args:
            name: What it is for (``ci``), unique among the caller's tokens.
            scope: ``read`` (GET only), ``submit`` (and read) or ``admin`` (and both;
                superusers only); a list names the scopes exactly.
            expires: Lifetime: ``30d``, ``12h``, ``2w``, seconds or a ``timedelta``.

        Raises:
            UnsupportedByServer: The server has no personal tokens (upstream's).
            InvalidRequestError: A bad name or lifetime, a name in use, auth off on the server.
            ForbiddenError: The scope goes beyond the caller's own.
        """
        self._require(await self.server_info(), "tokens")
        request = self._create_token_request(name, scope, expires)
        return self._parse_personal_token(await self._send(request))

    async def list_tokens(self, *, user: str | None = None) -> list[PersonalToken]:
        """The caller's live personal tokens, newest first, never their secrets.

        A superuser lists everyone's, or ``user``'s.

        Raises:
            UnsupportedByServer: The server has no personal tokens (upstream's).
        """
        self._require(await self.server_info(), "tokens")
        return self._parse_personal_tokens(await self._send(self._list_tokens_request(user)))

    async def revoke_token(self, token_id: str) -> None:
        """Revoke a personal token by its id; it stops working at once.

        Raises:
            UnsupportedByServer: The server has no personal tokens (upstream's).
            NotFoundError: No such live token of the caller's.
        """
        self._require(await self.server_info(), "tokens")
        self._json(await self._send(self._revoke_token_request(token_id)))

    @property
    def webhooks(self) -> AsyncWebhooks:
        """Webhook subscriptions to job events and their delivery logs (docs/webhooks.md)."""
        return AsyncWebhooks(self)

    async def _learn_server(self) -> None:
        """Identify the server if it can be reached (to decide whether a submit may be re-sent)."""
        with contextlib.suppress(FluxRestfulError):
            await self.server_info()

    async def submit_job(
        self,
        command: CommandInput,
        *,
        idempotency_key: str | None = None,
        **fields: Unpack[SubmitFields],
    ) -> int:
        """Submit a job and return its id.

        Every submit carries an ``Idempotency-Key`` (``idempotency_key``, else a fresh one), so
        it is re-sent after a transport error to a server that honours keys (ours) and the
        server answers with the first attempt's job. Pass your own key to retry across
        processes: the same key with the same job always answers the same id.
        """
        return self._parse_submit(await self._submit(command, fields, idempotency_key))

    async def submit_many(
        self,
        jobs: Iterable[CommandInput | Mapping[str, Any]],
        *,
        cc: str | int | None = None,
        dry_run: bool = False,
        idempotency_key: str | None = None,
        **defaults: Unpack[SubmitFields],
    ) -> BatchResult:
        """Submit many jobs in one request; each entry fails alone (see :class:`BatchResult`).

        Args:
            jobs: Each a command (string or argv list) or a mapping of submit fields with a
                ``command``.
            cc: Flux's ``--cc``: an idset (``"0-9"``) of copies of the one job given; ``{cc}``
                in its command, name and workdir becomes each id, ``FLUX_JOB_CC`` is set.
            dry_run: Validate only; the entries carry the normalised requests.
            idempotency_key: The batch's key (default: a fresh one, kept on retries).
            defaults: Fields for every job that does not set them.

        Raises:
            UnsupportedByServer: The server has no batch submit (upstream's).
            InvalidRequestError: The batch as a whole is refused (empty, too big, bad ``cc``).
        """
        self._require(await self.server_info(), "batch_submit")
        request = self._batch_request(jobs, defaults, cc=cc, dry_run=dry_run, key=idempotency_key)
        return self._parse_batch(await self._send(request))

    async def dry_run(self, command: CommandInput, **fields: Unpack[SubmitFields]) -> DryRun:
        """Validate a submit without creating a job: the request as the server would run it.

        Raises:
            UnsupportedByServer: The server has no dry run (upstream's).
            InvalidRequestError: The submit is invalid (the reasons are the submit's own).
        """
        self._require(await self.server_info(), "dry_run")
        return self._parse_dry_run(await self._send(self._dry_run_request(command, fields)))

    async def submit_jobspec(
        self,
        jobspec: Mapping[str, Any] | str,
        *,
        queue: str | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Submit a Flux jobspec (version 1): a mapping, or its JSON or YAML text.

        Raises:
            UnsupportedByServer: The server has no jobspec submit (upstream's).
            InvalidRequestError: The jobspec is invalid, or the executor cannot run it.
        """
        self._require(await self.server_info(), "jobspec_submit")
        request = self._jobspec_request(jobspec, dry_run=False, queue=queue, key=idempotency_key)
        return self._parse_submit(await self._send(request))

    async def get_job(self, job_id: JobId) -> JobInfo:
        """Return a job's info."""
        return self._parse_job(await self._send(self._job_request(job_id)))

    async def list_jobs(self, **filters: Any) -> list[JobInfo]:
        """List jobs, newest first; filters: ``state``, ``user``, ``name``, ``limit``, ``after``.

        A server without filters (upstream's) lists every job and the client filters them.
        """
        if not filters or (await self.server_info()).supports("job_filters"):
            return self._parse_jobs(await self._send(self._list_jobs_request(filters)))
        jobs = self._parse_jobs(await self._send(self._list_jobs_request({})))
        return filter_jobs(jobs, filters)

    async def cancel_job(self, job_id: JobId) -> JSON:
        """Ask for a job to be cancelled; raise when the server refuses."""
        return self._json(await self._send(self._cancel_request(job_id)))

    async def cancel_jobs(
        self,
        *,
        ids: Iterable[JobId] | None = None,
        state: str | Iterable[str] | None = None,
        name: str | None = None,
        user: str | None = None,
        all: bool = False,
    ) -> CancelResult:
        """Cancel every active job matching all the filters; at least one is needed.

        ``all=True`` selects every job the caller may cancel; ``state`` takes ``pending``,
        ``running`` or state names; ``user`` is for superusers.

        Raises:
            InvalidRequestError: No filter, or one the server refuses.
            ForbiddenError: ``user`` names someone else and the caller is not a superuser.
            UnsupportedByServer: The server has no job control (upstream's).
        """
        body = bulk_cancel_body(ids, state, name, user, all)
        self._require(await self.server_info(), "job_control")
        return self._parse_bulk_cancel(await self._send(self._bulk_cancel_request(body)))

    async def hold_job(self, job_id: JobId) -> UrgencyChange:
        """Hold a pending job (urgency 0) until :meth:`release_job`.

        Raises:
            InvalidRequestError: The job is running or inactive.
            UnsupportedByServer: The server has no job control (upstream's).
        """
        self._require(await self.server_info(), "job_control")
        return self._parse_urgency(await self._send(self._urgency_request(job_id, "hold")))

    async def release_job(self, job_id: JobId) -> UrgencyChange:
        """Release a held job: it gets back the urgency it had before the hold."""
        self._require(await self.server_info(), "job_control")
        return self._parse_urgency(await self._send(self._urgency_request(job_id, "release")))

    async def set_urgency(self, job_id: JobId, urgency: int | str) -> UrgencyChange:
        """Set a pending job's urgency: 0-31, or ``"hold"``, ``"default"``, ``"expedite"``.

        Raises:
            InvalidRequestError: Out of range, or the job is no longer pending.
            ForbiddenError: Above 16 and the caller is not a superuser.
        """
        self._require(await self.server_info(), "job_control")
        return self._parse_urgency(
            await self._send(self._urgency_request(job_id, "urgency", urgency))
        )

    async def signal_job(self, job_id: JobId, signal: SignalInput = "SIGTERM") -> SignalResult:
        """Send a signal (name or number) to every task of a running job.

        Raises:
            InvalidRequestError: Not a signal, or the job is not running.
        """
        self._require(await self.server_info(), "job_control")
        return self._parse_signal(await self._send(self._signal_request(job_id, signal)))

    async def get_output(self, job_id: JobId) -> list[str]:
        """A job's output so far, one entry per line ([] before any output)."""
        return self._parse_output(await self._send(self._output_request(job_id)))

    async def get_labelled_output(self, job_id: JobId) -> list[OutputLine]:
        """A job's output so far, each line with its stream, rank and time ([] before any)."""
        return self._parse_labelled_output(
            await self._send(self._output_request(job_id, labels=True))
        )

    async def get_job_events(self, job_id: JobId) -> list[JobEvent]:
        """A job's eventlog, oldest first (``submit``, ``alloc``, ``start``, ``finish``...).

        Raises:
            UnsupportedByServer: The server has no eventlog route (upstream's).
        """
        self._require(await self.server_info(), "job_events")
        return self._parse_job_events(await self._send(self._job_events_request(job_id)))

    async def get_nodes(self) -> list[Node]:
        """The nodes that are up, with cores and GPUs when the server reports them."""
        return self._parse_nodes(await self._send(self._list_nodes_request(detail=True)))

    async def wait(self, job_id: JobId, *, timeout: float | None = None) -> JobInfo:
        """Wait until a job is inactive and return its final info.

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
        """
        poll = Poll(timeout)
        while not (info := await self.get_job(job_id)).is_done:
            await anyio.sleep(poll.next_delay(f"job {job_id}"))
        return info

    # -- streams -----------------------------------------------------------------------------
    async def _follow(
        self, request: Callable[[int | None], httpx.Request], reader: Reader[T]
    ) -> AsyncIterator[T]:
        """The one reconnect loop: open, feed the reader, resume as ``Resume`` says."""
        resume = reader.resume
        while True:
            try:
                async with self._stream(request(resume.since)) as response:
                    reader.connected()
                    async for text in response.aiter_text():
                        for item in reader.feed(text):
                            yield item
                        if reader.done:
                            return
                    items, reason = reader.closed()
                    for item in items:
                        yield item
                    if reason is None:
                        return
            except (httpx.TransportError, TransportError) as exc:
                if isinstance(exc, TransportError) and resume.never_connected:
                    raise
                if reader.quiet_is_normal and isinstance(exc, httpx.ReadTimeout):
                    continue
                reason = f"{type(exc).__name__}: {exc}"
            await anyio.sleep(resume.dropped(reason))

    async def iter_frames(
        self, job_id: JobId, *, since: int | None = None, types: Iterable[str] | None = None
    ) -> AsyncIterator[Frame]:
        """Yield a job's frames (history first, then live) until its ``end`` frame.

        ``since`` is the last ``seq`` already seen (frames after it are sent). A dropped
        connection is resumed the same way: no gaps, no repeats. Keepalive pings are not yielded.

        Raises:
            UnsupportedByServer: The server has no frame stream (upstream's): use ``iter_lines``.
        """
        self._require(await self.server_info(), "stream")
        reader = FrameReader(Resume(since, self.attempts, self.backoff))
        async for frame in self._follow(lambda at: self._frames_request(job_id, at, types), reader):
            yield frame

    async def iter_lines(
        self, job_id: JobId, *, since: int | None = None
    ) -> AsyncIterator[OutputLine]:
        """Yield a job's output lines, labelled with stream and rank, until it ends.

        On a server without the frame stream (upstream's) the lines come from the chunked
        ``/output/stream``, unlabelled (all ``stdout``, rank 0); a dropped connection is resumed
        by skipping the lines already yielded, since that stream starts again from the top.

        Raises:
            UnsupportedByServer: ``since`` was given to a server without the frame stream.
        """
        server = await self.server_info()
        if not server.supports("stream"):
            if since is not None:
                self._require(server, "stream")
            reader = OutputReader(Resume(None, self.attempts, self.backoff))
            async for line in self._follow(lambda _: self._output_stream_request(job_id), reader):
                yield line
            return
        async for frame in self.iter_frames(job_id, since=since):
            if frame.type == "output":
                yield OutputLine.from_frame(frame)

    async def iter_events(self, *, since: int | None = None) -> AsyncIterator[Event]:
        """Yield the job event feed (every job the caller may see), resuming after drops.

        ``since`` is the last feed ``seq`` already seen (events after it are sent).

        Raises:
            UnsupportedByServer: The server has no event feed (upstream's): poll ``list_jobs``.
        """
        self._require(await self.server_info(), "events")
        reader = EventReader(Resume(since, self.attempts, self.backoff))
        async for event in self._follow(self._events_request, reader):
            yield event


WebhookList = list[Webhook]
DeliveryList = list[WebhookDelivery]


class AsyncWebhooks(WebhookCalls):
    """``AsyncClient.webhooks``: subscriptions to job events, and their delivery logs.

    Our server's extension (docs/webhooks.md); against another server every method raises
    :class:`UnsupportedByServer`.
    """

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)
        self._client = client

    async def _send(self, request: httpx.Request) -> httpx.Response:
        self._client._require(await self._client.server_info(), "webhooks")
        return await self._client._send(request)

    async def add(
        self,
        url: str,
        *,
        events: Iterable[str] | None = None,
        job_name: str | None = None,
        job_ids: Iterable[JobId] | None = None,
        description: str | None = None,
    ) -> WebhookSecret:
        """Subscribe ``url`` to job events; the answer holds the secret, shown only now.

        Args:
            url: An http(s) URL the server's operator allows (``FLUX_WEBHOOK_ALLOW``).
            events: ``all`` (default), ``submitted``, ``started``, ``exception``, ``finished``,
                or a result: ``completed``, ``failed``, ``canceled``, ``timeout``.
            job_name: Only jobs whose name contains this.
            job_ids: Only these jobs.
            description: Free text.

        Raises:
            InvalidRequestError: The URL or a field was refused (the message says why).
        """
        request = self._add_request(url, events, job_name, job_ids, description)
        return self._parse_secret(await self._send(request))

    async def list(self) -> WebhookList:
        """Your subscriptions (a superuser's: everyone's), oldest first."""
        return self._parse_hooks(await self._send(self._list_request()))

    async def get(self, hook_id: str) -> Webhook:
        """One subscription (``NotFoundError`` for another user's)."""
        return self._parse_hook(await self._send(self._get_request(hook_id)))

    async def update(self, hook_id: str, **changes: Any) -> Webhook:
        """Change ``url``, ``events``, ``job_name``, ``job_ids`` or ``description``."""
        return self._parse_hook(await self._send(self._update_request(hook_id, changes)))

    async def delete(self, hook_id: str) -> None:
        """Delete a subscription and its delivery log."""
        self._parse_deleted(await self._send(self._delete_request(hook_id)))

    async def rotate(self, hook_id: str) -> WebhookSecret:
        """A new secret (the old one keeps signing for the server's grace period)."""
        return self._parse_secret(await self._send(self._action_request(hook_id, "rotate")))

    async def pause(self, hook_id: str) -> Webhook:
        """Hold a subscription's deliveries."""
        return self._parse_hook(await self._send(self._action_request(hook_id, "pause")))

    async def resume(self, hook_id: str) -> Webhook:
        """Send a paused subscription's deliveries again, oldest first."""
        return self._parse_hook(await self._send(self._action_request(hook_id, "resume")))

    async def deliveries(
        self, hook_id: str, *, limit: int | None = None, before: int | None = None
    ) -> DeliveryList:
        """A subscription's delivery log, newest first, with every attempt."""
        request = self._deliveries_request(hook_id, limit, before)
        return self._parse_deliveries(await self._send(request))

    async def redeliver(self, hook_id: str, delivery_id: int) -> WebhookDelivery:
        """Make a delivery due again now (same ``webhook-id``)."""
        request = self._redeliver_request(hook_id, delivery_id)
        return self._parse_delivery(await self._send(request))

    async def for_job(self, job_id: JobId) -> DeliveryList:
        """A job's deliveries to the subscriptions you can see."""
        return self._parse_deliveries(await self._send(self._job_deliveries_request(job_id)))
