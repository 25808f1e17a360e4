"""The ``flux-restful-cli`` click group and upstream's subcommands."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from click.core import ParameterSource

from .._exceptions import FluxRestfulError
from .._version import __version__
from ._config import CliConfig, echo_json

__all__ = ["ca_option", "cli", "insecure_option", "main"]

pass_config = click.make_pass_decorator(CliConfig)

ca_option = click.option(
    "--ca",
    envvar="FLUX_RESTFUL_CA",
    type=click.Path(dir_okay=False),
    help="CA bundle (PEM) that signed an https:// server's certificate [env FLUX_RESTFUL_CA].",
)
"""``--ca``, shared by ``flux-restful-cli`` and ``flux-restful-tui``."""

insecure_option = click.option(
    "--insecure",
    is_flag=True,
    help="Allow credentials over plain http:// to another machine (refused by default) "
    "[env FLUX_RESTFUL_INSECURE].",
)
"""``--insecure``, shared by ``flux-restful-cli`` and ``flux-restful-tui``."""


class _Group(click.Group):
    """A click group that turns SDK errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; report ``FluxRestfulError`` without a traceback."""
        try:
            return super().invoke(ctx)
        except FluxRestfulError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(
    cls=_Group,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--debug", is_flag=True, help="Log every request (to stderr).")
@click.option("--quiet", is_flag=True, help="Suppress notices.")
@click.version_option(__version__, "--version", message="%(version)s")
@click.option("--settings-file", type=click.Path(dir_okay=False), help="Custom settings file.")
@click.option(
    "-c", "params", multiple=True, metavar="PARAM", help="Settings on the fly: set:key:value."
)
@click.option(
    "--host",
    envvar="FLUX_RESTFUL_HOST",
    help="API host, e.g. http://127.0.0.1:5000 or https://flux.example.org.",
)
@click.option(
    "--attempts",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Tries per request when the server cannot be reached or is unavailable.",
)
@ca_option
@insecure_option
@click.pass_context
def cli(
    ctx: click.Context,
    debug: bool,
    quiet: bool,
    settings_file: str | None,
    params: tuple[str, ...],
    host: str | None,
    attempts: int,
    ca: str | None,
    insecure: bool,
) -> None:
    """Flux RESTful API client: submit, inspect and follow jobs."""
    if debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    ctx.obj = CliConfig(
        settings_file=settings_file,
        params=params,
        host=host,
        quiet=quiet,
        attempts=attempts,
        ca=ca,
        insecure=insecure,
    )
    if ctx.invoked_subcommand is None:
        flags_given = any(
            ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE for name in ctx.params
        )
        click.echo(f"Flux RESTFul Python Client v{__version__}")
        click.echo(ctx.get_help())
        ctx.exit(1 if flags_given else 0)


@cli.command()
@pass_config
def version(cfg: CliConfig) -> None:
    """Show the client's version and, when it answers, which server it talks to."""
    click.echo(__version__)
    try:
        with cfg.client(attempts=1, timeout=5.0) as client:
            server = client.server_info()
    except FluxRestfulError as exc:
        click.echo(f"server: not identified ({exc})", err=True)
        return
    if server.is_upstream:
        click.echo(f"server: {server} (upstream servers do not report their version)")
    else:
        click.echo(f"server: {server}")


@cli.command()
@click.argument("jobids", nargs=-1, metavar="[JOBID]...")
@click.option("--all", "all_", is_flag=True, help="Every active job you may cancel.")
@click.option(
    "--state",
    "states",
    multiple=True,
    help="Only jobs in this state: pending, running, or a state name (repeatable).",
)
@click.option("--name", help="Only jobs whose name contains this.")
@click.option("--user", help="Only this user's jobs (superusers).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before cancelling several jobs.")
@pass_config
def cancel(
    cfg: CliConfig,
    jobids: tuple[str, ...],
    all_: bool,
    states: tuple[str, ...],
    name: str | None,
    user: str | None,
    yes: bool,
) -> None:
    """Cancel a job, or every job matching filters (as `flux cancel --all --states`).

    With one JOBID and no filter it prints the server's answer, as upstream's CLI does. With
    filters (or several ids) it asks first, showing how many jobs match; --yes skips the question.
    """
    bulk = bool(all_ or states or name or user or len(jobids) > 1)
    if not bulk:
        if not jobids:
            raise click.UsageError("give a JOBID, or filters: --all, --state, --name, --user")
        with cfg.upstream_client() as upstream:
            data = upstream.cancel(jobids[0])
        echo_json(data)
        if not (isinstance(data, dict) and data.get("Message") == "Job is requested to cancel."):
            sys.exit(1)
        return
    with cfg.client() as client:
        if not yes:
            _confirm_bulk_cancel(client, jobids, states, name, user)
        result = client.cancel_jobs(
            ids=jobids or None, state=states or None, name=name, user=user, all=all_
        )
    click.echo(result.message or f"{result.count} jobs requested to cancel.")
    for job_id in result.ids:
        click.echo(job_id)


def _confirm_bulk_cancel(
    client: Any, jobids: tuple[str, ...], states: tuple[str, ...], name: str | None,
    user: str | None,
) -> None:  # fmt: skip
    """Ask before a bulk cancel, naming how many active jobs match (refuse without a terminal)."""
    what = [f"{len(jobids)} given id(s)"] if jobids else []
    what += [f"state {', '.join(states)}"] if states else []
    what += [f"name containing {name!r}"] if name else []
    what += [f"user {user}"] if user else []
    if not jobids:
        matching = [
            j for j in client.list_jobs(name=name, user=user, state="active") if not j.is_done
        ]
        if states:
            wanted = {s.upper() for s in states}
            groups = {"PENDING": {"DEPEND", "PRIORITY", "SCHED"}, "RUNNING": {"RUN"}}
            allowed = set().union(*(groups.get(s, {s}) for s in wanted))
            matching = [j for j in matching if j.state in allowed]
        count = f"{len(matching)} active job{'s' if len(matching) != 1 else ''}"
    else:
        count = "the given jobs"
    scope = f" ({'; '.join(what)})" if what else " (every job you may cancel)"
    if not sys.stdin.isatty():
        raise click.ClickException(
            f"refusing to cancel {count}{scope} without confirmation: pass --yes"
        )
    if not click.confirm(f"Cancel {count}{scope}?", default=False, err=True):
        raise click.Abort()


@cli.command()
@click.argument("jobid")
@pass_config
def info(cfg: CliConfig, jobid: str) -> None:
    """Show a job's info as JSON."""
    with cfg.upstream_client() as client:
        data = client.jobs(jobid)
    echo_json(data)
    if not (isinstance(data, dict) and "id" in data):
        sys.exit(1)


@cli.command("stop-service")
@pass_config
def stop_service(cfg: CliConfig) -> None:
    """Stop the server (superuser when auth is on)."""
    with cfg.upstream_client() as client:
        echo_json(client.stop_service())


def main(args: list[str] | None = None) -> None:
    """Run ``flux-restful-cli``."""
    cli.main(args=args, prog_name="flux-restful-cli")
