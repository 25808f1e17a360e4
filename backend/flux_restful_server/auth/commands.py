"""``flux-restful add-user / remove-user / list-users / set-password / set-user``.

They work on the user store in ``--state-dir`` (the same default as ``serve``), also while the
server runs: removing or deactivating a user, or changing a password, revokes their tokens at once.
Passwords come from a hidden, confirmed prompt or from ``--password-stdin``, never from argv.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ..settings import Settings, SettingsError, default_state_dir
from .passwords import PasswordError, check_password_acceptable, hash_password
from .store import UserStore, UserStoreError, check_username

_state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_state_dir,
    show_default="$XDG_STATE_HOME/flux-restful",
    help="State directory of the server (holds the user store).",
)
_password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)


@contextmanager
def _open_store(state_dir: Path) -> Iterator[UserStore]:
    try:
        store = UserStore(Settings(state_dir=state_dir).db_path)
    except UserStoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    except UserStoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            "Password", hide_input=True, confirmation_prompt=True, prompt_suffix=": "
        )
    try:
        check_password_acceptable(password)
    except PasswordError as exc:
        raise click.ClickException(str(exc)) from None
    return password


def _audit(event: str, **fields: object) -> None:
    """Record a user change in ``FLUX_AUDIT_LOG`` (if set); the change is made either way."""
    from ..audit import audit_command

    try:
        audit_command(event, **fields)
    except SettingsError as exc:
        click.echo(f"Warning: not recorded in the audit log: {exc}", err=True)


def _valid_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_username(value)
    except UserStoreError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("add-user")
@click.argument("name", callback=_valid_name)
@click.option("--superuser", is_flag=True, help="Let the user see and manage every job.")
@_password_stdin_option
@_state_dir_option
def add_user(name: str, superuser: bool, password_stdin: bool, state_dir: Path) -> None:
    """Create API user NAME (the password is prompted for, or read with --password-stdin)."""
    with _open_store(state_dir) as store:
        if store.get(name) is not None:
            raise click.ClickException(f"User {name} already exists.")
        store.add(name, hash_password(_read_password(password_stdin)), superuser=superuser)
    _audit("user_added", user=name, superuser=superuser)
    click.echo(f"Created {'superuser' if superuser else 'user'} {name}.")


@click.command("remove-user")
@click.argument("name")
@_state_dir_option
def remove_user(name: str, state_dir: Path) -> None:
    """Delete API user NAME; their tokens stop working at once."""
    with _open_store(state_dir) as store:
        store.remove(name)
    _audit("user_removed", user=name)
    click.echo(f"Removed user {name}.")


@click.command("list-users")
@_state_dir_option
def list_users(state_dir: Path) -> None:
    """List the API users with their flags."""
    with _open_store(state_dir) as store:
        users = store.list_users()
    if not users:
        click.echo("No users.")
        return
    width = max(len("NAME"), *(len(u.name) for u in users))
    click.echo(f"{'NAME':<{width}}  SUPERUSER  ACTIVE")
    for user in users:
        click.echo(
            f"{user.name:<{width}}  {'yes' if user.is_superuser else 'no':<9}  "
            f"{'yes' if user.is_active else 'no'}"
        )


@click.command("set-password")
@click.argument("name")
@_password_stdin_option
@_state_dir_option
def set_password(name: str, password_stdin: bool, state_dir: Path) -> None:
    """Give API user NAME a new password; their old tokens stop working."""
    with _open_store(state_dir) as store:
        if store.get(name) is None:
            raise click.ClickException(f"User {name} does not exist.")
        store.set_password(name, hash_password(_read_password(password_stdin)))
    _audit("password_changed", user=name)
    click.echo(f"Changed the password of {name}.")


@click.command("set-user")
@click.argument("name")
@click.option("--active/--inactive", default=None, help="Allow or block logins and tokens.")
@click.option("--superuser/--no-superuser", default=None, help="Grant or withdraw superuser.")
@_state_dir_option
def set_user(name: str, active: bool | None, superuser: bool | None, state_dir: Path) -> None:
    """Change the flags of API user NAME (deactivating revokes their tokens)."""
    if active is None and superuser is None:
        raise click.UsageError("Nothing to change: give --active/--inactive or --[no-]superuser.")
    with _open_store(state_dir) as store:
        if active is not None:
            store.set_active(name, active)
        if superuser is not None:
            store.set_superuser(name, superuser)
        user = store.get(name)
    assert user is not None
    _audit("user_changed", user=name, active=active, superuser=superuser)
    click.echo(
        f"{name}: superuser={'yes' if user.is_superuser else 'no'}, "
        f"active={'yes' if user.is_active else 'no'}"
    )


COMMANDS = (add_user, remove_user, list_users, set_password, set_user)
"""Every user-management command, for ``cli.main`` to add."""
