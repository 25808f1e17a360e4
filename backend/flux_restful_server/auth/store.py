"""API users in the server's SQLite store (table ``users``, beside the job tables).

Each row carries a ``token_version``: access tokens embed it, and it changes whenever the user is
removed, deactivated or given a new password, so their outstanding tokens stop working at once
(also when the change is made by ``flux-restful`` commands in another process).
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..database import connect
from .token_store import purge_user_tokens

_NAME_RE = re.compile(r"[A-Za-z0-9_.@+][A-Za-z0-9_.@+-]{0,63}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1,
    is_superuser INTEGER NOT NULL DEFAULT 0,
    token_version TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
) WITHOUT ROWID
"""


class UserStoreError(ValueError):
    """A user operation cannot be done; the message says why."""


class UserExists(UserStoreError):
    """A user of that name already exists."""


class UserNotFound(UserStoreError):
    """No user of that name."""


@dataclass(frozen=True, slots=True)
class User:
    """One API user as stored."""

    name: str
    """Login name (the ``sub`` of their tokens)."""
    password_hash: str
    """argon2 hash of the password."""
    is_active: bool
    """Inactive users cannot log in and their tokens are refused."""
    is_superuser: bool
    """Sees and touches every job; may stop the service."""
    token_version: str
    """Changes when outstanding tokens must stop working."""


def check_username(name: str) -> str:
    """Return ``name`` when it is a valid user name.

    Raises:
        UserStoreError: The name is empty, too long, or has characters other than letters, digits
            and ``_ . @ + -`` (a leading ``-`` is refused too).
    """
    if not _NAME_RE.fullmatch(name):
        raise UserStoreError(
            f"{name!r} is not a valid user name: use 1-64 letters, digits or _ . @ + - "
            "(not starting with -)"
        )
    return name


def _new_version() -> str:
    return secrets.token_hex(8)


class UserStore:
    """The ``users`` table, through its own connection to the server's SQLite file.

    Calls are synchronous and short (one indexed statement each), so async code may call them
    directly; password hashing happens outside, in :mod:`.passwords`.
    """

    def __init__(self, db_path: Path) -> None:
        """Open (and create when needed) the store at ``db_path``.

        Raises:
            UserStoreError: The file cannot be opened as a SQLite database.
        """
        self.db_path = db_path
        try:
            self._db = connect(db_path, busy_timeout=10.0, synchronous=None, private=True)
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UserStoreError(f"Cannot open the user store {db_path}: {exc}") from None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def get(self, name: str) -> User | None:
        """Return the user called ``name``, or ``None``."""
        row = self._db.execute(
            "SELECT name, password_hash, is_active, is_superuser, token_version "
            "FROM users WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return None
        return User(row[0], row[1], bool(row[2]), bool(row[3]), row[4])

    def list_users(self) -> list[User]:
        """Return every user, sorted by name."""
        rows = self._db.execute(
            "SELECT name, password_hash, is_active, is_superuser, token_version "
            "FROM users ORDER BY name"
        ).fetchall()
        return [User(r[0], r[1], bool(r[2]), bool(r[3]), r[4]) for r in rows]

    def add(self, name: str, password_hash: str, *, superuser: bool = False) -> User:
        """Create a user.

        Raises:
            UserExists: The name is taken.
            UserStoreError: The name is invalid.
        """
        check_username(name)
        now = time.time()
        try:
            self._db.execute(
                "INSERT INTO users (name, password_hash, is_active, is_superuser, token_version,"
                " created, updated) VALUES (?, ?, 1, ?, ?, ?, ?)",
                (name, password_hash, int(superuser), _new_version(), now, now),
            )
        except sqlite3.IntegrityError:
            raise UserExists(f"User {name} already exists.") from None
        user = self.get(name)
        assert user is not None
        return user

    def remove(self, name: str) -> None:
        """Delete a user and their personal and refresh tokens (their tokens stop working at once).

        Raises:
            UserNotFound: No such user.
        """
        cur = self._db.execute("DELETE FROM users WHERE name = ?", (name,))
        if cur.rowcount == 0:
            raise UserNotFound(f"User {name} does not exist.")
        purge_user_tokens(self._db, name)

    def set_password(self, name: str, password_hash: str, *, revoke_tokens: bool = True) -> None:
        """Store a new password hash; unless ``revoke_tokens`` is false, old tokens stop working.

        Raises:
            UserNotFound: No such user.
        """
        if revoke_tokens:
            cur = self._db.execute(
                "UPDATE users SET password_hash = ?, token_version = ?, updated = ? WHERE name = ?",
                (password_hash, _new_version(), time.time(), name),
            )
        else:
            cur = self._db.execute(
                "UPDATE users SET password_hash = ?, updated = ? WHERE name = ?",
                (password_hash, time.time(), name),
            )
        if cur.rowcount == 0:
            raise UserNotFound(f"User {name} does not exist.")

    def set_active(self, name: str, active: bool) -> None:
        """Activate or deactivate a user; deactivating revokes their tokens.

        Raises:
            UserNotFound: No such user.
        """
        cur = self._db.execute(
            "UPDATE users SET is_active = ?, token_version = CASE WHEN ? THEN token_version "
            "ELSE ? END, updated = ? WHERE name = ?",
            (int(active), int(active), _new_version(), time.time(), name),
        )
        if cur.rowcount == 0:
            raise UserNotFound(f"User {name} does not exist.")

    def set_superuser(self, name: str, superuser: bool) -> None:
        """Grant or withdraw superuser rights (effective on the next request).

        Raises:
            UserNotFound: No such user.
        """
        cur = self._db.execute(
            "UPDATE users SET is_superuser = ?, updated = ? WHERE name = ?",
            (int(superuser), time.time(), name),
        )
        if cur.rowcount == 0:
            raise UserNotFound(f"User {name} does not exist.")
