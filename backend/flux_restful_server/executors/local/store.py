"""The local executor's durable state: jobs and their eventlogs in SQLite (WAL).

Only job records and events live here; output lives in each job's log file (``joblog``). Writes
happen on the event loop thread: each is a short indexed statement in WAL mode, cheaper than a hop
to a thread. Every row a listing needs is a column, so listings and searches are served by
indexes without rebuilding job info.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeAlias, cast

import orjson

from ...database import connect
from ...domain.events import JobEvent
from ...domain.query import JobFilter, Page
from ...domain.record import JobRecord
from ...domain.request import SubmitKey, Submitted
from ...limits import MAX_INT, compile_search

EventHook: TypeAlias = Callable[
    [sqlite3.Connection, list[JobEvent], Callable[[], Mapping[str, Any] | None]], None
]
"""Called with the connection, a batch of one job's events and a reader of the job's record,
inside the transaction that records the events (an outbox writer: webhooks), so what it writes
commits with them or not at all. It must not raise for the events' sake."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    user TEXT,
    userid INTEGER NOT NULL,
    name TEXT NOT NULL,
    state INTEGER NOT NULL,
    result INTEGER,
    urgency INTEGER NOT NULL,
    priority INTEGER,
    t_submit REAL NOT NULL,
    t_depend REAL,
    t_run REAL,
    t_cleanup REAL,
    t_inactive REAL,
    ntasks INTEGER NOT NULL,
    ncores INTEGER NOT NULL,
    ngpus INTEGER NOT NULL,
    nnodes INTEGER,
    ranks TEXT,
    nodelist TEXT,
    duration REAL NOT NULL,
    cwd TEXT NOT NULL,
    success INTEGER,
    waitstatus INTEGER,
    exception_occurred INTEGER,
    exception_severity INTEGER,
    exception_type TEXT,
    exception_note TEXT,
    expiration REAL,
    spec TEXT NOT NULL,
    alloc TEXT,
    log_offset INTEGER NOT NULL DEFAULT 0,
    log_seq INTEGER NOT NULL DEFAULT 0,
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE INDEX IF NOT EXISTS jobs_user ON jobs (user, id);
CREATE TABLE IF NOT EXISTS events (
    feed_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    t REAL NOT NULL,
    context TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_job ON events (job_id, seq);
CREATE TABLE IF NOT EXISTS submit_keys (
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (user, key, idx)
) WITHOUT ROWID;
"""
NO_USER = ""
"""``submit_keys.user`` of jobs submitted with auth off (no API user)."""

INFO_COLUMNS = (
    "id",
    "user",
    "userid",
    "name",
    "state",
    "result",
    "urgency",
    "priority",
    "t_submit",
    "t_depend",
    "t_run",
    "t_cleanup",
    "t_inactive",
    "ntasks",
    "ncores",
    "nnodes",
    "ranks",
    "nodelist",
    "duration",
    "cwd",
    "success",
    "waitstatus",
    "exception_occurred",
    "exception_severity",
    "exception_type",
    "exception_note",
    "expiration",
)
SUMMARY_COLUMNS = (
    "id", "state", "result", "name", "user", "t_submit",
    "t_run", "exception_type", "exception_note",  # for "can never run: ..." in listings
)  # fmt: skip
_SELECT_INFO = f"SELECT {', '.join(INFO_COLUMNS)} FROM jobs"
_BOOLS = ("success", "exception_occurred")


def _regexp(pattern: str, text: str) -> bool:
    # RE2: linear in the text, whatever the pattern (the view has already refused bad ones).
    return compile_search(pattern)(text)


class Store:
    """The SQLite job store of one state dir."""

    def __init__(self, path: Path) -> None:
        self.db = connect(path)
        self.db.executescript(SCHEMA)
        self.db.create_function("REGEXP", 2, _regexp, deterministic=True)
        self.depth = 0
        """How many ``transaction()`` blocks are open."""

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self.db.close()

    # -- meta -----------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        """Return a stored setting, or ``None``."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- idempotency keys -------------------------------------------------------------------------
    def add_key(self, key: SubmitKey, index: int, job_id: int) -> None:
        """Record that ``key``'s request made ``job_id`` as its entry ``index``.

        Called in the job's own transaction, so the key is exactly as durable as the job.
        """
        self.db.execute(
            "INSERT INTO submit_keys (user, key, idx, fingerprint, job_id) VALUES (?, ?, ?, ?, ?)",
            (key.user or NO_USER, key.key, index, key.fingerprint, job_id),
        )

    def submitted(self, user: str | None, key: str) -> Submitted | None:
        """What ``user``'s requests with ``key`` created, or ``None``."""
        rows = self.db.execute(
            "SELECT idx, fingerprint, job_id FROM submit_keys WHERE user = ? AND key = ?",
            (user or NO_USER, key),
        ).fetchall()
        if not rows:
            return None
        return Submitted(rows[0][1], {int(r[0]): int(r[2]) for r in rows})

    # -- jobs -----------------------------------------------------------------------------------
    def max_job_id(self) -> int:
        """The greatest job id ever stored (0 for none)."""
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM jobs").fetchone()[0])

    def insert_job(self, row: Mapping[str, Any]) -> None:
        """Insert a new job record."""
        keys = list(row)
        self.db.execute(
            f"INSERT INTO jobs ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})",
            [row[k] for k in keys],
        )

    def update_job(self, job_id: int, changes: Mapping[str, Any]) -> None:
        """Update columns of one job."""
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)
            self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*changes.values(), job_id])

    def job_row(self, job_id: int) -> dict[str, Any] | None:
        """Return every column of one job, or ``None``."""
        if job_id > MAX_INT:  # a valid FLUID, but beyond SQLite's integers: never stored here
            return None
        cur = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def info(self, job_id: int) -> JobRecord | None:
        """Return the job-list record of one job, or ``None``."""
        if job_id > MAX_INT:
            return None
        row = self.db.execute(_SELECT_INFO + " WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _info(row)

    def active_jobs(self) -> list[dict[str, Any]]:
        """Every job that is not inactive, oldest first, with all columns."""
        cur = self.db.execute("SELECT * FROM jobs WHERE state != ? ORDER BY id", (64,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def query(
        self, filters: JobFilter, page: Page, columns: tuple[str, ...] = INFO_COLUMNS
    ) -> list[JobRecord]:
        """Job-list records (``columns`` of them) matching ``filters``, newest first."""
        sql, args = _select(columns, filters, page)
        if columns is INFO_COLUMNS:
            return [_info(row) for row in self.db.execute(sql, args)]
        rows = self.db.execute(sql, args)
        return [cast(JobRecord, dict(zip(columns, row, strict=True))) for row in rows]

    def ids(self, filters: JobFilter, page: Page) -> list[int]:
        """The ids :meth:`query` would return, from the indexes alone."""
        sql, args = _select(("id",), filters, page)
        # One value instead of a row per id (a third cheaper); an aggregate's order is not
        # promised, the page's is newest first.
        (found,) = self.db.execute(f"SELECT json_group_array(id) FROM ({sql})", args).fetchone()
        return sorted(orjson.loads(found), reverse=True)

    def count(self, filters: JobFilter) -> int:
        """How many jobs match ``filters``."""
        where, args = _where(filters)
        sql = "SELECT count(*) FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self.db.execute(sql, args).fetchone()[0])

    # -- events ---------------------------------------------------------------------------------
    def add_event(
        self, job_id: int, seq: int, name: str, t: float, context: Mapping[str, Any]
    ) -> int:
        """Record an event (idempotent by ``(job_id, seq)``) and return its feed seq."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO events (job_id, seq, name, t, context) VALUES (?, ?, ?, ?, ?)",
            (job_id, seq, name, t, orjson.dumps(context).decode()),
        )
        if cur.rowcount:
            return int(cur.lastrowid or 0)
        row = self.db.execute(
            "SELECT feed_seq FROM events WHERE job_id = ? AND seq = ?", (job_id, seq)
        ).fetchone()
        return int(row[0])

    def events(self, job_id: int) -> list[tuple[int, int, str, float, dict[str, Any]]]:
        """The eventlog of one job: ``(feed_seq, seq, name, t, context)`` in order."""
        if job_id > MAX_INT:
            return []
        rows = self.db.execute(
            "SELECT feed_seq, seq, name, t, context FROM events WHERE job_id = ? ORDER BY seq",
            (job_id,),
        )
        return [(r[0], r[1], r[2], r[3], orjson.loads(r[4])) for r in rows]

    def feed(
        self, after: int, upto: int, limit: int = 1000
    ) -> list[tuple[int, int, int, str, float, dict[str, Any]]]:
        """Events with ``after < feed_seq <= upto``: ``(feed_seq, job_id, seq, name, t, ctx)``."""
        rows = self.db.execute(
            "SELECT feed_seq, job_id, seq, name, t, context FROM events "
            "WHERE feed_seq > ? AND feed_seq <= ? ORDER BY feed_seq LIMIT ?",
            (after, upto, limit),
        )
        return [(r[0], r[1], r[2], r[3], r[4], orjson.loads(r[5])) for r in rows]

    def last_feed_seq(self) -> int:
        """The newest feed seq (0 for none)."""
        return int(self.db.execute("SELECT coalesce(max(feed_seq), 0) FROM events").fetchone()[0])

    def transaction(self) -> _Transaction:
        """A ``with`` block that commits on success and rolls back on error.

        Blocks nest: only the outermost one begins and commits, so a caller can group the work
        of several jobs into one commit.
        """
        return _Transaction(self)


class _Transaction:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> None:
        if self.store.depth == 0:
            self.store.db.execute("BEGIN")
        self.store.depth += 1

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.store.depth -= 1
        if self.store.depth == 0:
            self.store.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _info(row: Iterable[Any]) -> JobRecord:
    info = dict(zip(INFO_COLUMNS, row, strict=True))
    for key in _BOOLS:
        if info[key] is not None:
            info[key] = bool(info[key])
    return cast(JobRecord, info)


def _select(columns: tuple[str, ...], filters: JobFilter, page: Page) -> tuple[str, list[Any]]:
    where, args = _where(filters)
    if page.after is not None:
        # Past SQLite's range every stored id is below the cursor.
        where.append("id < ?" if page.after <= MAX_INT else "id <= ?")
        args.append(min(page.after, MAX_INT))
    sql = f"SELECT {', '.join(columns)} FROM jobs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if page.limit is not None or page.offset:
        sql += " LIMIT ? OFFSET ?"
        args += [-1 if page.limit is None else page.limit, page.offset]
    return sql, args


def _where(filters: JobFilter) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if filters.owner is not None:
        where.append("user = ?")
        args.append(filters.owner)
    if filters.user is not None:
        where.append("user = ?")
        args.append(filters.user)
    if filters.states:
        where.append(f"state IN ({', '.join('?' * len(filters.states))})")
        args += [int(s) for s in filters.states]
    if filters.results:
        where.append(f"result IN ({', '.join('?' * len(filters.results))})")
        args += [int(r) for r in filters.results]
    if filters.ids is not None:
        ids = sorted(i for i in filters.ids if i <= MAX_INT)  # larger ones are never stored
        where.append(f"id IN ({', '.join('?' * len(ids))})" if ids else "0")
        args += ids
    if filters.name:
        where.append("instr(lower(name), ?) > 0")
        args.append(filters.name.lower())
    if filters.since is not None:
        where.append("t_submit >= ?")
        args.append(filters.since)
    if filters.text:
        if filters.regex:
            where.append("search_text REGEXP ?")
            args.append(filters.text)
        else:
            where.append("instr(search_text, ?) > 0")
            args.append(filters.text.lower())
    return where, args
