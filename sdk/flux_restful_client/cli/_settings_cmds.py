"""Settings subcommands: config, login, logout, completion."""

from __future__ import annotations

import sys

import click

from ..settings import (
    Settings,
    SettingsError,
    default_settings_file,
    forget_token,
    save_token,
    user_settings_file,
)
from ._app import cli, pass_config
from ._config import CliConfig

__all__: list[str] = []

_CONFIG_HELP = """Manage settings: set KEY VALUE | get KEY... | edit | inituser.

\b
flux-restful-cli config set host http://127.0.0.1:5000
flux-restful-cli config get host flux_user
"""


@cli.command(help=_CONFIG_HELP)
@click.option("--central", is_flag=True, help="Edit the packaged default settings file.")
@click.argument("params", nargs=-1)
@pass_config
@click.pass_context
def config(ctx: click.Context, cfg: CliConfig, central: bool, params: tuple[str, ...]) -> None:
    """Manage settings."""
    if not params:
        click.echo(ctx.get_help())
        return
    try:
        _config(cfg, central, params)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _config(cfg: CliConfig, central: bool, params: tuple[str, ...]) -> None:
    action, args = params[0], params[1:]
    settings = Settings(default_settings_file()) if central else cfg.settings
    if action == "set":
        if len(args) != 2:
            raise click.UsageError("Usage: config set KEY VALUE")
        settings.set(args[0], args[1])
        target = None
        if not central and cfg.settings_file is None:
            target = user_settings_file()  # never write into the installed package by accident
        click.echo(f"Saved {args[0]} in {settings.save(target)}")
    elif action == "get":
        if not args:
            raise click.UsageError("Usage: config get KEY...")
        for key in args:
            value = settings.get(key)
            click.echo(f"{key} is unset" if value is None else f"{key:<30} {value}")
    elif action == "edit":
        settings.edit()
    elif action == "inituser":
        click.echo(f"Created {settings.inituser()}")
    elif action in ("add", "remove"):
        if len(args) != 2:
            raise click.UsageError(f"Usage: config {action} KEY VALUE")
        getattr(settings, action)(args[0], args[1])
    else:
        raise click.UsageError(f"Unknown config action {action!r}: use set, get, edit or inituser")


@cli.command()
@click.option("--user", "-u", envvar="FLUX_USER", help="User name (default: FLUX_USER).")
@click.option(
    "--password", "-p", envvar="FLUX_TOKEN", help="Password (default: FLUX_TOKEN, else prompted)."
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (for scripts)."
)
@pass_config
def login(cfg: CliConfig, user: str | None, password: str | None, password_stdin: bool) -> None:
    """Log in and store an access token (never the password) for this host.

    Servers that issue refresh tokens get one stored too: the client renews the access token
    with it when it expires, without asking for the password again.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise click.UsageError("--password-stdin: standard input held no password")
    with cfg.client() as client:
        user = user or client.auth.user or click.prompt("User")
        if not password:
            password = click.prompt("Password", hide_input=True)
        token = client.login(user, password)
        path = save_token(client.host, token, client.auth.refresh_token)
    click.echo(f"Logged in to {client.host} as {user}; token stored in {path}")


@cli.command()
@pass_config
def logout(cfg: CliConfig) -> None:
    """Forget the access and refresh tokens stored for this host."""
    with cfg.client() as client:
        host = client.host
    click.echo(f"Logged out of {host}" if forget_token(host) else f"No token stored for {host}")


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(flux-restful-cli completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - the choices are click's built-in shells
        sys.exit(1)
    click.echo(cls(cli, {}, "flux-restful-cli", "_FLUX_RESTFUL_CLI_COMPLETE").source())
