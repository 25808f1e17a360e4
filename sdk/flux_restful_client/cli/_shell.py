"""The ``shell`` subcommand: IPython (or the standard REPL) with ready clients."""

from __future__ import annotations

import code
import importlib
import sys
from typing import Any

import click

from ._app import cli, pass_config
from ._config import CliConfig

__all__: list[str] = []


def _banner(host: str, has_await: bool) -> str:
    lines = [
        f"Flux RESTful shell connected to {host}",
        "  client   FluxRestfulClient (sync):  client.jobs(), client.submit('hostname')",
        "  aclient  AsyncFluxRestfulClient:    await aclient.jobs()"
        + (
            ""
            if has_await
            else "  (top-level await needs IPython: pip install 'flux-restful-client[shell]')"
        ),
    ]
    return "\n".join(lines) + "\n"


@cli.command()
@click.option(
    "--interpreter",
    "-i",
    type=click.Choice(["ipython", "python", "bpython"]),
    default="ipython",
    show_default=True,
    help="Which interactive shell to start.",
)
@pass_config
def shell(cfg: CliConfig, interpreter: str) -> None:
    """Open IPython with `client` and `aclient` connected to the API."""
    namespace: dict[str, Any] = {
        "client": cfg.upstream_client(),
        "aclient": cfg.upstream_aclient(),
    }
    host = namespace["client"].host
    if interpreter == "ipython":
        try:
            from IPython import start_ipython
            from traitlets.config import Config
        except ImportError:
            click.echo(
                "IPython is missing (pip install 'flux-restful-client[shell]'); using python.",
                err=True,
            )
        else:
            config = Config()
            config.TerminalInteractiveShell.banner2 = _banner(host, True)
            config.InteractiveShell.autoawait = True
            start_ipython(argv=[], user_ns=namespace, config=config)  # type: ignore[no-untyped-call]
            return
    if interpreter == "bpython":
        try:
            bpython = importlib.import_module("bpython")
        except ImportError:
            click.echo("bpython is missing; using python.", err=True)
        else:
            bpython.embed(locals_=namespace, banner=_banner(host, False))
            return
    sys.ps1 = ">>> "
    code.interact(banner=_banner(host, False), local=namespace, exitmsg="")
