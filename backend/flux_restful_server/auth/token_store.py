"""Personal access tokens and refresh tokens, stored hashed beside the users.

Both kinds are random strings the server hands out once: ``frp_<id>_<secret>`` (personal) and
``frr_<id>_<secret>`` (refresh). Only the SHA-256 of the secret is kept (the secret has 256 random
bits, so a fast hash is enough: nobody can guess one from its hash), under the public ``id``
that finds the row with one indexed read. Listing shows ids, names and dates, never secrets.

Refresh tokens come in *families*: one sign-in starts a family, and each use spends the token
and issues the next one of the same family (rotation). A spent token used again means it was
copied: the whole family is revoked, so the thief's copy and the owner's newer token both stop
working, as do the access tokens the family issued (they carry its id, see ``tokens.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..database import connect

__all__ = [
    "PERSONAL_PREFIX",
    "REFRESH_PREFIX",
    "PersonalToken",
    "RefreshGrant",
    "TokenStore",
    "TokenStoreError",
    "purge_user_tokens",
]

PERSONAL_PREFIX = "frp_"
"""How a personal access token starts (and how the guard tells it from a JWT)."""
REFRESH_PREFIX = "frr_"
"""How a refresh token starts."""
MAX_TOKENS_PER_USER = 100
"""Live personal tokens one user may have; more are refused with the reason."""
_ID_RE = re.compile(r"[0-9a-f]{16}")

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS personal_tokens (
        id TEXT PRIMARY KEY NOT NULL,
        user TEXT NOT NULL,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL NOT NULL,
        last_used REAL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS personal_tokens_user ON personal_tokens (user)",
    """
    CREATE TABLE IF NOT EXISTS refresh_tokens (
        id TEXT PRIMARY KEY NOT NULL,
        family TEXT NOT NULL,
        user TEXT NOT NULL,
        scopes TEXT NOT NULL,
        version TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL NOT NULL,
        spent REAL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family)",
    "CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user)",
    """
    CREATE TABLE IF NOT EXISTS revoked_families (
        family TEXT PRIMARY KEY NOT NULL,
        revoked REAL NOT NULL
    ) WITHOUT ROWID
    """,
)


class TokenStoreError(ValueError):
    """A token operation cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class PersonalToken:
    """One personal access token as listed (never its secret)."""

    id: str
    """Public identifier (16 hex digits), used to revoke it."""
    user: str
    """Owner."""
    name: str
    """What the owner called it (``ci``)."""
    scopes: frozenset[str]
    """What it may do."""
    created: float
    """Seconds since the epoch."""
    expires: float
    """Seconds since the epoch; refused from then on."""
    last_used: float | None
    """When it last authenticated a request (to the minute), if ever."""

    def as_json(self) -> dict[str, object]:
        """The wire form (``GET /v1/tokens``)."""
        return {
            "id": self.id,
            "name": self.name,
            "user": self.user,
            "scopes": sorted(self.scopes),
            "created": int(self.created),
            "expires": int(self.expires),
            "last_used": int(self.last_used) if self.last_used is not None else None,
        }


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """What a refresh token stood for: the sign-in it continues."""

    family: str
    """The sign-in's family id (also in the access tokens it issued)."""
    user: str
    """Who signed in."""
    scopes: frozenset[str]
    """Scopes granted at sign-in."""
    version: str
    """The user's token version at sign-in (a password change ends the family)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(token: str, prefix: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token of this kind, else ``None``."""
    if not token.startswith(prefix):
        return None
    token_id, sep, secret = token[len(prefix) :].partition("_")
    if not sep or not _ID_RE.fullmatch(token_id) or not 20 <= len(secret) <= 128:
        return None
    return token_id, secret


def _new(prefix: str) -> tuple[str, str, str]:
    """A fresh ``(id, secret, token)``."""
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return token_id, secret, f"{prefix}{token_id}_{secret}"


