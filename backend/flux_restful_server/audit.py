"""The audit log: one JSON line per security-relevant action, to a file or stderr.

Logins (ok and failed), token handshakes, refused credentials, submits, cancels (one or many),
holds, releases, urgency changes, signals and service stops are recorded from the answers the
server gave (response middleware), so no handler needs to remember to log; user changes made with
``flux-restful add-user`` and friends are recorded by those commands. A line holds who (API user,
address), what (event, route, job id) and the outcome: never a password, a token or a job's command
or environment. See docs/operations.md.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import math
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from .auth.tokens import HandshakeError, decode_handshake
from .media import media_type
from .settings import SettingsError

if TYPE_CHECKING:
    from sanic import HTTPResponse, Request

__all__ = ["AuditLog", "STDERR", "audit_command", "open_audit_log"]

STDERR = "-"
"""The ``--audit-log`` value that writes to standard error."""
_EVENTS = {
    "auth.login_access_token": "login",
    "auth.token": "token_handshake",
    "jobs.submit": "submit",
    "jobs.submit_batch": "submit",
    "jobs.submit_jobspec": "submit",
    "web.submit": "submit",
    "jobs.cancel": "cancel",
    "web.cancel": "cancel",
    "control.cancel_many": "cancel_many",
    "control.hold": "hold",
    "control.release": "release",
    "control.urgency": "urgency",
    "control.signal": "signal",
    "web.hold": "hold",
    "web.release": "release",
    "service.stop_service": "service_stop",
    "auth.create_token": "token_created",
    "auth.revoke_token": "token_revoked",
}
"""Route (blueprint.handler) → the event its answers record."""


class AuditLog:
    """Appends JSON lines to one stream; safe to call from any thread."""

    def __init__(self, stream: IO[str], *, owned: bool) -> None:
        self._stream = stream
        self._owned = owned
        self._lock = threading.Lock()
        self._token_seen: dict[str, float] = {}

    def record(self, event: str, **fields: Any) -> None:
        """Write one line: ``time`` (UTC, ISO 8601), ``event``, then the fields that are set."""
        line: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event,
        }
        line.update((key, value) for key, value in fields.items() if value is not None)
        data = orjson.dumps(line).decode() + "\n"
        with self._lock:
            self._stream.write(data)
            self._stream.flush()

    def close(self) -> None:
        """Close the file (never stderr)."""
        if self._owned:
            self._stream.close()

    def answered(self, request: Request[Any, Any], response: HTTPResponse) -> None:
        """Record the answer to ``request`` if it is an audited action (response middleware)."""
        route = request.route
        name = route.name.partition(".")[2] if route is not None else ""
        event = _EVENTS.get(name)
        status = response.status
        self._token_used(request)
        if name == "auth.login_access_token" and _grant_type(request) == "refresh_token":
            event = "token_refresh"
            if status == 400 and _error_code(response) == "refresh_token_reused":
                event = "refresh_token_reused"  # the family is revoked: worth an alert
        if event is None:
            if status in (401, 403) and request.headers.get("authorization"):
                self.record(
                    "denied",
                    user=_user(request),
                    address=_address(request),
                    method=request.method,
                    path=request.path,
                    status=status,
                )
            return
        fields: dict[str, Any] = {
            "user": _user(request),
            "address": _address(request),
            "outcome": "ok" if status < 400 else "failed",
            "status": status,
        }
        if event != "service_stop" and "job_id" in request.match_info:
            fields["job"] = str(request.match_info["job_id"])
        if event == "submit" and name in ("jobs.submit", "jobs.submit_jobspec") and status == 200:
            fields["job"] = _submitted_id(response)
        if name == "jobs.submit_batch" and status == 200:
            fields["jobs"] = _submitted_ids(response)
        if name == "web.submit" and 300 <= status < 400:
            fields["outcome"] = "ok"
        token = getattr(request.ctx, "audit_token", None) or _token_id(request)
        if token is not None:
            fields["token"] = token
        self.record(event, **fields)

    def websocket(
        self, request: Request[Any, Any], principal: Any, outcome: str, code: int | None
    ) -> None:
        """Record a websocket handshake: who, which stream, accepted or refused (close code)."""
        self.record(
            "websocket",
            user=principal.name if principal is not None else _user(request),
            token=principal.token_id if principal is not None else None,
            address=_address(request),
            path=request.path,
            outcome=outcome,
            close_code=code,
        )

    def accessed(
        self,
        request: Request[Any, Any],
        status: int,
        elapsed: float | None,
        *,
        websocket: str | None = None,
    ) -> None:
        """Write one access line (the access log): method, path, route, status, duration, who."""
        route = request.route
        principal = getattr(request.ctx, "principal", None)
        self.record(
            "request",
            method=request.method,
            path=request.path,
            route=route.path if route is not None else None,
            status=status,
            duration_ms=round(elapsed * 1000, 3) if elapsed is not None else None,
            user=principal.name if principal is not None else None,
            auth=principal.via if principal is not None else None,
            address=_address(request),
            websocket=websocket,
            user_agent=request.headers.get("user-agent", "")[:200] or None,
        )

    def _token_used(self, request: Request[Any, Any]) -> None:
        """Record a personal token's use: once a minute per token, not once per request."""
        token = _token_id(request)
        if token is None:
            return
        now = time.monotonic()
        if now - self._token_seen.get(token, -math.inf) < 60:
            return
        if len(self._token_seen) >= 4096:
            self._token_seen.clear()
        self._token_seen[token] = now
        self.record(
            "token_used",
            user=_user(request),
            token=token,
            address=_address(request),
            method=request.method,
            path=request.path,
        )


