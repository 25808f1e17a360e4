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
@click.argument("jobid")
@pass_config
def cancel(cfg: CliConfig, jobid: str) -> None:
    """Cancel a job."""
    with cfg.upstream_client() as client:
        data = client.cancel(jobid)
    echo_json(data)
    if not (isinstance(data, dict) and data.get("Message") == "Job is requested to cancel."):
        sys.exit(1)


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
