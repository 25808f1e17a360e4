"""``flux-restful-tui`` (and ``flux-restful-cli dashboard``): build the client, run the app."""

from __future__ import annotations

import asyncio
import importlib.util
from typing import TYPE_CHECKING

import click

from flux_restful_client import AsyncClient, FluxRestfulError
from flux_restful_client.cli import CliConfig

if TYPE_CHECKING:
    from .app import DashboardApp

__all__ = ["main", "make_app", "run_dashboard"]


def make_app(client: AsyncClient, *, read_only: bool = False) -> DashboardApp:
    """The dashboard around ``client``."""
    from .app import DashboardApp

    return DashboardApp(client, read_only=read_only)


def run_dashboard(client: AsyncClient, *, read_only: bool = False) -> None:
    """Run the dashboard in this terminal until the user quits, then close ``client``."""
    app = make_app(client, read_only=read_only)
    try:
        app.run()
    finally:
        asyncio.run(client.aclose())


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", envvar="FLUX_RESTFUL_HOST", help="API host, e.g. http://127.0.0.1:5000.")
@click.option("--settings-file", type=click.Path(dir_okay=False), help="Custom settings file.")
@click.option(
    "-c", "params", multiple=True, metavar="PARAM", help="Settings on the fly: set:key:value."
)
@click.option("--read-only", is_flag=True, help="Watch only: hide submit and cancel.")
@click.pass_context
def main(
    ctx: click.Context,
    host: str | None,
    settings_file: str | None,
    params: tuple[str, ...],
    read_only: bool,
) -> None:
    """Live terminal dashboard of a Flux RESTful API server: jobs, logs, nodes."""
    if importlib.util.find_spec("textual") is None:
        raise click.ClickException(
            "The dashboard needs Textual, which is not installed: "
            "pip install 'flux-restful-client[tui]' (or ./sdk[tui] from a checkout)."
        )
    parent = ctx.find_object(CliConfig)
    cfg = parent or CliConfig(settings_file=settings_file, params=params, host=host, quiet=True)
    if parent is not None and host:
        cfg.host = host
    try:
        client = cfg.aclient()
    except FluxRestfulError as exc:
        raise click.ClickException(str(exc)) from None
    run_dashboard(client, read_only=read_only)
