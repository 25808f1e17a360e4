"""Job-control subcommands: hold, release, urgency, signal (``cancel`` with filters is in _app)."""

from __future__ import annotations

import click

from ._app import cli, pass_config
from ._config import CliConfig, echo_json

__all__: list[str] = []


@cli.command()
@click.argument("jobids", nargs=-1, required=True, metavar="JOBID...")
@pass_config
def hold(cfg: CliConfig, jobids: tuple[str, ...]) -> None:
    """Hold pending jobs (urgency 0) until released, as `flux job urgency ID hold`."""
    with cfg.client() as client:
        for jobid in jobids:
            change = client.hold_job(jobid)
            click.echo(f"{jobid}: {change.message} (urgency {change.old_urgency} -> 0)")


@cli.command()
@click.argument("jobids", nargs=-1, required=True, metavar="JOBID...")
@pass_config
def release(cfg: CliConfig, jobids: tuple[str, ...]) -> None:
    """Release held jobs: each gets back the urgency it had before the hold."""
    with cfg.client() as client:
        for jobid in jobids:
            change = client.release_job(jobid)
            click.echo(f"{jobid}: {change.message} (urgency {change.urgency})")


@cli.command()
@click.argument("jobid")
@click.argument("value", metavar="URGENCY")
@pass_config
def urgency(cfg: CliConfig, jobid: str, value: str) -> None:
    """Set a pending job's urgency: 0-31, or hold, default, expedite (above 16: superusers)."""
    level: int | str = int(value) if value.strip().lstrip("-").isdigit() else value
    with cfg.client() as client:
        change = client.set_urgency(jobid, level)
    click.echo(f"{jobid}: urgency {change.old_urgency} -> {change.urgency}")


@cli.command()
@click.argument("jobid")
@click.option(
    "--signal",
    "-s",
    "signal_",
    default="SIGTERM",
    show_default=True,
    help="Signal name (SIGUSR1, USR1) or number.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the server's answer as JSON.")
@pass_config
def signal(cfg: CliConfig, jobid: str, signal_: str, as_json: bool) -> None:
    """Send a signal to every task of a running job, as `flux job kill`."""
    value: int | str = int(signal_) if signal_.strip().isdigit() else signal_
    with cfg.client() as client:
        sent = client.signal_job(jobid, value)
    if as_json:
        echo_json({"id": sent.id, "signal": sent.signal, "name": sent.name})
    else:
        click.echo(f"{jobid}: sent {sent.name} ({sent.signal})")
