"""The IO-free core shared by ``Client`` and ``AsyncClient``.

Everything that does not send bytes lives here: resolving configuration, building each
``httpx.Request``, mapping responses to JSON, models or exceptions, and the retry policy.
The two clients only send (STYLE.md §7).
"""

from __future__ import annotations

import abc
import base64
import email.utils
import ipaddress
import os
import shlex
import ssl
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

import httpx

from ._auth import FluxAuth
from ._exceptions import (
    ApiError,
    AuthError,
    ForbiddenError,
    InsecureTransportError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnsupportedByServer,
)
from ._server import describe_answer, not_the_api, parse_server_info
from ._types import JSON, CommandInput, DurationInput, JobId, SignalInput, TimeoutInput
from ._version import __version__
from .models import (
    FEATURES,
    BatchResult,
    CancelResult,
    DryRun,
    Identity,
    JobEvent,
    JobInfo,
    Node,
    OutputLine,
    PersonalToken,
    ServerInfo,
    SignalResult,
    UrgencyChange,
)
from .settings import (
    DEFAULT_HOST,
    Settings,
    SettingsError,
    load_refresh_token,
    load_token,
    save_token,
)

__all__ = [
    "BaseClient",
    "DEFAULT_TIMEOUT",
    "NO_JOB_MESSAGE",
    "is_loopback",
    "raise_for_status",
    "tls_verify",
]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""HTTP timeout of every request unless the client is given another."""
STREAM_READ_TIMEOUT = 60.0
"""Silence tolerated on a stream before reconnecting (servers send keepalive pings)."""
NO_JOB_MESSAGE = "There is no job for that identifier."
"""What the upstream client prints when a job does not exist."""
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENCY_HEADER = "Idempotency-Key"
"""A request carrying this header may be sent twice: the server answers the first one again."""
MAX_RETRY_WAIT = 60.0
"""Longest ``Retry-After`` the client waits out by default; a longer one is raised at once."""
# Errors raised before a byte of the request left this machine: safe to retry any method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NEVER_RETRY = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
_INT_FIELDS = ("num_tasks", "cores_per_task", "gpus_per_task", "num_nodes", "runtime", "urgency")
_BOOL_FIELDS = ("exclusive", "is_launcher")
_STR_FIELDS = ("workdir", "name", "webhook_url", "queue")
SUBMIT_FIELDS = frozenset(
    (*_INT_FIELDS, *_BOOL_FIELDS, *_STR_FIELDS, "option_flags", "envars", "dependency")
)
"""Keyword arguments ``submit`` accepts besides the command."""
MAX_SUBMIT_URL = 6000
"""Longest submit URL sent as is. Servers cap the request line (Sanic at 8 KiB with the
headers, uvicorn's h11 near 16 KiB); a longer submit goes as a JSON body to our server."""


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, status_code=400, code="invalid_request")


def _message_from_body(body: Any) -> tuple[str, str]:
    """Return (message, code) from any of the API's error shapes."""
    if not isinstance(body, dict):
        return (str(body) if body not in (None, "") else "", "")
    code = body.get("code") if isinstance(body.get("code"), str) else ""
    parts: list[str] = []
    detail = body.get("detail")
    if isinstance(detail, str):
        parts.append(detail)
    elif isinstance(detail, list):
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p not in ("query", "body"))
                parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
    if isinstance(body.get("Message"), str):
        parts.append(body["Message"])
    errors = body.get("Errors")
    if isinstance(errors, list) and errors:
        parts.append("; ".join(str(e) for e in errors))
    if isinstance(body.get("Error"), str):
        parts.append(body["Error"])
    return (" ".join(p.rstrip() for p in parts if p) or "", str(code or ""))


def _decode(response: httpx.Response) -> tuple[bool, Any]:
    """``(True, the JSON value)``, or ``(False, the text)`` when the body is not JSON."""
    try:
        return True, response.json()
    except ValueError:
        return False, response.text


def _body(response: httpx.Response) -> Any:
    return _decode(response)[1]


