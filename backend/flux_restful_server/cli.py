"""The ``flux-restful`` command: run the server and manage its users."""

from __future__ import annotations

import errno
import gc
import logging
import multiprocessing
import os
import signal
import socket
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._version import __version__
from .hardening import forbid_tracing, scrub_environment
from .settings import Settings, SettingsError, default_state_dir

if TYPE_CHECKING:
    from .http.context import App


def _bind_check(host: str, port: int) -> None:
    """Fail early, with the reason, when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is already in use; stop the other server or pass "
                    "--port with a free port"
                ) from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _configure_logging(level: str) -> None:
    """Log our own messages beside Sanic's (which has its own handlers) at ``level``."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("flux_restful", "flux_restful_server"):
        logger = logging.getLogger(name)
        logger.setLevel(level.upper())
        logger.addHandler(handler)
        logger.propagate = False


def _tls_options(settings: Settings) -> dict[str, str] | None:
    """Sanic's ``ssl=`` for the configured pair, after checking it loads (``None``: plain HTTP).

    Raises:
        SettingsError: A file is missing, unreadable or not PEM, or the key does not match.
    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    from .tls import server_ssl_context

    server_ssl_context(settings.tls_cert, settings.tls_key)
    # Each worker loads the pair itself (a context cannot be sent to another process).
    return {"cert": str(settings.tls_cert), "key": str(settings.tls_key)}


APP_NAME = "flux_restful"
"""The Sanic app's name: every worker process builds its app under it."""


GC_THRESHOLDS = (50_000, 20, 100)
"""The collector's thresholds while serving (Python's: 700, 10, 10); see :func:`collect_less`."""


def worker_app(settings: Settings) -> App:
    """Build the app in a server process (the main one, and each worker Sanic spawns)."""
    forbid_tracing()  # a spawned worker is a fresh exec: make it non-dumpable too
    if multiprocessing.parent_process() is not None:
        # A worker the manager stops while it starts (SIGINT, before any handler of Sanic's or
        # ours) exits quietly, not with a KeyboardInterrupt traceback out of an import. It
        # started with SIGINT blocked (``http.stopping``), so one sent before this line waited.
        signal.signal(signal.SIGINT, _stop_starting)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from .app import create_app

    app = create_app(settings, name=APP_NAME)
    app.after_server_start(collect_less)
    return app


