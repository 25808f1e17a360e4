"""Reading jobs from the command line: logs, list-jobs, list-nodes, wait, watch."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from ..models import JobInfo, Node
from ._app import cli, pass_config
from ._config import CliConfig, echo_json, exit_code_for, is_tty

__all__: list[str] = []

_output_option = click.option(
    "--output",
    "-o",
    "output",
    type=click.Choice(["table", "json"]),
    default=None,
    help="Output format (default: table on a terminal, JSON when piped).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Same as --output json.")


def _wants_json(output: str | None, as_json: bool) -> bool:
    return as_json or output == "json" or (output is None and not is_tty())


@contextmanager
def _spinner(text: str) -> Iterator[None]:
    """A spinner on stderr while waiting, only when stdout is a terminal."""
    if not is_tty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield


@cli.command()
@click.argument("jobid")
@click.option(
    "--stream",
    "--follow",
    "-f",
    "stream",
    is_flag=True,
    help="Follow the output live until the job ends.",
)
@pass_config
def logs(cfg: CliConfig, jobid: str, stream: bool) -> None:
    """Print a job's output."""
    with cfg.upstream_client() as client:
        if stream:
            for line in client.stream_output(jobid):
                click.echo(line)
            return
        data = client.output(jobid)
    if isinstance(data, dict) and isinstance(data.get("Output"), list):
        for line in data["Output"]:
            click.echo(str(line).strip())
    else:
        echo_json(data)


def _ts(value: float | None) -> str:
    return datetime.fromtimestamp(value).strftime("%H:%M:%S") if value else ""


def _jobs_table(jobs: list[JobInfo]) -> Any:
    from rich.table import Table

    table = Table("ID", "STATE", "RESULT", "RC", "NAME", "USER", "SUBMITTED", box=None)
    for job in jobs:
        rc = "" if job.returncode is None else str(job.returncode)
        table.add_row(
            str(job.id), job.state, job.result, rc, job.name, job.user or "", _ts(job.t_submit)
        )
    return table


def _nodes_table(nodes: list[Node]) -> Any:
    from rich.table import Table

    table = Table("NODE", "CORES", "FREE CORES", "GPUS", "FREE GPUS", box=None)
    for node in nodes:
        cells = (node.cores, node.free_cores, node.gpus, node.free_gpus)
        table.add_row(node.name, *("" if c is None else str(c) for c in cells))
    return table


def _print(renderable: Any) -> None:
    from rich.console import Console

    Console().print(renderable)


@cli.command("list-jobs")
@_output_option
@_json_option
@pass_config
def list_jobs(cfg: CliConfig, output: str | None, as_json: bool) -> None:
    """List jobs (JSON as upstream when piped or with --json)."""
    if _wants_json(output, as_json):
        with cfg.upstream_client() as upstream:
            echo_json(upstream.jobs())
        return
    with cfg.client() as client:
        _print(_jobs_table(client.list_jobs()))


@cli.command("list-nodes")
@_output_option
@_json_option
@pass_config
def list_nodes(cfg: CliConfig, output: str | None, as_json: bool) -> None:
    """List the nodes that are up (JSON as upstream when piped or with --json)."""
    if _wants_json(output, as_json):
        with cfg.upstream_client() as upstream:
            echo_json(upstream.list_nodes())
        return
    with cfg.client() as client:
        _print(_nodes_table(client.get_nodes()))


@cli.command()
@click.argument("jobid")
@click.option("--timeout", type=float, help="Give up after this many seconds (exit 124).")
@pass_config
def wait(cfg: CliConfig, jobid: str, timeout: float | None) -> None:
    """Wait for a job to end, print its info, exit with its return code."""
    with cfg.client() as client, _spinner(f"Waiting for job {jobid}..."):
        try:
            info = client.wait(jobid, timeout=timeout)
        except TimeoutError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(124)
    echo_json(dict(info.raw))
    sys.exit(exit_code_for(info.returncode, info.result))


@cli.command()
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="Seconds between refreshes."
)
@click.option(
    "--count", type=int, default=0, help="Stop after this many refreshes (0: until Ctrl-C)."
)
@pass_config
def watch(cfg: CliConfig, interval: float, count: int) -> None:
    """Show a live table of jobs."""
    from rich.console import Console
    from rich.live import Live

    shown = 0
    with cfg.client() as client:
        if not is_tty():
            while True:
                _print(_jobs_table(client.list_jobs()))
                shown += 1
                if count and shown >= count:
                    return
                time.sleep(interval)
        try:
            with Live(
                _jobs_table(client.list_jobs()), console=Console(), auto_refresh=False
            ) as live:
                shown = 1
                while not count or shown < count:
                    time.sleep(interval)
                    live.update(_jobs_table(client.list_jobs()), refresh=True)
                    shown += 1
        except KeyboardInterrupt:
            pass
