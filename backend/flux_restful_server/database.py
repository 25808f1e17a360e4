"""The state dir's SQLite database: one way to open a connection to it, and a transaction block.

Every store of the server (the local executor's jobs, the webhook tables, users, tokens) keeps
its tables in the one ``flux-restful.db`` and opens its own connection the same way: autocommit
(``isolation_level=None``; transactions are explicit ``BEGIN``/``COMMIT``), WAL so readers never
wait for the writer, a busy timeout so two processes take turns instead of failing, and usable
from another thread. What differs between stores is passed in, not copied.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["connect", "transaction"]


def connect(
    path: Path,
    *,
    busy_timeout: float = 5.0,
    synchronous: str | None = "NORMAL",
    private: bool = False,
) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode with WAL and a busy timeout.

    Args:
        path: The database file.
        busy_timeout: Seconds a statement waits for another connection's lock.
        synchronous: ``PRAGMA synchronous`` (``NORMAL``: a commit survives the process being
            killed, not a power cut mid-checkpoint); ``None`` keeps SQLite's default (``FULL``).
        private: Create the parent directory (mode 0700) and a new file with mode 0600 (the
            stores holding password hashes and token digests).

    Raises:
        OSError: The directory or the file's mode cannot be set.
        sqlite3.Error: The file cannot be opened as a SQLite database.
    """
    if private:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):  # born 0600: never readable by others
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    try:
        _into_wal(db, busy_timeout)
    except sqlite3.Error:
        db.close()
        raise
    if synchronous is not None:
        db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    return db


def _into_wal(db: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch ``db`` to WAL, waiting out another connection doing the same.

    On a new file, two processes switching at once (the workers of ``--workers N`` starting)
    can meet a lock that SQLite reports busy at once, without its busy handler: the second
    server failed to start with "database is locked". Once the file is in WAL (it stays so),
    the switch is a no-op.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY  # any BUSY_*
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Commit the block's statements on ``db`` together, or none of them."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