def purge_user_tokens(db: sqlite3.Connection, name: str) -> None:
    """Delete every token of a removed user (a new user of that name must not inherit them)."""
    for statement in _SCHEMA:
        db.execute(statement)
    db.execute("DELETE FROM personal_tokens WHERE user = ?", (name,))
    db.execute("DELETE FROM refresh_tokens WHERE user = ?", (name,))


class TokenStore:
    """The token tables, through their own connection to the server's SQLite file.

    Every call is one or two short indexed statements, so async code calls them directly.
    """

    def __init__(self, db_path: Path) -> None:
        """Open (and create when needed) the tables in ``db_path``.

        Raises:
            TokenStoreError: The file cannot be opened as a SQLite database.
        """
        try:
            self._db = connect(db_path, busy_timeout=10.0, synchronous=None, private=True)
            for statement in _SCHEMA:
                self._db.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise TokenStoreError(f"Cannot open the token store {db_path}: {exc}") from None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    # -- personal access tokens -------------------------------------------------------------

    def create_personal(
        self, user: str, name: str, scopes: frozenset[str], expires: float
    ) -> tuple[PersonalToken, str]:
        """Create a personal access token; return it and its secret form (shown once).

        Raises:
            TokenStoreError: The user has a live token of that name, or too many tokens.
        """
        now = time.time()
        self._db.execute("DELETE FROM personal_tokens WHERE expires <= ?", (now,))
        rows = self._db.execute(
            "SELECT name FROM personal_tokens WHERE user = ?", (user,)
        ).fetchall()
        if any(row[0] == name for row in rows):
            raise TokenStoreError(
                f"You already have a token named {name!r}: revoke it first or choose another name."
            )
        if len(rows) >= MAX_TOKENS_PER_USER:
            raise TokenStoreError(
                f"You have {len(rows)} tokens, the most one user may have: revoke some first."
            )
        token_id, secret, token = _new(PERSONAL_PREFIX)
        self._db.execute(
            "INSERT INTO personal_tokens (id, user, name, scopes, secret_hash, created, expires)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token_id, user, name, " ".join(sorted(scopes)), _hash(secret), now, expires),
        )
        return PersonalToken(token_id, user, name, scopes, now, expires, None), token

    def find_personal(self, token: str) -> PersonalToken | None:
        """The personal token whose secret form is ``token`` (expired ones too), else ``None``."""
        parts = _split(token, PERSONAL_PREFIX)
        if parts is None:
            return None
        row = self._db.execute(
            "SELECT id, user, name, scopes, created, expires, last_used, secret_hash "
            "FROM personal_tokens WHERE id = ?",
            (parts[0],),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[7], _hash(parts[1])):
            return None
        return PersonalToken(
            row[0], row[1], row[2], frozenset(row[3].split()), row[4], row[5], row[6]
        )

    def touch_personal(self, token_id: str, when: float) -> None:
        """Record that the token authenticated a request at ``when``."""
        self._db.execute("UPDATE personal_tokens SET last_used = ? WHERE id = ?", (when, token_id))

    def list_personal(self, user: str | None = None) -> list[PersonalToken]:
        """Live tokens of ``user`` (everyone's for ``None``), newest first."""
        sql = (
            "SELECT id, user, name, scopes, created, expires, last_used FROM personal_tokens "
            "WHERE expires > ?"
        )
        args: tuple[object, ...] = (time.time(),)
        if user is not None:
            sql += " AND user = ?"
            args += (user,)
        rows = self._db.execute(sql + " ORDER BY created DESC, id", args).fetchall()
        return [
            PersonalToken(r[0], r[1], r[2], frozenset(r[3].split()), r[4], r[5], r[6]) for r in rows
        ]

    def get_personal(self, token_id: str) -> PersonalToken | None:
        """A live token by its id, else ``None``."""
        row = self._db.execute(
            "SELECT id, user, name, scopes, created, expires, last_used FROM personal_tokens "
            "WHERE id = ? AND expires > ?",
            (token_id, time.time()),
        ).fetchone()
        if row is None:
            return None
        return PersonalToken(
            row[0], row[1], row[2], frozenset(row[3].split()), row[4], row[5], row[6]
        )

    def revoke_personal(self, token_id: str) -> bool:
        """Delete a token; return whether it existed."""
        return (
            self._db.execute("DELETE FROM personal_tokens WHERE id = ?", (token_id,)).rowcount > 0
        )

    # -- refresh tokens ---------------------------------------------------------------------

    def issue_refresh(
        self,
        user: str,
        scopes: frozenset[str],
        version: str,
        lifetime: float,
        family: str | None = None,
    ) -> tuple[str, str]:
        """Issue a refresh token (a new family unless ``family`` is given).

        Returns:
            ``(token, family)``.
        """
        now = time.time()
        family = family or secrets.token_hex(8)
        token_id, secret, token = _new(REFRESH_PREFIX)
        self._db.execute("DELETE FROM refresh_tokens WHERE expires <= ?", (now,))
        self._db.execute(
            "INSERT INTO refresh_tokens (id, family, user, scopes, version, secret_hash, created,"
            " expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                token_id,
                family,
                user,
                " ".join(sorted(scopes)),
                version,
                _hash(secret),
                now,
                now + lifetime,
            ),
        )
        return token, family

    def spend_refresh(self, token: str) -> RefreshGrant:
        """Spend a refresh token (once) and return what it stood for.

        Raises:
            TokenStoreError: Unknown, malformed or expired token (``code`` ``invalid_grant``).
            RefreshReused: It was spent before; its whole family has just been revoked.
        """
        parts = _split(token, REFRESH_PREFIX)
        if parts is None:
            raise TokenStoreError("The refresh token is malformed.")
        row = self._db.execute(
            "SELECT family, user, scopes, version, secret_hash, expires, spent "
            "FROM refresh_tokens WHERE id = ?",
            (parts[0],),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[4], _hash(parts[1])):
            raise TokenStoreError("The refresh token is unknown, revoked or expired.")
        family = row[0]
        if row[6] is not None:
            self.revoke_family(family)
            raise RefreshReused(family, row[1])
        if row[5] <= time.time():
            raise TokenStoreError("The refresh token is unknown, revoked or expired.")
        # Spend it only if nobody spent it in between (two requests racing with one token).
        spent = self._db.execute(
            "UPDATE refresh_tokens SET spent = ? WHERE id = ? AND spent IS NULL",
            (time.time(), parts[0]),
        )
        if spent.rowcount != 1:
            self.revoke_family(family)
            raise RefreshReused(family, row[1])
        return RefreshGrant(family, row[1], frozenset(row[2].split()), row[3])

    def revoke_family(self, family: str) -> None:
        """End a sign-in: its refresh tokens are deleted and its access tokens refused."""
        self._db.execute("DELETE FROM refresh_tokens WHERE family = ?", (family,))
        self._db.execute(
            "INSERT OR REPLACE INTO revoked_families (family, revoked) VALUES (?, ?)",
            (family, time.time()),
        )

    def family_revoked(self, family: str) -> bool:
        """Whether access tokens of this family must be refused."""
        row = self._db.execute(
            "SELECT 1 FROM revoked_families WHERE family = ?", (family,)
        ).fetchone()
        return row is not None


class RefreshReused(TokenStoreError):
    """A spent refresh token came back: its family was revoked."""

    def __init__(self, family: str, user: str) -> None:
        """Name the revoked family and its user (for the audit log)."""
        super().__init__(
            "This refresh token was already used, so it may have been copied: every token of "
            "that sign-in is revoked. Sign in again."
        )
        self.family = family
        """The revoked family."""
        self.user = user
        """Whose sign-in it was."""