def raise_for_status(response: httpx.Response) -> None:
    """Raise the exception of the tree that matches an error response (its body must be read).

    Raises:
        AuthError: 401.
        ForbiddenError: 403.
        NotFoundError: 404.
        InvalidRequestError: Any other 4xx.
        ServerError: 5xx.
    """
    status = response.status_code
    if status < 400:
        return
    body = _body(response)
    message, code = _message_from_body(body)
    if not isinstance(body, dict | list):
        # Not the API's JSON: a proxy's or another server's page. Say where and what it was.
        message = (
            f"{response.request.method} {response.request.url} answered {describe_answer(response)}"
        )
    message = message or response.reason_phrase
    cls: type[ApiError]
    if status == 401:
        cls = AuthError
        message += (
            " (the server requires authentication: set FLUX_USER and FLUX_TOKEN, "
            "and FLUX_SECRET_KEY for the token handshake, or run 'flux-restful-cli login')"
        )
    elif status == 403:
        cls = ForbiddenError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        raise RateLimitedError(
            f"{message} (HTTP {status})",
            status_code=status,
            code=code or "too_many_requests",
            detail=body,
            response=response,
            retry_after=retry_after(response),
        )
    elif status >= 500:
        cls = ServerError
    else:
        cls = InvalidRequestError
    raise cls(
        f"{message} (HTTP {status})",
        status_code=status,
        code=code or response.reason_phrase.lower().replace(" ", "_"),
        detail=body,
        response=response,
    )


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks for (a number or an HTTP date), if any."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _job_path(job_id: JobId, suffix: str = "") -> str:
    if isinstance(job_id, bool) or not isinstance(job_id, int | str) or str(job_id).strip() == "":
        raise _invalid(f"{job_id!r} is not a valid job id")
    return f"jobs/{quote(str(job_id).strip(), safe='')}{suffix}"


def _check_command(command: CommandInput) -> str | list[str]:
    if isinstance(command, str):
        if not command.strip():
            raise _invalid("A 'command' is minimally required.")
        return command
    if isinstance(command, Iterable) and not isinstance(command, bytes | Mapping):
        argv = list(command)
        if not argv or any(
            isinstance(a, bool) or not isinstance(a, str | int | float) for a in argv
        ):
            raise _invalid("A command list must be non-empty and hold only strings or numbers.")
        return [str(a) for a in argv]
    raise _invalid(f"A command must be a string or a list of strings, not {type(command).__name__}")


