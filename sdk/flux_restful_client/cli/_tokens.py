"""``flux-restful-cli token create / list / revoke``: personal access tokens for scripts and CI."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from .._arguments import parse_duration
from .._exceptions import FluxRestfulError
from ..models import PersonalToken
from ._app import cli, pass_config
from ._config import CliConfig, echo_json, is_tty

__all__: list[str] = []

_SCOPE_HELP = (
    "What the token may do: read (GET requests only), submit (and read: submit, cancel), "
    "admin (and both; superusers only)."
)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _as_json(token: PersonalToken) -> dict[str, object]:
    return {k: v for k, v in token.raw.items() if k != "token"}


def _check_expires(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parse_duration(value)
    except FluxRestfulError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@cli.group()
def token() -> None:
    """Personal access tokens: create (shown once), list, revoke.

    A personal token replaces a password in scripts and CI: set FLUX_RESTFUL_TOKEN=frp_... and
    every command sends it as the bearer token.
    """


@token.command("create")
@click.option("--name", "-n", required=True, help="What the token is for, e.g. ci.")
@click.option(
    "--scope",
    type=click.Choice(["read", "submit", "admin"]),
    default="read",
    show_default=True,
    help=_SCOPE_HELP,
)
@click.option(
    "--expires",
    default="30d",
    show_default=True,
    callback=_check_expires,
    help="Lifetime: 30d, 12h, 2w, 90m, or seconds (the server caps it, 365 days by default).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the token and its details as JSON.")
@pass_config
def create(cfg: CliConfig, name: str, scope: str, expires: str, as_json: bool) -> None:
    """Create a token and print it (standard output, once: store it now)."""
    with cfg.client() as client:
        created = client.create_token(name, scope=scope, expires=expires)
    if as_json:
        echo_json(dict(created.raw))
        return
    click.echo(
        f"Created token {created.name!r} (id {created.id}, scopes {' '.join(created.scopes)}, "
        f"expires {_when(created.expires)}). It is shown only now: store it somewhere safe.",
        err=True,
    )
    click.echo(created.token)


@token.command("list")
@click.option("--user", help="Only this user's tokens (superusers; others see their own).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default when piped).")
@pass_config
def list_(cfg: CliConfig, user: str | None, as_json: bool) -> None:
    """List live tokens (yours; a superuser's: everyone's). Secrets are never shown."""
    with cfg.client() as client:
        tokens = client.list_tokens(user=user)
    if as_json or not is_tty():
        echo_json([_as_json(t) for t in tokens])
        return
    if not tokens:
        click.echo("No tokens.")
        return
    rows = [("ID", "NAME", "USER", "SCOPES", "EXPIRES", "LAST USED")]
    rows += [
        (t.id, t.name, t.user, ",".join(t.scopes), _when(t.expires), _when(t.last_used))
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@token.command("revoke")
@click.argument("token_ids", metavar="ID_OR_NAME...", nargs=-1, required=True)
@pass_config
def revoke(cfg: CliConfig, token_ids: tuple[str, ...]) -> None:
    """Revoke tokens by id, or by name among your own; they stop working at once."""
    failed = False
    with cfg.client() as client:
        by_name: dict[str, list[PersonalToken]] | None = None
        for wanted in token_ids:
            token_id = wanted
            if not _looks_like_id(wanted):
                if by_name is None:
                    by_name = {}
                    me = client.me().user
                    for t in client.list_tokens():
                        if t.user == me:
                            by_name.setdefault(t.name, []).append(t)
                matches = by_name.get(wanted, [])
                if len(matches) != 1:
                    click.echo(f"No token of yours is named {wanted!r}.", err=True)
                    failed = True
                    continue
                token_id = matches[0].id
            try:
                client.revoke_token(token_id)
            except FluxRestfulError as exc:
                click.echo(f"{wanted}: {exc}", err=True)
                failed = True
                continue
            click.echo(f"Revoked {wanted}" + (f" ({token_id})" if token_id != wanted else ""))
    if failed:
        sys.exit(1)


def _looks_like_id(text: str) -> bool:
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)
