"""``flux-restful-cli webhooks``: subscriptions, their delivery logs, and a local receiver."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import click

from .._exceptions import WebhookVerificationError
from .._webhooks import verify_webhook
from ..models import Webhook, WebhookDelivery, WebhookSecret
from ._app import cli, pass_config
from ._config import CliConfig, echo_json, is_tty

__all__ = ["webhooks"]

EVENTS_HELP = (
    "Events to deliver, comma-separated: all (default), submitted, started, exception, finished, "
    "or a result: completed, failed, canceled, timeout."
)
_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (the default when piped)."
)


def _json_wanted(as_json: bool) -> bool:
    return as_json or not is_tty()


def _when(t: float | None) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _hook_line(hook: Webhook) -> str:
    state = f"paused ({hook.pause_reason})" if hook.paused else "active"
    scope = f" jobs {','.join(map(str, hook.job_ids))}" if hook.job_ids else ""
    name = f" name~{hook.job_name}" if hook.job_name else ""
    return f"{hook.id}  {hook.url}  [{','.join(hook.events)}]{scope}{name}  {state}"


def _secret_out(made: WebhookSecret, as_json: bool, verb: str) -> None:
    if _json_wanted(as_json):
        echo_json({"webhook": dict(made.webhook.raw), "secret": made.secret})
        return
    click.echo(f"{verb} {_hook_line(made.webhook)}")
    click.echo(f"Secret (shown once, keep it to verify deliveries): {made.secret}")


@cli.group()
def webhooks() -> None:
    """Webhook subscriptions: the server POSTs signed job events to a URL (docs/webhooks.md)."""


@webhooks.command("add")
@click.argument("url")
@click.option("--events", "-e", default="all", show_default=True, help=EVENTS_HELP)
@click.option("--job-name", help="Only jobs whose name contains this.")
@click.option("--job", "job_ids", multiple=True, help="Only this job (repeat for more).")
@click.option("--description", "-d", help="Free text, for people.")
@_json_option
@pass_config
def add(
    cfg: CliConfig,
    url: str,
    events: str,
    job_name: str | None,
    job_ids: tuple[str, ...],
    description: str | None,
    as_json: bool,
) -> None:
    """Subscribe URL to job events; prints the signing secret, which is shown only now."""
    names = [e.strip() for e in events.split(",") if e.strip()]
    with cfg.client() as client:
        made = client.webhooks.add(
            url, events=names, job_name=job_name, job_ids=job_ids or None, description=description
        )
    _secret_out(made, as_json, "Webhook")


@webhooks.command("list")
@_json_option
@pass_config
def list_(cfg: CliConfig, as_json: bool) -> None:
    """List your subscriptions (a superuser's: everyone's)."""
    with cfg.client() as client:
        hooks = client.webhooks.list()
    if _json_wanted(as_json):
        echo_json([dict(h.raw) for h in hooks])
    elif not hooks:
        click.echo("No webhooks.")
    for hook in hooks if not _json_wanted(as_json) else ():
        click.echo(_hook_line(hook))


@webhooks.command("show")
@click.argument("hook_id")
@pass_config
def show(cfg: CliConfig, hook_id: str) -> None:
    """Show one subscription as JSON."""
    with cfg.client() as client:
        echo_json(dict(client.webhooks.get(hook_id).raw))


@webhooks.command("rm")
@click.argument("hook_ids", nargs=-1, required=True)
@pass_config
def rm(cfg: CliConfig, hook_ids: tuple[str, ...]) -> None:
    """Delete subscriptions and their delivery logs."""
    with cfg.client() as client:
        for hook_id in hook_ids:
            client.webhooks.delete(hook_id)
            click.echo(f"Deleted {hook_id}")


@webhooks.command("pause")
@click.argument("hook_id")
@pass_config
def pause(cfg: CliConfig, hook_id: str) -> None:
    """Hold a subscription's deliveries until it is resumed."""
    with cfg.client() as client:
        click.echo(_hook_line(client.webhooks.pause(hook_id)))


@webhooks.command("resume")
@click.argument("hook_id")
@pass_config
def resume(cfg: CliConfig, hook_id: str) -> None:
    """Send a paused subscription's deliveries again, oldest first."""
    with cfg.client() as client:
        click.echo(_hook_line(client.webhooks.resume(hook_id)))