def submit_payload(command: CommandInput, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``submit`` arguments and return the JSON payload (fields set to None omitted).

    Raises:
        TypeError: An unknown keyword argument.
        InvalidRequestError: A value has the wrong type.
    """
    unknown = sorted(set(fields) - SUBMIT_FIELDS)
    if unknown:
        raise TypeError(
            f"submit() got unexpected keyword argument(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(SUBMIT_FIELDS))}"
        )
    payload: dict[str, Any] = {"command": _check_command(command)}
    for key, value in fields.items():
        if value is None:
            continue
        if key in _INT_FIELDS and (isinstance(value, bool) or not isinstance(value, int)):
            raise _invalid(f"{key} must be an integer, not {value!r}")
        if key in _BOOL_FIELDS and not isinstance(value, bool):
            raise _invalid(f"{key} must be true or false, not {value!r}")
        if key in _STR_FIELDS and not isinstance(value, str):
            raise _invalid(f"{key} must be a string, not {value!r}")
        if key == "option_flags" and not isinstance(value, str | Mapping):
            raise _invalid(f"option_flags must be 'k=v,k2=v2' or a mapping, not {value!r}")
        if key == "envars":
            if not isinstance(value, Mapping):
                raise _invalid("Environment variables must be key/value pairs (dict)")
            value = {str(k): str(v) for k, v in value.items()}
        if key == "option_flags" and isinstance(value, Mapping):
            value = ",".join(f"{k}={v}" for k, v in value.items())
        if key == "dependency":
            value = _dependencies(value)
        payload[key] = value
    return payload


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: DurationInput) -> int:
    """Seconds in ``value``: seconds, a ``timedelta``, or text like ``30d``.

    Text units: ``s``, ``m``, ``h``, ``d``, ``w`` (``12h``, ``2w``, ``90m``); a bare number is
    seconds.

    Raises:
        InvalidRequestError: Not a positive duration.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise _invalid(f"{value!r} is not a duration")
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        unit = _DURATION_UNITS.get(text[-1:]) if text else None
        number = text[:-1] if unit else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            raise _invalid(
                f"{value!r} is not a duration: use e.g. 30d, 12h, 2w, 90m or seconds"
            ) from None
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise _invalid(f"{value!r} is not a positive duration")
    return int(seconds)


def _dependencies(value: Any) -> str:
    """``afterok:1`` or a list of them, as the one comma-separated text the server reads."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or not all(isinstance(i, str) for i in items):
        raise _invalid(f"dependency must be 'scheme:jobid' text or a list of them, not {value!r}")
    return ",".join(i.strip() for i in items if i.strip())


def bulk_cancel_body(
    ids: Iterable[JobId] | None, state: str | Iterable[str] | None, name: str | None,
    user: str | None, all: bool,
) -> dict[str, Any]:  # fmt: skip
    """The filters of ``cancel_jobs`` as the JSON body; refuses an empty filter before sending."""
    body: dict[str, Any] = {}
    if ids is not None:
        body["ids"] = [str(i) for i in ids]
    if state is not None:
        body["state"] = [state] if isinstance(state, str) else list(state)
    if name:
        body["name"] = name
    if user:
        body["user"] = user
    if all:
        body["all"] = True
    if not (body.get("ids") or body.get("state") or name or user or all):
        raise _invalid("cancel_jobs needs at least one filter: ids, state, name, user, or all=True")
    return body


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine: ``localhost``, 127.0.0.0/8, ::1."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def tls_verify(ca: str | os.PathLike[str] | None) -> ssl.SSLContext | bool:
    """The ``verify=`` of httpx: the system's trust store, or only the CA bundle ``ca`` if given.

    Raises:
        SettingsError: The bundle is missing, unreadable or holds no PEM certificate.
    """
    if not ca:
        return True
    try:
        return ssl.create_default_context(cafile=os.fspath(ca))
    except FileNotFoundError:
        raise SettingsError(f"CA bundle {ca} (--ca / FLUX_RESTFUL_CA): no such file") from None
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise SettingsError(
            f"CA bundle {ca} (--ca / FLUX_RESTFUL_CA) cannot be loaded: {reason}; it must hold "
            "PEM certificates"
        ) from None


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error under an httpx transport error, if the handshake is what failed."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def submit_encoding(
    command: CommandInput, fields: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str] | None]:
    """The one submit encoding every server reads: ``(query parameters, JSON body)``.

    Upstream 1.1.0 reads the fields only from the query string and takes the JSON body as the
    envars mapping; ours reads the same. An argv list travels as one ``shlex.join`` string, which
    the servers' ``shlex.split`` turns back into the same argv. Our extra fields (``name``,
    ``urgency``) are query parameters too: upstream ignores unknown ones.

    Raises:
        TypeError: An unknown keyword argument.
        InvalidRequestError: A value has the wrong type.
    """
    payload = submit_payload(command, fields)
    argv = payload.pop("command")
    envars = payload.pop("envars", None)
    params = {"command": argv if isinstance(argv, str) else shlex.join(argv)}
    params.update({key: _query_value(value) for key, value in payload.items()})
    return params, (envars or None)


class BaseClient(abc.ABC):
    """Configuration, request building and response parsing common to both clients."""

    _http: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        host: str | None = None,
        user: str | None = None,
        token: str | None = None,
        quiet: bool = False,
        secret_key: str | None = None,
        settings_file: str | os.PathLike[str] | None = None,
        prefix: str = "v1",
        attempts: int = 5,
        timeout: TimeoutInput = DEFAULT_TIMEOUT,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        access_token: str | None = None,
        backoff: float = 0.5,
        validate: bool = True,
        settings: Settings | None = None,
        ca: str | os.PathLike[str] | None = None,
        insecure: bool = False,
        refresh_token: str | None = None,
        max_wait: float = MAX_RETRY_WAIT,
    ) -> None:
        """Resolve the configuration (arguments, then environment, then the settings file).

        Args:
            host: API host, e.g. ``http://127.0.0.1:5000`` (else ``FLUX_RESTFUL_HOST``, else the
                settings file's ``host``).
            user: User name (else ``FLUX_USER``, else ``flux_user``).
            token: The user's password (else ``FLUX_TOKEN``, else ``flux_token``).
            quiet: Do not print upstream's "no job" notice.
            secret_key: Shared secret of the token handshake (else ``FLUX_SECRET_KEY``).
            settings_file: Settings file layered on the defaults.
            prefix: API version prefix.
            attempts: Tries per request for transient failures (and stream reconnections).
            timeout: HTTP timeout (seconds or ``httpx.Timeout``). Upstream used this name
                for the first retry sleep; here it bounds each request instead.
            base_url: Same as ``host`` (httpx's name); wins over it.
            transport: httpx transport to send through (sync for ``Client``, async for
                ``AsyncClient``), e.g. ``httpx.MockTransport`` in tests.
            headers: Extra headers sent with every request.
            access_token: A bearer token: a personal access token, or one from ``login`` (else
                ``FLUX_RESTFUL_TOKEN``, else the one ``flux-restful-cli login`` stored for this
                host).
            backoff: First sleep between retries, doubled each time.
            validate: Validate the settings file.
            settings: Already-loaded settings (wins over ``settings_file``).
            ca: CA bundle (PEM) that signed an ``https://`` server's certificate, instead of the
                system's trust store (else ``FLUX_RESTFUL_CA``).
            insecure: Send credentials over plain ``http://`` to a host that is not this
                machine; refused by default (:class:`InsecureTransportError`); else
                ``FLUX_RESTFUL_INSECURE=true``.
            refresh_token: Renews ``access_token`` when it expires, without the password
                (servers that issue refresh tokens; stored ones come with the stored token).
            max_wait: Longest ``Retry-After`` (seconds) a retried request waits out; past it
                the 429 or 503 is raised at once.

        Raises:
            InsecureTransportError: Credentials are configured for a plain ``http://`` host that
                is not loopback, and ``insecure`` is not set.
            SettingsError: The settings file or the CA bundle cannot be used.
        """
        if settings is None:
            settings = Settings(settings_file, validate=validate)
        self.settings = settings
        """The loaded settings file."""
        self.quiet = quiet
        """Whether upstream's notices are silenced."""
        resolved = base_url or host or os.environ.get("FLUX_RESTFUL_HOST") or settings.get("host")
        self.host = str(resolved or DEFAULT_HOST).rstrip("/")
        """API host, without the version prefix."""
        if not self.host.startswith(("http://", "https://")):
            raise _invalid(f"Host {self.host!r} must start with http:// or https://")
        self.prefix = prefix.strip("/")
        """API version prefix."""
        self.attempts = max(1, int(attempts))
        """Tries per request for transient failures."""
        self.backoff = backoff
        """First sleep between retries."""
        self.max_wait = max_wait
        """Longest ``Retry-After`` waited out before re-sending."""
        self.timeout = timeout
        """HTTP timeout of each request."""
        self.ca = ca or os.environ.get("FLUX_RESTFUL_CA") or None
        """CA bundle trusted for ``https://`` hosts (``None``: the system's trust store)."""
        env_insecure = os.environ.get("FLUX_RESTFUL_INSECURE", "").strip().lower()
        self.insecure = insecure or env_insecure in ("1", "true", "yes", "on")
        """Whether credentials may travel over plain HTTP to another machine (argument, or
        ``FLUX_RESTFUL_INSECURE=true`` for scripts that cannot change, such as upstream's)."""
        given = access_token or os.environ.get("FLUX_RESTFUL_TOKEN") or None
        stored = None if given else load_token(self.host)
        self.auth = FluxAuth(
            base_url=self.api_url,
            user=user or os.environ.get("FLUX_USER") or settings.get("flux_user"),
            password=token or os.environ.get("FLUX_TOKEN") or settings.get("flux_token"),
            secret_key=secret_key or os.environ.get("FLUX_SECRET_KEY"),
            access_token=given or stored,
            refresh_token=refresh_token or (load_refresh_token(self.host) if stored else None),
            # A stored sign-in is renewed in place, so the next run has the rotated refresh token.
            on_tokens=self._store_tokens if stored else None,
        )
        """The authentication flow (holds the credentials and the cached token)."""
        self._server: ServerInfo | None = None
        url = httpx.URL(self.host)
        # An httpx.MockTransport answers in this process: nothing crosses a network.
        self._plain_remote = (
            url.scheme == "http"
            and not is_loopback(url.host)
            and not isinstance(transport, httpx.MockTransport)
        )
        self._verify = tls_verify(self.ca)
        self._http = self._open(transport)
        if headers:
            self._http.headers.update(headers)
        self._refuse_plain_http()

    def _store_tokens(self, access_token: str, refresh_token: str | None) -> None:
        save_token(self.host, access_token, refresh_token)

    @abc.abstractmethod
    def _open(
        self, transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None
    ) -> httpx.Client | httpx.AsyncClient:
        """Open the httpx client this client sends with (sync or async)."""

    # -- headers (upstream helpers) ----------------------------------------------------------
    def set_header(self, name: str, value: str) -> None:
        """Send a header with every request."""
        self._http.headers[name] = value

    def set_bearer_auth(self, token: str) -> None:
        """Authenticate with an access token (refreshed by logging in again when it expires)."""
        self._http.headers.pop("Authorization", None)
        self.auth.access_token = token

    def set_basic_auth(self, username: str, password: str) -> None:
        """Authenticate with HTTP Basic (accepted by servers with database users)."""
        self.auth.access_token = None
        pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._http.headers["Authorization"] = f"Basic {pair}"

    def reset(self) -> None:
        """Drop every custom header except ``Authorization`` (upstream helper)."""
        keep = self._http.headers.get("Authorization")
        self._http.headers.clear()
        self._http.headers["User-Agent"] = f"flux-restful-client/{__version__}"
        if keep:
            self._http.headers["Authorization"] = keep

    @property
    def api_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:5000/v1``."""
        return f"{self.host}/{self.prefix}" if self.prefix else self.host

    def _http_options(self) -> dict[str, Any]:
        return {
            "base_url": self.api_url + "/",
            "auth": self.auth,
            "timeout": self.timeout,
            "headers": {"User-Agent": f"flux-restful-client/{__version__}"},
            "verify": self._verify,
        }

    @property
    def _sends_credentials(self) -> bool:
        auth = self.auth
        return bool(
            auth.can_login
            or auth.access_token
            or auth.secret_key
            or "Authorization" in self._http.headers
        )

    def _refuse_plain_http(self) -> None:
        """Refuse, before any connection, to send credentials in clear text to another machine.

        Raises:
            InsecureTransportError: Plain ``http://``, a host that is not loopback, credentials
                configured, and ``insecure`` not set.
        """
        if not self._plain_remote or self.insecure or not self._sends_credentials:
            return
        raise InsecureTransportError(
            f"Refusing to send credentials to {self.host} over plain HTTP: anyone on the network "
            "between here and there could read the password or token. Use https:// (with --ca or "
            "FLUX_RESTFUL_CA for a private CA), or pass --insecure (insecure=True) if you trust "
            "that network."
        )

    def __str__(self) -> str:
        return "[flux-restful-client]"

    __repr__ = __str__

    # -- building requests -------------------------------------------------------------------
    def _build(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        return self._http.build_request(method, path, **kwargs)

    def _list_nodes_request(self, detail: bool = False) -> httpx.Request:
        return self._build("GET", "nodes", params={"detail": "true"} if detail else None)

    def _jobs_request(
        self, jobid: JobId | None = None, detail: bool = False, listing: bool = False
    ) -> httpx.Request:
        if jobid is not None:
            return self._build("GET", _job_path(jobid))
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

    def _job_request(self, job_id: JobId) -> httpx.Request:
        return self._build("GET", _job_path(job_id))

    def _submit_request(
        self, command: CommandInput, fields: Mapping[str, Any], key: str | None = None
    ) -> httpx.Request:
        """The submit in the one encoding every server reads (fields in the URL).

        It carries an ``Idempotency-Key`` (``key``, else a fresh one), kept when it is re-sent.
        """
        params, envars = submit_encoding(command, fields)
        return self._keyed(self._build("POST", "jobs/submit", params=params, json=envars), key)

    @staticmethod
    def _keyed(request: httpx.Request, key: str | None) -> httpx.Request:
        request.headers[IDEMPOTENCY_HEADER] = key or uuid.uuid4().hex
        return request

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
            raise _invalid("jobs must be a list of jobs (each a command or a mapping of fields)")
        entries = []
        for job in jobs:
            fields = dict(job) if isinstance(job, Mapping) else {"command": job}
            if "command" not in fields:
                raise _invalid(f"A batch entry needs a command: {fields!r}")
            command = fields.pop("command")
            entries.append(submit_payload(command, {**defaults, **fields}))
        if not entries:
            raise _invalid("A batch needs at least one job")
        params: dict[str, str] = {}
        if cc is not None:
            params["cc"] = str(cc)
        if dry_run:
            params["dry_run"] = "true"
        request = self._build("POST", "jobs/batch", params=params, json=entries)
        return request if dry_run else self._keyed(request, key)

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
            raise _invalid("A jobspec is a mapping, or its JSON or YAML text")
        return request if dry_run else self._keyed(request, key)

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
            raise _invalid(
                f"This submit is {len(str(request.url)):,} bytes as a URL, too long for "
                f"{server}: upstream servers read the fields only from the query string, whose "
                "size they cap near 8 KiB. Put a long command in a script and submit the script."
            )
        # Our server also reads the whole payload from a JSON body (no size cap but its own).
        long = self._build("POST", "jobs/submit", json=submit_payload(command, fields))
        return self._keyed(long, request.headers.get(IDEMPOTENCY_HEADER))

    def _cancel_request(self, job_id: JobId) -> httpx.Request:
        return self._build("POST", _job_path(job_id, "/cancel"))

    def _urgency_request(
        self, job_id: JobId, action: str, urgency: int | str | None = None
    ) -> httpx.Request:
        """``action``: ``hold``, ``release``, or ``urgency`` with ``urgency``."""
        body = {"urgency": urgency} if action == "urgency" else None
        return self._build("POST", _job_path(job_id, f"/{action}"), json=body)

    def _signal_request(self, job_id: JobId, signal: SignalInput) -> httpx.Request:
        return self._build("POST", _job_path(job_id, "/signal"), json={"signal": signal})

    def _bulk_cancel_request(self, body: Mapping[str, Any]) -> httpx.Request:
        return self._build("POST", "jobs/cancel", json=dict(body))

    def _output_request(self, job_id: JobId, labels: bool = False) -> httpx.Request:
        return self._build(
            "GET", _job_path(job_id, "/output"), params={"labels": "true"} if labels else None
        )

    def _job_events_request(self, job_id: JobId) -> httpx.Request:
        return self._build("GET", _job_path(job_id, "/events"))

    def _output_stream_request(self, job_id: JobId) -> httpx.Request:
        return self._build("GET", _job_path(job_id, "/output/stream"), timeout=self._stream_timeout)

    def _stop_service_request(self) -> httpx.Request:
        return self._build("POST", "service/stop")

    def _auth_info_request(self) -> httpx.Request:
        return self._build("GET", "auth")

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
            raise _invalid(f"{token_id!r} is not a token id")
        return self._build("DELETE", f"tokens/{quote(token_id, safe='')}")

    # -- knowing the server ------------------------------------------------------------------
    def _parse_server_info(self, response: httpx.Response) -> ServerInfo:
        self._server = parse_server_info(self.host, response)
        return self._server

    def _require(self, server: ServerInfo, feature: str) -> None:
        """Raise :class:`UnsupportedByServer` unless ``server`` offers ``feature``."""
        if not server.supports(feature):
            raise UnsupportedByServer(FEATURES[feature].capitalize(), str(server))

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
            _job_path(job_id, "/stream"),
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

    def _login_request(self, user: str | None, password: str | None) -> httpx.Request:
        if user:
            self.auth.user = user
        if password:
            self.auth.password = password
        return self.auth.build_login_request()

    # -- retries -----------------------------------------------------------------------------
    def _retry_delay(
        self,
        request: httpx.Request,
        attempt: int,
        *,
        exc: httpx.TransportError | None = None,
        response: httpx.Response | None = None,
    ) -> float | None:
        """Seconds to wait before re-sending ``request``, or ``None`` to stop.

        A request is re-sent after connection failures (it never left), and, when it is
        idempotent, after other transport errors and 429/502/503/504, waiting what the answer's
        ``Retry-After`` asks (at most :attr:`max_wait`; a longer wait is not waited out but
        raised). Idempotent means a GET, HEAD, OPTIONS, PUT or DELETE, or a submit that carries
        an ``Idempotency-Key`` to a server known to honour it (ours: it answers the retry with
        the first attempt's job). Any other submit that may have reached the server is never
        sent twice (upstream ignores the key).
        """
        if attempt + 1 >= self.attempts:
            return None
        idempotent = request.method in _IDEMPOTENT or self._keyed_retry(request)
        if exc is not None:
            if isinstance(exc, _NEVER_RETRY) or _tls_failure(exc) is not None:
                return None  # neither a refused certificate nor a bad URL mends itself
            if not (isinstance(exc, _NOT_SENT) or idempotent):
                return None
        elif response is None or response.status_code not in _RETRY_STATUSES or not idempotent:
            return None
        backoff = float(min(self.backoff * 2**attempt, 10.0))
        asked = retry_after(response) if response is not None else None
        if asked is None:
            return backoff
        return asked if asked <= self.max_wait else None

    def _keyed_retry(self, request: httpx.Request) -> bool:
        """Whether ``request`` carries a key the server honours, so re-sending it is safe."""
        server = self._server
        return (
            IDEMPOTENCY_HEADER in request.headers
            and server is not None
            and server.supports("idempotent_submit")
        )

    def _must_know_server(self, request: httpx.Request, exc: httpx.TransportError) -> bool:
        """Whether the server must be identified to decide on re-sending ``request`` after ``exc``.

        A keyed submit that may have arrived can be re-sent only to a server that honours keys;
        the clients ask it once (``server_info``) when that is not yet known.
        """
        return (
            self._server is None
            and IDEMPOTENCY_HEADER in request.headers
            and not isinstance(exc, (*_NOT_SENT, *_NEVER_RETRY))
        )

    def _transport_error(self, request: httpx.Request, exc: httpx.TransportError) -> TransportError:
        reason = str(exc) or type(exc).__name__
        tls = _tls_failure(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            return TransportError(
                f"The TLS certificate of {self.host} is not trusted "
                f"({tls.verify_message or tls.reason}): pass the CA bundle that signed it with "
                "--ca or FLUX_RESTFUL_CA" + (f" (now {self.ca})" if self.ca else "")
            )
        if tls is not None:
            return TransportError(
                f"TLS handshake with {self.host} failed ({tls.reason or tls}): is the server "
                "serving HTTPS on that port (http:// for a plain server)?"
            )
        return TransportError(
            f"Could not reach the Flux RESTful API at {self.host} "
            f"({request.method} {request.url.path}): {type(exc).__name__}: {reason}"
        )

    # -- parsing responses -------------------------------------------------------------------
    def _compat(self, response: httpx.Response, *, none_on_404: bool = False) -> JSON:
        """Upstream's contract: the JSON body, also for API refusals (400/404...).

        Authentication, permission and server failures raise; a 404 for a job prints
        upstream's notice and returns ``None`` where upstream did.
        """
        if response.status_code in (401, 403) or response.status_code >= 500:
            raise_for_status(response)
        if response.status_code == 404 and none_on_404:
            if not self.quiet:
                print(NO_JOB_MESSAGE)  # noqa: T201 - upstream prints this notice
            return None
        is_json, body = _decode(response)
        if response.status_code >= 400 and not isinstance(body, dict):
            raise_for_status(response)
        if response.content and not is_json:
            raise not_the_api(response)
        return body if response.content else None

    @staticmethod
    def _json(response: httpx.Response) -> JSON:
        raise_for_status(response)
        if not response.content:
            return None
        is_json, body = _decode(response)
        if not is_json:
            raise not_the_api(response)
        return body

    def _parse_job(self, response: httpx.Response) -> JobInfo:
        body = self._json(response)
        try:
            return JobInfo.from_json(body)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise not_the_api(response) from None

    def _parse_jobs(self, response: httpx.Response) -> list[JobInfo]:
        body = self._json(response)
        try:
            if isinstance(body, dict):
                body = body.get("jobs", list(body.values()))
            return [JobInfo.from_json(item) for item in body]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise not_the_api(response) from None

    def _parse_submit(self, response: httpx.Response) -> int:
        body = self._json(response)
        try:
            return int(body["id"])
        except (KeyError, TypeError, ValueError):
            raise ApiError(
                f"Unexpected submit answer: {body!r}",
                status_code=response.status_code,
                code="unexpected_answer",
                detail=body,
                response=response,
            ) from None

    def _parse_batch(self, response: httpx.Response) -> BatchResult:
        """The batch answer; a 400 that carries per-entry results is an answer, not an error."""
        is_json, body = _decode(response)
        if not (response.status_code == 400 and isinstance(body, dict) and "results" in body):
            body = self._json(response)
        try:
            return BatchResult.from_json(
                body, replayed=response.headers.get("Idempotent-Replayed") == "true"
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise not_the_api(response) from None

    def _parse_dry_run(self, response: httpx.Response) -> DryRun:
        body = self._json(response)
        try:
            return DryRun.from_json(body)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise not_the_api(response) from None

    def _parse_as(self, response: httpx.Response, model: Any) -> Any:
        """The answer as ``model`` (``model.from_json``); ``not_the_api`` when it does not fit."""
        body = self._json(response)
        try:
            return model.from_json(body)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise not_the_api(response) from None

    def _parse_urgency(self, response: httpx.Response) -> UrgencyChange:
        return cast(UrgencyChange, self._parse_as(response, UrgencyChange))

    def _parse_signal(self, response: httpx.Response) -> SignalResult:
        return cast(SignalResult, self._parse_as(response, SignalResult))

    def _parse_bulk_cancel(self, response: httpx.Response) -> CancelResult:
        return cast(CancelResult, self._parse_as(response, CancelResult))

    def _parse_output(self, response: httpx.Response) -> list[str]:
        body = self._json(response)
        output = body.get("Output") if isinstance(body, dict) else None
        if not isinstance(output, list):
            return []
        return [item if isinstance(item, str) else str(item.get("data", "")) for item in output]

    def _parse_labelled_output(self, response: httpx.Response) -> list[OutputLine]:
        body = self._json(response)
        output = body.get("Output") if isinstance(body, dict) else None
        if not isinstance(output, list):
            return []
        return [OutputLine.from_json(item) for item in output]

    def _parse_job_events(self, response: httpx.Response) -> list[JobEvent]:
        body = self._json(response)
        items = body.get("events") if isinstance(body, dict) else body
        if not isinstance(items, list):
            return []
        return [JobEvent.from_json(item) for item in items if isinstance(item, Mapping)]

    def _parse_nodes(self, response: httpx.Response) -> list[Node]:
        body = self._json(response)
        detail = body.get("detail")
        if isinstance(detail, list):  # ``detail=true``: per-node resources
            return [Node.from_json(item) for item in detail]
        return [Node.from_json(item) for item in body.get("nodes", [])]

    def _parse_token(self, response: httpx.Response) -> str:
        return self.auth.parse_login_response(response)

    def _parse_identity(self, response: httpx.Response) -> Identity:
        body = self._json(response)
        if not isinstance(body, Mapping):
            raise not_the_api(response)
        return Identity.from_json(body)

    def _parse_personal_token(self, response: httpx.Response) -> PersonalToken:
        body = self._json(response)
        try:
            return PersonalToken.from_json(body)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise not_the_api(response) from None

    def _parse_personal_tokens(self, response: httpx.Response) -> list[PersonalToken]:
        body = self._json(response)
        try:
            return [PersonalToken.from_json(item) for item in body["tokens"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise not_the_api(response) from None
