"""The ``submit`` subcommand: one job (``--follow`` prints its output), or a batch.

A batch is ``--cc`` copies of one job or the JSON lines of ``--from-file``, sent in one request;
every line of the file is checked as a submit before anything is sent.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import IO, Any

import click

from .._arguments import submit_payload
from .._client import Client
from .._exceptions import FluxRestfulError
from .._types import JobId
from ._app import cli, pass_config
from ._config import CliConfig, echo_json, exit_code_for

__all__ = ["MAX_LINE", "follow", "read_jobs"]


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
@click.option("--num_tasks", "--num-tasks", "-n", "num_tasks", type=int, help="Number of tasks.")
@click.option(
    "--cores_per_task", "--cores-per-task", "-c", "cores_per_task", type=int,
    help="Cores per task.",
)  # fmt: skip
@click.option(
    "--gpus_per_task", "--gpus-per-task", "-g", "gpus_per_task", type=int, help="GPUs per task."
)
@click.option("--num_nodes", "--num-nodes", "-N", "num_nodes", type=int, help="Number of nodes.")
@click.option(
    "--exclusive", "-x", is_flag=True, default=None, help="Whole nodes (needs --num_nodes)."
)
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
@click.option("--name", help="Job name ({cc} is replaced by the copy's id with --cc).")
@click.option("--queue", "-q", help="Queue to submit to (the local executor has one: default).")
@click.option(
    "--cc",
    metavar="IDSET",
    help="Submit a copy per id of IDSET, as Flux's --cc (0-9: ten copies); {cc} in the command "
    "and --name becomes the id, FLUX_JOB_CC is set.",
)
@click.option(
    "--from-file",
    "from_file",
    type=click.File("r"),
    metavar="JOBS.jsonl",
    help="Submit one job per line: a JSON object of submit fields with a command, or a JSON "
    "string (the command); '-' reads stdin. Options given here are defaults for every line.",
)
@click.option("--dry-run", "dry_run", is_flag=True, help="Validate only: print the normalised job.")
@click.option(
    "--urgency", type=click.IntRange(0, 31), help="0-31 (default 16; 0 holds; >16 superusers)."
)
@click.option(
    "--dependency",
    "dependencies",
    multiple=True,
    metavar="SCHEME:JOBID",
    help="Wait for a job: afterok, afternotok, afterany or after (repeatable), as Flux's.",
)
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
    dependencies: tuple[str, ...],
    follow_: bool,
    label: bool,
    cc: str | None,
    from_file: IO[str] | None,
    dry_run: bool,
    **fields: Any,
) -> None:
    """Submit a job: flux-restful-cli submit [OPTIONS] [--] COMMAND...

    The short options are Flux's (flux submit -n 4 -c 2 -N 1 -x -q batch). With --cc or
    --from-file, many jobs go in one request (a batch): the ids are printed in order, and any
    job that was refused with its reason (the command exits 1 then).
    """
    if command and command[0].startswith("-"):
        # Everything from the first word that is not an option of ours is the command: an
        # option we do not know would become the program to run.
        raise click.UsageError(
            f"no such option: {command[0]} (submit's options come before the command; "
            "a command cannot start with '-')"
        )
    if from_file is not None and command:
        raise click.UsageError("Give a COMMAND or --from-file, not both")
    if not command and from_file is None:
        click.echo("Please include the command that you want to submit!", err=True)
        sys.exit(1)
    if follow_ and (cc is not None or from_file is not None):
        raise click.UsageError("--follow follows one job: not with --cc or --from-file")
    envars = _env_pairs(envs)
    if envars:
        fields["envars"] = envars
    if dependencies:
        fields["dependency"] = list(dependencies)
    fields = {k: v for k, v in fields.items() if v is not None}
    if cc is not None or from_file is not None:
        jobs: list[Any] = [list(command)]
        places: list[str] = []
        if from_file is not None:
            jobs, places = read_jobs(from_file)
        with cfg.client() as client:
            sys.exit(_submit_batch(client, jobs, fields, cc=cc, dry_run=dry_run, places=places))
    if dry_run:
        with cfg.client() as client:
            checked = client.dry_run(list(command), **fields)
            echo_json({"request": dict(checked.request), "jobspec": checked.jobspec})
            sys.exit(0)
    with cfg.upstream_client() as client:
        data = client.submit(list(command), **fields)
        job_id = data.get("id") if isinstance(data, dict) else None
        if not follow_ or not isinstance(job_id, int):
            echo_json(data)
            sys.exit(0 if job_id is not None else 1)
        click.echo(f"Submitted job {job_id}", err=True)
        sys.exit(follow(client, job_id, label=label))


MAX_LINE = 1 << 20
"""Longest line of a --from-file job list, in characters."""


def read_jobs(stream: IO[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The jobs of a JSON-lines file and where each is (``file:line``).

    One job per line; blank lines and ``#`` comments are skipped.

    Raises:
        click.ClickException: A line that is not a job, naming the file and the line.
    """
    name = getattr(stream, "name", "<stdin>")
    jobs: list[dict[str, Any]] = []
    places: list[str] = []
    for number, line in enumerate(stream, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{name}:{number}"
        if len(text) > MAX_LINE:
            raise click.ClickException(f"{where}: the line is longer than {MAX_LINE:,} characters")
        try:
            job = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.ClickException(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if isinstance(job, str | list):
            job = {"command": job}
        if not isinstance(job, dict):
            raise click.ClickException(
                f"{where}: a job is a JSON object of submit fields or a command string, "
                f"not {type(job).__name__}"
            )
        if not job.get("command"):
            raise click.ClickException(f"{where}: the job has no command")
        fields = dict(job)
        try:
            submit_payload(fields.pop("command"), fields)
        except (TypeError, FluxRestfulError) as exc:
            raise click.ClickException(f"{where}: {exc}") from None
        jobs.append(job)
        places.append(where)
    if not jobs:
        raise click.ClickException(f"{name}: no job in the file")
    return jobs, places


def _submit_batch(
    client: Client,
    jobs: list[Any],
    defaults: dict[str, Any],
    *,
    cc: str | None,
    dry_run: bool,
    places: list[str],
) -> int:
    """Submit ``jobs`` as one batch; print the ids (or the dry run) and return the exit status.

    Refused jobs are named by ``places`` (their ``file:line``) when given.
    """
    try:
        result = client.submit_many(jobs, cc=cc, dry_run=dry_run, **defaults)
    except (TypeError, FluxRestfulError) as exc:
        raise click.ClickException(str(exc)) from None
    body: dict[str, Any] = {"Message": result.message, "ids": result.ids}
    if dry_run:
        body["requests"] = [dict(e.request) if e.request else None for e in result.entries]
    if result.failed:
        body["failed"] = [
            {"index": e.index, "code": e.code, "detail": e.detail} for e in result.failed
        ]
    echo_json(body)
    for entry in result.failed:
        where = places[entry.index] if entry.index < len(places) else f"job {entry.index}"
        click.echo(f"{where}: {entry.detail}", err=True)
    return 1 if result.failed else 0