@webhooks.command("rotate")
@click.argument("hook_id")
@_json_option
@pass_config
def rotate(cfg: CliConfig, hook_id: str, as_json: bool) -> None:
    """Give a subscription a new secret (the old one still signs for a grace period)."""
    with cfg.client() as client:
        _secret_out(client.webhooks.rotate(hook_id), as_json, "Rotated")


def _delivery_line(d: WebhookDelivery) -> str:
    code = d.last_status_code if d.last_status_code is not None else "-"
    nxt = f"  next {_when(d.next_attempt)}" if d.status == "pending" and d.attempts else ""
    error = f"  {d.last_error}" if d.last_error else ""
    return (
        f"{d.id:>6}  {d.type:<14} job {d.job_id}  {d.status:<9} attempts {d.attempts}  "
        f"last {code}{nxt}{error}"
    )


@webhooks.command("deliveries")
@click.argument("hook_id", required=False)
@click.option("--job", "job_id", help="Every delivery of this job's events instead.")
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=50, show_default=True)
@_json_option
@pass_config
def deliveries(
    cfg: CliConfig, hook_id: str | None, job_id: str | None, limit: int, as_json: bool
) -> None:
    """Show a subscription's delivery log (or a job's deliveries), newest first."""
    if (hook_id is None) == (job_id is None):
        raise click.UsageError("give a webhook id or --job JOBID (one of them)")
    with cfg.client() as client:
        if job_id is not None:
            found = client.webhooks.for_job(job_id)
        else:
            assert hook_id is not None
            found = client.webhooks.deliveries(hook_id, limit=limit)
    if _json_wanted(as_json):
        echo_json([dict(d.raw) for d in found])
        return
    if not found:
        click.echo("No deliveries.")
    for d in found:
        click.echo(_delivery_line(d))


@webhooks.command("redeliver")
@click.argument("hook_id")
@click.argument("delivery_id", type=int)
@pass_config
def redeliver(cfg: CliConfig, hook_id: str, delivery_id: int) -> None:
    """Send a delivery again now (receivers see the same webhook-id)."""
    with cfg.client() as client:
        click.echo(_delivery_line(client.webhooks.redeliver(hook_id, delivery_id)))


@webhooks.command("listen")
@click.option(
    "--port", "-p", type=click.IntRange(1, 65535), required=True, help="Port on 127.0.0.1."
)
@click.option(
    "--secret",
    envvar="FLUX_WEBHOOK_SECRET",
    required=True,
    multiple=True,
    help="The subscription's secret (whsec_...; repeat for several). Env: FLUX_WEBHOOK_SECRET.",
)
@click.option("--count", type=click.IntRange(1), help="Exit after this many verified deliveries.")
@_json_option
def listen(port: int, secret: tuple[str, ...], count: int | None, as_json: bool) -> None:
    """Receive deliveries on 127.0.0.1, verify them, and print each (to try webhooks out).

    Subscribe http://127.0.0.1:PORT/ with `webhooks add` (the server's FLUX_WEBHOOK_ALLOW must
    allow loopback). Verified deliveries are answered 204, others 400 and reported on stderr.
    """
    seen = {"verified": 0}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(min(length, 1 << 20))
            try:
                event: Any = verify_webhook(body, dict(self.headers.items()), secret)
            except WebhookVerificationError as exc:
                click.echo(f"rejected {self.headers.get('webhook-id', '-')}: {exc}", err=True)
                self.send_response(400)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()
            if as_json:
                click.echo(json.dumps(event))
            else:
                data = event.get("data", {}) if isinstance(event, dict) else {}
                result = f" {data['result']}" if data.get("result") else ""
                code = f" rc={data['returncode']}" if data.get("returncode") is not None else ""
                click.echo(
                    f"{event.get('timestamp', '')}  {event.get('type', '?'):<14} job "
                    f"{data.get('id')} ({data.get('name')})  {data.get('state')}{result}{code}"
                )
            sys.stdout.flush()
            seen["verified"] += 1

        def log_message(self, *args: object) -> None:
            pass

    try:
        server = HTTPServer(("127.0.0.1", port), Receiver)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    click.echo(f"Listening on http://127.0.0.1:{port}/ (Ctrl-C to stop)", err=True)
    try:
        with server:
            while count is None or seen["verified"] < count:
                server.handle_request()
    except KeyboardInterrupt:
        pass