def _stop_starting(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


async def collect_less(app: App) -> None:
    """Leave the start-up heap out of garbage collection and collect the young less often.

    What start-up built (Sanic, the routes, the OpenAPI models, every imported module) lives as
    long as the server: frozen, no collection walks it again. Serving allocates many short-lived
    containers (a future and a callback per follower of every live line) and hardly any cycles:
    with 1,000 followers of a job, the collector took a fifth of the server's CPU (py-spy) and
    freed nothing, and its full collections paused every stream for up to 0.5 s
    (``gc.callbacks``). Cycles are still collected, 50,000 allocations apart instead of 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flux-restful")
def main() -> None:
    """Flux RESTful API server: submit, watch and cancel jobs over HTTP."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5000,
    show_default=True,
    help="TCP port (0 picks a free one).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_state_dir,
    show_default="$XDG_STATE_HOME/flux-restful",
    help="Where jobs, output, keys and the lock are kept.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "flux", "auto"]),
    default="local",
    show_default=True,
    help="Who runs jobs: this machine, a Flux instance, or Flux when reachable.",
)
@click.option(
    "--nodes",
    type=click.IntRange(min=1),
    default=None,
    help="Emulated nodes of the local executor [default: 1].",
)
@click.option(
    "--cores-per-node",
    type=click.IntRange(min=1),
    default=None,
    help="Cores per emulated node [default: this machine's].",
)
@click.option(
    "--gpus-per-node",
    type=click.IntRange(min=0),
    default=None,
    help="GPUs per emulated node [default: 0].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes (only 1 with the local executor).",
)
@click.option(
    "--job-user",
    metavar="NAME",
    default=None,
    help="Run every job as this unprivileged system account, which cannot read the state dir "
    "(single-user mode; the server must run as root) [env: FLUX_JOB_USER].",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="How much the server logs.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=True, path_type=Path),
    default=None,
    help="Serve HTTPS with this PEM certificate chain (env FLUX_TLS_CERT; needs --tls-key).",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=True, path_type=Path),
    default=None,
    help="Unencrypted PEM private key of --tls-cert (env FLUX_TLS_KEY).",
)
@click.option(
    "--audit-log",
    metavar="PATH",
    default=None,
    help="Append audit lines (JSON: logins, submits, cancels...) to PATH, '-' for stderr "
    "(env FLUX_AUDIT_LOG).",
)
@click.option(
    "--access-log",
    metavar="PATH",
    default=None,
    help="Append one JSON line per request (method, route, status, duration, user, address) "
    "to PATH, '-' for stderr (env FLUX_ACCESS_LOG).",
)
@click.option(
    "--submit-rate",
    metavar="RATES",
    default=None,
    help="Submits per caller, e.g. '50/second;1000/minute', or 'off' (env FLUX_SUBMIT_RATE) "
    "[default: 50/second;1000/minute].",
)
@click.option(
    "--read-rate",
    metavar="RATES",
    default=None,
    help="Listings, searches and output reads per caller, or 'off' (env FLUX_READ_RATE) "
    "[default: 100/second;3000/minute].",
)
@click.option(
    "--max-streams",
    type=click.IntRange(min=0),
    default=None,
    help="Streams one caller may hold open at once, 0 for no cap (env FLUX_MAX_STREAMS) "
    "[default: 256].",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=None,
    help="Most jobs one batch submit may carry [default: 1000; env: FLUX_MAX_BATCH].",
)
def serve(
    host: str,
    port: int,
    state_dir: Path,
    executor: str,
    nodes: int | None,
    cores_per_node: int | None,
    gpus_per_node: int | None,
    workers: int,
    job_user: str | None,
    log_level: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    audit_log: str | None,
    access_log: str | None,
    submit_rate: str | None,
    read_rate: str | None,
    max_streams: int | None,
    max_batch: int | None,
) -> None:
    """Run the server (the local executor by default, on 127.0.0.1:5000).

    Authentication and modes come from upstream's variables: FLUX_REQUIRE_AUTH,
    FLUX_AUTH_BACKEND, FLUX_SERVER_MODE, FLUX_USER, FLUX_TOKEN, FLUX_SECRET_KEY, ... (see the
    README and docs/auth.md). HTTPS, probes, metrics, rate limits and the audit and access logs:
    docs/operations.md.
    """
    _configure_logging(log_level)
    try:
        settings = Settings.from_env(
            host=host,
            port=port,
            state_dir=state_dir,
            executor=executor,
            nodes=nodes,
            cores_per_node=cores_per_node,
            gpus_per_node=gpus_per_node,
            workers=workers,
            job_user=job_user,
            log_level=log_level,
            tls_cert=tls_cert,
            tls_key=tls_key,
            audit_log=audit_log,
            access_log=access_log,
            submit_rate=submit_rate,
            read_rate=read_rate,
            max_streams=max_streams,
            max_batch=max_batch,
        )
        tls = _tls_options(settings)
        if settings.audit_log:
            from .audit import open_audit_log

            open_audit_log(settings.audit_log).close()  # checked here, opened again at start
        if settings.access_log:
            from .audit import open_audit_log

            open_audit_log(settings.access_log, flag="--access-log").close()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    # The settings hold the secrets now: no process started from here on (the job supervisor,
    # and through it every job) inherits them, and /proc/<pid>/environ no longer shows them.
    scrub_environment()
    forbid_tracing()
    if port:
        _bind_check(host, port)
    if settings.executor == "local":
        from .executors.local.statedir import lock_state_dir

        try:
            os.close(lock_state_dir(settings.state_dir))  # checked here, taken again at start
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    # Sanic's own "running in PRODUCTION mode, consider --debug or --dev" names flags of the
    # sanic command, not of this one.
    os.environ.setdefault("SANIC_IGNORE_PRODUCTION_WARNING", "1")

    loader = AppLoader(factory=partial(worker_app, settings))
    try:
        app = loader.load()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        app.prepare(
            host=host,
            port=port,
            single_process=workers == 1,
            workers=workers,
            access_log=log_level == "debug",
            motd=False,
            debug=False,
            ssl=tls,
        )
        if workers == 1:
            Sanic.serve_single(primary=app)
        else:
            # Each worker is a fresh process that builds its own app from the same settings
            # (they travel pickled through the process manager, not through the environment).
            from .http.stopping import spare_the_worker_state_process

            spare_the_worker_state_process(app)
            Sanic.serve(primary=app, app_loader=loader)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from None


from .auth.commands import add_user, list_users, remove_user, set_password, set_user  # noqa: E402

main.add_command(add_user)
main.add_command(remove_user)
main.add_command(list_users)
main.add_command(set_password)
main.add_command(set_user)
