"""The dashboard's commands: ``flux-restful-cli dashboard`` and ``flux-restful-tui``.

Only these import the dashboard (``flux_restful_tui``, from the ``tui`` extra), lazily: the CLI
builds the client and passes it in, and the dashboard imports nothing of the CLI.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import click

from .._exceptions import FluxRestfulError
from ._app import ca_option, cli, insecure_option
from ._config import CliConfig

__all__ = ["tui_main"]

_MISSING = (
    "The dashboard needs Textual, which is not installed: "
    "pip install 'flux-restful-client[tui]' (or './sdk[tui]' from a checkout)."
)


def _run(cfg: CliConfig, read_only: bool) -> None:
    if importlib.util.find_spec("textual") is None:
        raise click.ClickException(_MISSING)
    from flux_restful_tui import run_dashboard

    try:
        client = cfg.aclient()
    except FluxRestfulError as exc:
        raise click.ClickException(str(exc)) from None
    run_dashboard(client, read_only=read_only)


def _options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(
        (
            click.option("--host", help="API host, e.g. http://127.0.0.1:5000."),
            click.option(
                "--settings-file", type=click.Path(dir_okay=False), help="Custom settings file."
            ),
            click.option(
                "-c", "params", multiple=True, metavar="PARAM", help="Settings: set:key:value."
            ),
            click.option("--read-only", is_flag=True, help="Watch only: hide submit and cancel."),
        )
    ):
        command = option(command)
    return command


@cli.command()
@_options
@click.pass_obj
def dashboard(
    cfg: CliConfig,
    host: str | None,
    settings_file: str | None,
    params: tuple[str, ...],
    read_only: bool,
) -> None:
    """Open the live terminal dashboard: jobs, logs, nodes."""
    if settings_file or params:  # given after `dashboard`: as if given before it
        cfg = CliConfig(
            settings_file=settings_file or cfg.settings_file,
            params=(*cfg.params, *params),
            host=cfg.host,
            quiet=cfg.quiet,
            attempts=cfg.attempts,
            ca=cfg.ca,
            insecure=cfg.insecure,
        )
    if host:
        cfg.host = host
    _run(cfg, read_only)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@_options
@ca_option
@insecure_option
def tui_main(
    host: str | None,
    settings_file: str | None,
    params: tuple[str, ...],
    read_only: bool,
    ca: str | None,
    insecure: bool,
) -> None:
    """Live terminal dashboard of a Flux RESTful API server: jobs, logs, nodes."""
    host = host or os.environ.get("FLUX_RESTFUL_HOST")
    cfg = CliConfig(
        settings_file=settings_file,
        params=params,
        host=host,
        quiet=True,
        ca=ca,
        insecure=insecure,
    )
    _run(cfg, read_only)
