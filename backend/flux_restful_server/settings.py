"""Server settings: one typed object, built once at start-up from flags and the environment."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .limits import MAX_BODY
from .webhooks.config import WebhookSettings, WebhookSettingsError

AuthBackend = Literal["none", "database", "shared-secret", "pam"]
ServerMode = Literal["single-user", "multi-user"]
ExecutorName = Literal["local", "flux", "auto"]

TRUE_WORDS = frozenset({"true", "1", "yes", "on", "t", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "f", "n", ""})


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the setting and why."""


def parse_bool(value: str, *, name: str) -> bool:
    """Parse a boolean the way query strings and upstream's variables are parsed.

    Raises:
        SettingsError: The value is not a recognised boolean word.
    """
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingsError(
        f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), not {value!r}"
    )


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/flux-restful``, falling back to ``~/.local/state/flux-restful``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "flux-restful"


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with. Built by :meth:`from_env`, passed down."""

    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = 5000
    """TCP port to listen on (0 picks a free one)."""
    state_dir: Path = field(default_factory=default_state_dir)
    """Where the job store, output files, keys and the lock live."""
    executor: ExecutorName = "local"
    """Which executor runs jobs."""
    nodes: int = 1
    """Emulated nodes of the local executor."""
    cores_per_node: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Cores per emulated node."""
    gpus_per_node: int = 0
    """GPUs per emulated node."""
    workers: int = 1
    """Server worker processes (only 1 with the local executor)."""
    log_level: str = "info"
    """Python logging level name."""
    auth_backend: AuthBackend = "none"
    """How callers authenticate."""
    server_mode: ServerMode = "single-user"
    """Whether jobs run as the server user or as each authenticated system user."""
    flux_user: str | None = None
    """Superuser created (or updated) at start when auth is on."""
    flux_token: str | None = field(default=None, repr=False)
    """Password of ``flux_user``."""
    secret_key: str | None = field(default=None, repr=False)
    """Shared secret of the ``/v1/token`` handshake (``FLUX_SECRET_KEY``)."""
    token_signing_key: str | None = field(default=None, repr=False)
    """Server-only key that signs access tokens; generated in the state dir when unset."""
    access_token_expires_minutes: int = 600
    """Access token lifetime."""
    refresh_token_expires_days: int = 30
    """Lifetime of a refresh token; each use issues a new one for as long again
    (``FLUX_REFRESH_TOKEN_EXPIRES_DAYS``)."""
    personal_token_max_days: int = 365
    """Longest lifetime a personal access token may be given (``FLUX_PERSONAL_TOKEN_MAX_DAYS``)."""
    admin_users: frozenset[str] = frozenset()
    """Extra superusers by name."""
    job_user: str | None = None
    """Single-user mode: the system account every job runs as (``FLUX_JOB_USER``,
    ``--job-user``); ``None`` runs jobs as the server's account."""
    min_uid: int = 1000
    """Lowest system uid a multi-user job may run as."""
    pam_service: str = "login"
    """PAM service for the ``pam`` backend."""
    has_gpus: bool = False
    """Whether ``gpus_per_task`` may be set (upstream's ``FLUX_HAS_GPUS``)."""
    number_nodes: int | None = None
    """Upstream's ``FLUX_NUMBER_NODES``: the node count submissions are checked against."""
    option_flags: Mapping[str, str] = field(default_factory=dict)
    """Server-wide default job shell options (``FLUX_OPTION_FLAGS``)."""
    env_passthrough: tuple[str, ...] = ()
    """Extra server variables (names or fnmatch patterns) copied into jobs."""
    kill_timeout: float = 5.0
    """Seconds between SIGTERM and SIGKILL when a job is cancelled or times out."""
    stream_buffer: int = 10_000
    """Entries a stream subscriber may fall behind before it is cut off (``FLUX_STREAM_BUFFER``)."""
    request_max_size: int = MAX_BODY
    """Largest request body in bytes; bigger ones get a 413 (``FLUX_REQUEST_MAX_SIZE``)."""
    response_timeout: int = 60
    """Seconds a request may take before it is answered 503 (``FLUX_RESPONSE_TIMEOUT``)."""
    trusted_origins: frozenset[str] = frozenset()
    """Browser origins besides the requested host allowed to write (``FLUX_TRUSTED_ORIGINS``)."""
    audit_log: str | None = None
    """Where audit lines go: a file path, ``-`` for stderr, ``None`` for nowhere
    (``--audit-log``, ``FLUX_AUDIT_LOG``)."""
    access_log: str | None = None
    """Where access lines (one JSON line per request) go: a path, ``-`` for stderr, ``None``
    for nowhere (``--access-log``, ``FLUX_ACCESS_LOG``)."""
    submit_rate: str = "50/second;1000/minute"
    """Submits one caller may make, in ``limits`` notation, or ``off`` (``--submit-rate``,
    ``FLUX_SUBMIT_RATE``)."""
    read_rate: str = "100/second;3000/minute"
    """Listings, searches and output reads one caller may make, or ``off`` (``--read-rate``,
    ``FLUX_READ_RATE``)."""
    max_streams: int = 256
    """Streams one caller may hold open at once; 0 for no cap (``--max-streams``,
    ``FLUX_MAX_STREAMS``)."""
    metrics_public: bool = False
    """Serve ``/metrics`` without authentication even when auth is on (``FLUX_METRICS_PUBLIC``)."""
    tls_cert: Path | None = None
    """PEM certificate chain served over HTTPS (``--tls-cert``, ``FLUX_TLS_CERT``)."""
    tls_key: Path | None = None
    """PEM private key of ``tls_cert`` (``--tls-key``, ``FLUX_TLS_KEY``)."""
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    """Where webhooks may go and how they are retried (``FLUX_WEBHOOK_*``, docs/webhooks.md)."""
    max_batch: int = 1000
    """Most jobs one batch submit may carry (``--max-batch``, ``FLUX_MAX_BATCH``)."""

    @property
    def auth_enabled(self) -> bool:
        """Whether callers must authenticate."""
        return self.auth_backend != "none"

    @property
    def tls_enabled(self) -> bool:
        """Whether the server speaks HTTPS."""
        return self.tls_cert is not None

    @property
    def db_path(self) -> Path:
        """The SQLite store."""
        return self.state_dir / "flux-restful.db"

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from upstream's environment variables, then apply flag overrides.

        Raises:
            SettingsError: A variable has an unusable value.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}

        backend = env.get("FLUX_AUTH_BACKEND", "").strip().lower()
        if backend:
            if backend not in ("none", "database", "shared-secret", "pam"):
                raise SettingsError(
                    "FLUX_AUTH_BACKEND must be one of none, database, shared-secret, pam; "
                    f"not {backend!r}"
                )
            values["auth_backend"] = backend
        elif parse_bool(env.get("FLUX_REQUIRE_AUTH", ""), name="FLUX_REQUIRE_AUTH"):
            values["auth_backend"] = "shared-secret"

        mode = env.get("FLUX_SERVER_MODE", "single-user").strip().lower()
        if mode not in ("single-user", "multi-user"):
            raise SettingsError("FLUX_SERVER_MODE must be single-user or multi-user")
        values["server_mode"] = mode

        for var, key in (
            ("FLUX_USER", "flux_user"),
            ("FLUX_TOKEN", "flux_token"),
            ("FLUX_SECRET_KEY", "secret_key"),
            ("FLUX_TOKEN_SIGNING_KEY", "token_signing_key"),
            ("FLUX_PAM_SERVICE", "pam_service"),
            ("FLUX_AUDIT_LOG", "audit_log"),
            ("FLUX_ACCESS_LOG", "access_log"),
            ("FLUX_SUBMIT_RATE", "submit_rate"),
            ("FLUX_READ_RATE", "read_rate"),
            ("FLUX_JOB_USER", "job_user"),
        ):
            if env.get(var):
                values[key] = env[var]

        for var, key in (
            ("FLUX_ACCESS_TOKEN_EXPIRES_MINUTES", "access_token_expires_minutes"),
            ("FLUX_REFRESH_TOKEN_EXPIRES_DAYS", "refresh_token_expires_days"),
            ("FLUX_PERSONAL_TOKEN_MAX_DAYS", "personal_token_max_days"),
            ("FLUX_MIN_UID", "min_uid"),
            ("FLUX_NUMBER_NODES", "number_nodes"),
            ("FLUX_STREAM_BUFFER", "stream_buffer"),
            ("FLUX_REQUEST_MAX_SIZE", "request_max_size"),
            ("FLUX_RESPONSE_TIMEOUT", "response_timeout"),
            ("FLUX_MAX_STREAMS", "max_streams"),
            ("FLUX_MAX_BATCH", "max_batch"),
        ):
            if env.get(var, "").strip():
                minimum = 0 if key in ("min_uid", "max_streams") else 1
                values[key] = _parse_int(env[var], name=var, minimum=minimum)

        for var, key in (("FLUX_TLS_CERT", "tls_cert"), ("FLUX_TLS_KEY", "tls_key")):
            if env.get(var, "").strip():
                values[key] = Path(env[var].strip()).expanduser()

        values["metrics_public"] = parse_bool(
            env.get("FLUX_METRICS_PUBLIC", ""), name="FLUX_METRICS_PUBLIC"
        )

        gpus = env.get("FLUX_HAS_GPUS", env.get("FLUX_HAS_GPU", ""))
        values["has_gpus"] = parse_bool(gpus, name="FLUX_HAS_GPUS")
        values["admin_users"] = frozenset(_split_list(env.get("FLUX_ADMIN_USERS", "")))
        values["env_passthrough"] = tuple(_split_list(env.get("FLUX_JOB_ENV_PASSTHROUGH", "")))
        if env.get("FLUX_OPTION_FLAGS", "").strip():
            values["option_flags"] = parse_server_option_flags(env["FLUX_OPTION_FLAGS"])
        values["trusted_origins"] = parse_trusted_origins(env.get("FLUX_TRUSTED_ORIGINS", ""))
        try:
            values["webhooks"] = WebhookSettings.from_env(env)
        except WebhookSettingsError as exc:
            raise SettingsError(str(exc)) from None

        settings = cls(**values).with_overrides(**overrides)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check values that flags and variables cannot express by type.

        Raises:
            SettingsError: A value is out of range or inconsistent.
        """
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"--port must be between 0 and 65535, not {self.port}")
        for name, value, low in (
            ("--nodes", self.nodes, 1),
            ("--cores-per-node", self.cores_per_node, 1),
            ("--gpus-per-node", self.gpus_per_node, 0),
            ("--workers", self.workers, 1),
            ("--max-batch", self.max_batch, 1),
        ):
            if value < low:
                raise SettingsError(f"{name} must be >= {low}, not {value}")
        if self.executor == "local" and self.workers != 1:
            raise SettingsError(
                "--workers must be 1 with the local executor: it keeps its job state in this "
                "process (use --executor flux, where Flux holds the state, for more workers)"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            given, missing = (
                ("--tls-cert", "--tls-key") if self.tls_key is None else ("--tls-key", "--tls-cert")
            )
            raise SettingsError(
                f"{given} needs {missing} too (or FLUX_TLS_CERT and FLUX_TLS_KEY): HTTPS needs "
                "both the certificate and its private key"
            )
        if self.auth_enabled and self.server_mode == "multi-user" and os.geteuid() != 0:
            raise SettingsError(
                "FLUX_SERVER_MODE=multi-user runs jobs as the authenticated user, which requires "
                f"the server to run as root (it is uid {os.geteuid()})."
            )
        if self.job_user is not None:
            self._validate_job_user(self.job_user)

    def _validate_job_user(self, name: str) -> None:
        from .domain.owner import system_account

        if self.auth_enabled and self.server_mode == "multi-user":
            raise SettingsError(
                "--job-user (FLUX_JOB_USER) is for single-user mode: in multi-user mode every "
                "job already runs as its user's own account"
            )
        if self.executor == "flux":
            raise SettingsError(
                "--job-user (FLUX_JOB_USER) works with the local executor only: Flux runs jobs "
                "as the instance owner"
            )
        account = system_account(name)
        if account is None:
            raise SettingsError(f"--job-user {name!r} is not a system account on this machine")
        if account.uid == 0:
            raise SettingsError(f"--job-user {name!r} is root: choose an unprivileged account")
        if account.uid == os.geteuid():
            raise SettingsError(
                f"--job-user {name!r} is the server's own account: it would give jobs no "
                "isolation; choose another, unprivileged account"
            )
        if os.geteuid() != 0:
            raise SettingsError(
                f"--job-user runs jobs as {name!r}, which requires the server to run as root "
                f"(it is uid {os.geteuid()})"
            )


_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def host_port(scheme: str, netloc: str) -> str:
    """``netloc`` in lower case without the default port of ``scheme``."""
    netloc = netloc.lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and netloc.endswith(f":{default}"):
        netloc = netloc[: -len(default) - 1]
    return netloc


def normalise_origin(text: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or ``None`` if not one."""
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    return f"{scheme}://{host_port(scheme, parts.netloc)}"