def open_audit_log(target: str, *, flag: str = "--audit-log") -> AuditLog:
    """Open ``target`` for appending (created 0600), or stderr for ``-``.

    Raises:
        SettingsError: The file cannot be opened for appending (the message names ``flag``).
    """
    if target == STDERR:
        return AuditLog(sys.stderr, owned=False)
    path = Path(target).expanduser()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise SettingsError(f"{flag} {path}: cannot open it ({exc.strerror})") from None
    return AuditLog(os.fdopen(fd, "a", encoding="utf-8"), owned=True)


def audit_command(event: str, **fields: Any) -> None:
    """Record a change made from the command line, when ``FLUX_AUDIT_LOG`` names a log.

    Raises:
        SettingsError: The log cannot be opened.
    """
    target = os.environ.get("FLUX_AUDIT_LOG", "").strip()
    if not target:
        return
    log = open_audit_log(target)
    try:
        log.record(event, by=_os_user(), **fields)
    finally:
        log.close()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _token_id(request: Request[Any, Any]) -> str | None:
    """The personal token that authenticated ``request``, if one did."""
    principal = getattr(request.ctx, "principal", None)
    return principal.token_id if principal is not None else None


def _grant_type(request: Request[Any, Any]) -> str:
    content_type = media_type(request.headers.get("content-type", ""))
    try:
        if content_type == "application/json":
            body = orjson.loads(request.body or b"{}")
            value = body.get("grant_type") if isinstance(body, dict) else None
        else:
            value = request.form.get("grant_type") if request.form else None
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else "password"


def _error_code(response: HTTPResponse) -> str | None:
    try:
        body = orjson.loads(response.body or b"")
    except (ValueError, TypeError):
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _address(request: Request[Any, Any]) -> str:
    return str(request.remote_addr or request.ip or "")


def _user(request: Request[Any, Any]) -> str | None:
    """Who acted: the authenticated API user, else the name a login or Basic header claimed."""
    principal = getattr(request.ctx, "principal", None)
    if principal is not None and principal.name is not None:
        return str(principal.name)
    name = request.route.name if request.route is not None else ""
    if name.endswith("auth.login_access_token"):
        return _login_name(request)
    secret = request.app.ctx.settings.secret_key
    if name.endswith("auth.token") and secret:
        try:  # the handshake's name (its password is never looked at here)
            return decode_handshake(secret, request.headers.get("authorization")).user[:256]
        except HandshakeError:
            return None
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return pair.partition(":")[0][:256] or None  # the name only, never the password
    return None


def _login_name(request: Request[Any, Any]) -> str | None:
    content_type = media_type(request.headers.get("content-type", ""))
    try:
        if content_type == "application/json":
            body = orjson.loads(request.body or b"{}")
            name = body.get("username") if isinstance(body, dict) else None
        else:
            name = request.form.get("username") if request.form else None
    except (ValueError, AttributeError):
        return None
    return name[:256] if isinstance(name, str) and name else None


def _submitted_ids(response: HTTPResponse) -> list[int] | None:
    try:
        body = orjson.loads(response.body or b"")
    except (ValueError, TypeError):
        return None
    ids = body.get("ids") if isinstance(body, dict) else None
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else None


def _submitted_id(response: HTTPResponse) -> int | None:
    try:
        body = orjson.loads(response.body or b"")
    except (ValueError, TypeError):
        return None
    job = body.get("id") if isinstance(body, dict) else None
    return job if isinstance(job, int) else None
