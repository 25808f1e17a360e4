"""Job subcommands: submit (``--follow``), logs, list-jobs, list-nodes, wait, watch."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from .._client import Client
from .._types import JobId
from ..models import JobInfo, Node
from ._app import cli, pass_config
from ._config import CliConfig, echo_json, exit_code_for, is_tty

__all__ = ["follow"]

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


def _write(line: str, stream: str, rank: int, label: bool) -> None:
    out = sys.stderr if stream == "stderr" else sys.stdout
    out.write(f"{stream}.{rank}: {line}" if label else line)
    out.flush()


def follow(client: Client, job_id: JobId, *, label: bool = False) -> int:
    """Print a job's output as it is written; return the exit status mirroring the job's end.

    On our server the frame stream carries the output and the end; on upstream's the chunked
    output stream does (unlabelled), and the end comes from polling the job's info.
    """
    if client.server_info().supports("stream"):
        for frame in client.iter_frames(job_id, types=("output", "end")):
            if frame.type == "output":
                _write(frame.data or "", frame.stream or "stdout", frame.rank or 0, label)
            elif frame.type == "end":
                return exit_code_for(frame.returncode, frame.result or "")
    else:
        for line in client.iter_lines(job_id):
            _write(line.data, line.stream, line.rank, label)
    info = client.wait(job_id)
    return exit_code_for(info.returncode, info.result)


def _env_pairs(pairs: Iterable[str]) -> dict[str, str]:
    envars: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            click.echo(f"Skipping --env {pair!r}: use KEY=VALUE", err=True)
            continue
        envars[key] = value
    return envars


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--workdir", help="Working directory of the job.")
@click.option("--num_tasks", "--num-tasks", "num_tasks", type=int, help="Number of tasks.")
@click.option(
    "--cores_per_task", "--cores-per-task", "cores_per_task", type=int, help="Cores per task."
)
@click.option(
    "--gpus_per_task", "--gpus-per-task", "gpus_per_task", type=int, help="GPUs per task."
)
@click.option("--num_nodes", "--num-nodes", "num_nodes", type=int, help="Number of nodes.")
@click.option("--exclusive", is_flag=True, default=None, help="Whole nodes (needs --num_nodes).")
@click.option(
    "--is_launcher",
    "--is-launcher",
    "is_launcher",
    is_flag=True,
    default=None,
    help="Run as a workflow launcher.",
)
@click.option(
    "--option_flags", "--option-flags", "option_flags", help="Flux shell options: k=v,k2=v2."
)
@click.option(
    "--env", "envs", multiple=True, metavar="KEY=VALUE", help="Environment variable (repeatable)."
)
@click.option("--runtime", type=int, help="Time limit in seconds (0: none).")
@click.option("--name", help="Job name.")
@click.option(
    "--follow",
    "-f",
    "follow_",
    is_flag=True,
    help="Print the output live, exit with the job's code.",
)
@click.option("--label", is_flag=True, help="With --follow: prefix lines with stream.rank.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_config
def submit(
    cfg: CliConfig,
    /,
    command: tuple[str, ...],
    envs: tuple[str, ...],
    follow_: bool,
    label: bool,
    **fields: Any,
) -> None:
    """Submit a job: flux-restful-cli submit [OPTIONS] [--] COMMAND..."""
    if not command:
        click.echo("Please include the command that you want to submit!", err=True)
        sys.exit(1)
    envars = _env_pairs(envs)
    if envars:
        fields["envars"] = envars
    with cfg.upstream_client() as client:
        data = client.submit(list(command), **fields)
        job_id = data.get("id") if isinstance(data, dict) else None
        if not follow_ or not isinstance(job_id, int):
            echo_json(data)
            sys.exit(0 if job_id is not None else 1)
        click.echo(f"Submitted job {job_id}", err=True)
        sys.exit(follow(client, job_id, label=label))


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