def parse_trusted_origins(text: str) -> frozenset[str]:
    """Parse ``FLUX_TRUSTED_ORIGINS`` (comma-separated ``https://host[:port]``), normalised.

    Raises:
        SettingsError: An item is not an origin (a scheme and a host, no path).
    """
    origins = set()
    for item in _split_list(text):
        origin = normalise_origin(item)
        if origin is None:
            raise SettingsError(
                f"FLUX_TRUSTED_ORIGINS items must look like https://host[:port], not {item!r}"
            )
        origins.add(origin)
    return frozenset(origins)


def parse_server_option_flags(text: str) -> dict[str, str]:
    """Parse ``FLUX_OPTION_FLAGS`` (``"-ompi=openmpi@5 -okey=value"``) into shell options.

    Raises:
        SettingsError: An item is not ``-okey=value``.
    """
    import shlex

    flags: dict[str, str] = {}
    for item in shlex.split(text):
        body = item[2:] if item.startswith("-o") else item
        key, sep, value = body.partition("=")
        if not sep or not key:
            raise SettingsError(f"FLUX_OPTION_FLAGS items must look like -okey=value, not {item!r}")
        flags[key] = value
    return flags


def _parse_int(text: str, *, name: str, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {text!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, not {value}")
    return value


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def new_secret() -> str:
    """A fresh random key for signing tokens."""
    return secrets.token_urlsafe(48)
