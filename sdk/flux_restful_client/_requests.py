"""Building each call's ``httpx.Request``: method, path, query, body and headers.

One builder per call of the API, grouped by resource (jobs and nodes, submits, job control,
output and streams, the server and personal tokens); the arguments are checked in ``_arguments``
first, so nothing the server would refuse for its shape is built. The clients send what these
return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ._arguments import (
    IDEMPOTENCY_HEADER,
    MAX_SUBMIT_URL,
    invalid,
    job_path,
    keyed,
    parse_duration,
    submit_encoding,
    submit_payload,
)
from ._auth import FluxAuth
from ._exceptions import InvalidRequestError
from ._types import CommandInput, DurationInput, JobId, SignalInput, TimeoutInput
from .models import ServerInfo

__all__ = ["STREAM_READ_TIMEOUT", "RequestBuilding"]

STREAM_READ_TIMEOUT = 60.0
"""Silence tolerated on a stream before reconnecting (servers send keepalive pings)."""


class RequestBuilding:
    """The request of each call; shared by both clients through ``BaseClient``."""

    _http: httpx.Client | httpx.AsyncClient
    _server: ServerInfo | None
    timeout: TimeoutInput
    """HTTP timeout of each request (streams keep its connect timeout, not its read one)."""
    auth: FluxAuth
    """The authentication flow, which builds login requests."""

    def _build(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        return self._http.build_request(method, path, **kwargs)

    # -- jobs and nodes ----------------------------------------------------------------------
    def _job_request(self, job_id: JobId) -> httpx.Request:
        return self._build("GET", job_path(job_id))

    def _jobs_request(
        self, jobid: JobId | None = None, detail: bool = False, listing: bool = False
    ) -> httpx.Request:
        if jobid is not None:
            return self._build("GET", job_path(jobid))
        params = {"details": "true"} if detail else {}
        if detail and listing:
            params["listing"] = "true"
        return self._build("GET", "jobs", params=params)

    def _list_jobs_request(self, filters: Mapping[str, Any]) -> httpx.Request:
        params = {"details": "true", "listing": "true"}
        params.update({k: str(v) for k, v in filters.items() if v is not None})
        return self._build("GET", "jobs", params=params)

    def _search_request(
        self, query: str | None, start: int | None, length: int | None
    ) -> httpx.Request:
        params = {"search": query, "start": start, "length": length}
        return self._build(
            "GET", "jobs/search", params={k: v for k, v in params.items() if v is not None}
        )

    def _list_nodes_request(self, detail: bool = False) -> httpx.Request:
        return self._build("GET", "nodes", params={"detail": "true"} if detail else None)

    # -- submitting --------------------------------------------------------------------------
    def _submit_request(
        self, command: CommandInput, fields: Mapping[str, Any], key: str | None = None
    ) -> httpx.Request:
        """The submit in the one encoding every server reads (fields in the URL).

        It carries an ``Idempotency-Key`` (``key``, else a fresh one), kept when it is re-sent.
        """
        params, envars = submit_encoding(command, fields)
        return keyed(self._build("POST", "jobs/submit", params=params, json=envars), key)

    @staticmethod
    def _too_long(request: httpx.Request) -> bool:
        """Whether a submit is too long as a URL, so how it is sent depends on the server."""
        return len(str(request.url)) > MAX_SUBMIT_URL

    def _long_submit_request(
        self,
        request: httpx.Request,
        command: CommandInput,
        fields: Mapping[str, Any],
        server: ServerInfo,
    ) -> httpx.Request:
        """A submit too long for a URL: a JSON body to our server, refused for upstream's.

        Raises:
            InvalidRequestError: The server reads submit fields only from the URL (upstream).
        """
        if server.is_upstream:
            raise invalid(
                f"This submit is {len(str(request.url)):,} bytes as a URL, too long for "
                f"{server}: upstream servers read the fields only from the query string, whose "
                "size they cap near 8 KiB. Put a long command in a script and submit the script."
            )
        # Our server also reads the whole payload from a JSON body (no size cap but its own).
        long = self._build("POST", "jobs/submit", json=submit_payload(command, fields))
        return keyed(long, request.headers.get(IDEMPOTENCY_HEADER))

    def _batch_request(
        self,
        jobs: Iterable[CommandInput | Mapping[str, Any]],
        defaults: Mapping[str, Any],
        *,
        cc: str | int | None,
        dry_run: bool,
        key: str | None,
    ) -> httpx.Request:
        """``POST /v1/jobs/batch`` with every job validated as ``submit`` validates one.

        Raises:
            TypeError: An unknown field.
            InvalidRequestError: A value has the wrong type, or there is no job.
        """
        if isinstance(jobs, str | bytes | Mapping):
            raise invalid("jobs must be a list of jobs (each a command or a mapping of fields)")
        entries = []
        for index, job in enumerate(jobs):
            fields = dict(job) if isinstance(job, Mapping) else {"command": job}
            if "command" not in fields:
                raise invalid(f"Batch entry {index} needs a command: {fields!r}")
            command = fields.pop("command")
            try:
                entries.append(submit_payload(command, {**defaults, **fields}))
            except InvalidRequestError as exc:  # refused before sending: say which entry
                raise invalid(f"Batch entry {index}: {exc}") from None
            except TypeError as exc:
                raise TypeError(f"Batch entry {index}: {exc}") from None
        if not entries:
            raise invalid("A batch needs at least one job")
        params: dict[str, str] = {}
        if cc is not None:
            params["cc"] = str(cc)
        if dry_run:
            params["dry_run"] = "true"
        request = self._build("POST", "jobs/batch", params=params, json=entries)
        return request if dry_run else keyed(request, key)

    def _dry_run_request(self, command: CommandInput, fields: Mapping[str, Any]) -> httpx.Request:
        return self._build(
            "POST", "jobs/submit", params={"dry_run": "true"}, json=submit_payload(command, fields)
        )

    def _jobspec_request(
        self, jobspec: Mapping[str, Any] | str, *, dry_run: bool, queue: str | None, key: str | None
    ) -> httpx.Request:
        """``POST /v1/jobs/jobspec``: a mapping goes as JSON, a string as YAML (or JSON)."""
        params = {"dry_run": "true"} if dry_run else {}
        if queue:
            params["queue"] = queue
        if isinstance(jobspec, Mapping):
            request = self._build("POST", "jobs/jobspec", params=params, json=dict(jobspec))
        elif isinstance(jobspec, str):
            kind = "application/json" if jobspec.lstrip().startswith("{") else "application/yaml"
            request = self._build(
                "POST", "jobs/jobspec", params=params, content=jobspec.encode(),
                headers={"Content-Type": kind},
            )  # fmt: skip
        else:
            raise invalid("A jobspec is a mapping, or its JSON or YAML text")
        return request if dry_run else keyed(request, key)

    # -- job control -------------------------------------------------------------------------
    def _cancel_request(self, job_id: JobId) -> httpx.Request:
        return self._build("POST", job_path(job_id, "/cancel"))

    def _bulk_cancel_request(self, body: Mapping[str, Any]) -> httpx.Request:
        return self._build("POST", "jobs/cancel", json=dict(body))

    def _urgency_request(
        self, job_id: JobId, action: str, urgency: int | str | None = None
    ) -> httpx.Request:
        """``action``: ``hold``, ``release``, or ``urgency`` with ``urgency``."""
        body = {"urgency": urgency} if action == "urgency" else None
        return self._build("POST", job_path(job_id, f"/{action}"), json=body)

    def _signal_request(self, job_id: JobId, signal: SignalInput) -> httpx.Request:
        return self._build("POST", job_path(job_id, "/signal"), json={"signal": signal})

    # -- output, eventlogs and streams -------------------------------------------------------
    def _output_request(self, job_id: JobId, labels: bool = False) -> httpx.Request:
        return self._build(
            "GET", job_path(job_id, "/output"), params={"labels": "true"} if labels else None
        )

    def _job_events_request(self, job_id: JobId) -> httpx.Request:
        return self._build("GET", job_path(job_id, "/events"))

    def _output_stream_request(self, job_id: JobId) -> httpx.Request:
        return self._build("GET", job_path(job_id, "/output/stream"), timeout=self._stream_timeout)

    def _stream_params(self, since: int | None) -> dict[str, str]:
        """The query of a stream request: ``since``, and ``batch=true`` when the server offers it.

        Batched frames are fewer, larger messages; the readers unpack them into the same frames.
        """
        params: dict[str, str] = {}
        if since is not None:
            params["since"] = str(since)
        if self._server is not None and self._server.supports("batch"):
            params["batch"] = "true"
        return params

    def _frames_request(
        self, job_id: JobId, since: int | None, types: Iterable[str] | None
    ) -> httpx.Request:
        params = self._stream_params(since)
        if types:
            params["types"] = ",".join(types)
        return self._build(
            "GET",
            job_path(job_id, "/stream"),
            params=params,
            headers={"Accept": "text/event-stream"},
            timeout=self._stream_timeout,
        )

    def _events_request(self, since: int | None) -> httpx.Request:
        return self._build(
            "GET",
            "events",
            params=self._stream_params(since),
            headers={"Accept": "text/event-stream"},
            timeout=self._stream_timeout,
        )

    @property
    def _stream_timeout(self) -> httpx.Timeout:
        base = (
            self.timeout if isinstance(self.timeout, httpx.Timeout) else httpx.Timeout(self.timeout)
        )
        return httpx.Timeout(
            connect=base.connect, read=STREAM_READ_TIMEOUT, write=base.write, pool=base.pool
        )

    # -- the server, signing in, personal tokens ---------------------------------------------
    def _auth_info_request(self) -> httpx.Request:
        return self._build("GET", "auth")

    def _stop_service_request(self) -> httpx.Request:
        return self._build("POST", "service/stop")

    def _login_request(self, user: str | None, password: str | None) -> httpx.Request:
        if user:
            self.auth.user = user
        if password:
            self.auth.password = password
        return self.auth.build_login_request()

    def _me_request(self) -> httpx.Request:
        return self._build("GET", "me")

    def _create_token_request(
        self, name: str, scope: str | Iterable[str], expires: DurationInput
    ) -> httpx.Request:
        body = {
            "name": name,
            "scope": scope if isinstance(scope, str) else list(scope),
            "expires_in": parse_duration(expires),
        }
        return self._build("POST", "tokens", json=body)

    def _list_tokens_request(self, user: str | None) -> httpx.Request:
        return self._build("GET", "tokens", params={"user": user} if user else None)

    def _revoke_token_request(self, token_id: str) -> httpx.Request:
        if not token_id or "/" in token_id:
            raise invalid(f"{token_id!r} is not a token id")
        return self._build("DELETE", f"tokens/{quote(token_id, safe='')}")
