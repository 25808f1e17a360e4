"""Subscriptions, the outbox of due deliveries, and the delivery log, in the state dir's SQLite.

The records themselves (:class:`Hook`, :class:`Delivery`, :class:`Attempt`) are ``records``.

The tables live in the server's database file (``flux-restful.db``), beside the local executor's
jobs and events, so :func:`write_outbox` can add a job event's deliveries inside the very
transaction that records the event: a committed event always has its deliveries, and a
``kill -9`` loses none (WAL, ``synchronous=NORMAL``). Every statement is short and indexed, and
runs on the event loop like the executor's.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from ..database import connect, transaction
from .records import PENDING, Attempt, Delivery, Hook

__all__ = ["HOOKS_VERSION", "WebhookStore", "insert_deliveries", "set_meta"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    owner TEXT,
    sees_all INTEGER NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    job_name TEXT,
    job_ids TEXT,
    description TEXT NOT NULL DEFAULT '',
    secret TEXT NOT NULL,
    old_secret TEXT,
    old_secret_until REAL,
    paused INTEGER NOT NULL DEFAULT 0,
    pause_reason TEXT,
    failing_since REAL,
    per_job INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_owner ON webhooks (owner);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hook_id TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    job_seq INTEGER NOT NULL, -- the event's key (events.event_key), unique per job
    feed_seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    next_at REAL,
    last_at REAL,
    last_status INTEGER,
    last_error TEXT,
    last_latency REAL,
    done_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS webhook_deliveries_event
    ON webhook_deliveries (hook_id, job_id, job_seq);
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending
    ON webhook_deliveries (status, hook_id, feed_seq);
CREATE INDEX IF NOT EXISTS webhook_deliveries_job ON webhook_deliveries (job_id);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    t REAL NOT NULL,
    status INTEGER,
    error TEXT,
    latency REAL NOT NULL,
    PRIMARY KEY (delivery_id, n)
);
CREATE TABLE IF NOT EXISTS webhook_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

HOOKS_VERSION = "hooks_version"
"""``webhook_meta`` key changed with every subscription change (processes compare it)."""

_HOOK_COLUMNS = (
    "id, owner, sees_all, url, events, job_name, job_ids, description, secret, old_secret, "
    "old_secret_until, paused, pause_reason, failing_since, per_job, created, updated"
)
_DELIVERY_COLUMNS = (
    "id, hook_id, job_id, job_seq, feed_seq, type, msg_id, status, attempts, created, next_at, "
    "last_at, last_status, last_error, last_latency, done_at"
)


def _hook(row: tuple[Any, ...]) -> Hook:
    ids = orjson.loads(row[6]) if row[6] is not None else None
    return Hook(
        id=row[0],
        owner=row[1],
        sees_all=bool(row[2]),
        url=row[3],
        events=frozenset(orjson.loads(row[4])),
        job_name=row[5],
        job_ids=frozenset(ids) if ids is not None else None,
        description=row[7],
        secret=row[8],
        old_secret=row[9],
        old_secret_until=row[10],
        paused=bool(row[11]),
        pause_reason=row[12],
        failing_since=row[13],
        per_job=bool(row[14]),
        created=row[15],
        updated=row[16],
    )


def _delivery(row: tuple[Any, ...]) -> Delivery:
    return Delivery(*row)


class WebhookStore:
    """The webhook tables of one state dir's database, on a connection of their own."""

    def __init__(self, path: Path) -> None:
        self.db = connect(path)
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- meta -----------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM webhook_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- subscriptions --------------------------------------------------------------------------
    def hooks(self) -> list[Hook]:
        """Every subscription, oldest first."""
        rows = self.db.execute(f"SELECT {_HOOK_COLUMNS} FROM webhooks ORDER BY created, id")
        return [_hook(row) for row in rows]

    def hook(self, hook_id: str) -> Hook | None:
        row = self.db.execute(
            f"SELECT {_HOOK_COLUMNS} FROM webhooks WHERE id = ?", (hook_id,)
        ).fetchone()
        return None if row is None else _hook(row)

    def save(self, hook: Hook) -> str:
        """Insert or replace a subscription; return the new subscriptions version."""
        with transaction(self.db):
            self._save(hook)
            return self._bump()

    def _bump(self) -> str:
        version = secrets.token_hex(8)
        set_meta(self.db, HOOKS_VERSION, version)
        return version

    def _save(self, hook: Hook) -> None:
        self.db.execute(
            f"INSERT OR REPLACE INTO webhooks ({_HOOK_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                hook.id,
                hook.owner,
                int(hook.sees_all),
                hook.url,
                orjson.dumps(sorted(hook.events)).decode(),
                hook.job_name,
                orjson.dumps(sorted(hook.job_ids)).decode() if hook.job_ids is not None else None,
                hook.description,
                hook.secret,
                hook.old_secret,
                hook.old_secret_until,
                int(hook.paused),
                hook.pause_reason,
                hook.failing_since,
                int(hook.per_job),
                hook.created,
                hook.updated,
            ),
        )

    def delete(self, hook_id: str) -> str:
        """Remove a subscription with its deliveries and their log; return the new version."""
        with transaction(self.db):
            self.db.execute(
                "DELETE FROM webhook_attempts WHERE delivery_id IN "
                "(SELECT id FROM webhook_deliveries WHERE hook_id = ?)",
                (hook_id,),
            )
            self.db.execute("DELETE FROM webhook_deliveries WHERE hook_id = ?", (hook_id,))
            self.db.execute("DELETE FROM webhooks WHERE id = ?", (hook_id,))
            return self._bump()

    # -- deliveries -----------------------------------------------------------------------------
    def deliveries(
        self, *, hook_id: str | None = None, job_id: int | None = None, limit: int = 100,
        before: int | None = None,
    ) -> list[Delivery]:  # fmt: skip
        """Deliveries, newest first, of one subscription and/or one job."""
        where: list[str] = []
        args: list[Any] = []
        if hook_id is not None:
            where.append("hook_id = ?")
            args.append(hook_id)
        if job_id is not None:
            where.append("job_id = ?")
            args.append(job_id)
        if before is not None:
            where.append("id < ?")
            args.append(before)
        sql = f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        return [_delivery(row) for row in self.db.execute(sql, [*args, limit])]

    def delivery(self, delivery_id: int) -> Delivery | None:
        row = self.db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return None if row is None else _delivery(row)

    def payload(self, delivery_id: int) -> bytes:
        row = self.db.execute(
            "SELECT payload FROM webhook_deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return bytes(row[0]) if row else b""

    def attempts(self, delivery_ids: Iterable[int]) -> dict[int, list[Attempt]]:
        """The attempt log of some deliveries."""
        ids = list(delivery_ids)
        found: dict[int, list[Attempt]] = {i: [] for i in ids}
        if not ids:
            return found
        rows = self.db.execute(
            "SELECT delivery_id, n, t, status, error, latency FROM webhook_attempts "
            f"WHERE delivery_id IN ({', '.join('?' * len(ids))}) ORDER BY delivery_id, n",
            ids,
        )
        for row in rows:
            found[row[0]].append(Attempt(*row[1:]))
        return found

    def heads(self) -> list[tuple[int, str, float | None]]:
        """The oldest pending delivery of every unpaused subscription: ``(id, hook, next_at)``.

        Deliveries of one subscription go out one at a time in event order, so only these may
        be sent now.
        """
        rows = self.db.execute(
            "SELECT d.id, d.hook_id, d.next_at FROM webhook_deliveries d "
            "JOIN webhooks h ON h.id = d.hook_id AND h.paused = 0 "
            "WHERE d.status = 'pending' AND d.feed_seq = (SELECT min(e.feed_seq) "
            "FROM webhook_deliveries e WHERE e.status = 'pending' AND e.hook_id = d.hook_id)"
        )
        return [(int(r[0]), str(r[1]), r[2]) for r in rows]

    def pending_count(self) -> int:
        return int(
            self.db.execute(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
            ).fetchone()[0]
        )

    def record_attempt(
        self,
        delivery: Delivery,
        *,
        t: float,
        status: int | None,
        error: str | None,
        latency: float,
        outcome: str,
        next_at: float | None,
    ) -> None:
        """Log one attempt and move the delivery to ``outcome`` (due again at ``next_at``)."""
        n = delivery.attempts + 1
        with transaction(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO webhook_attempts (delivery_id, n, t, status, error, "
                "latency) VALUES (?, ?, ?, ?, ?, ?)",
                (delivery.id, n, t, status, error, latency),
            )
            self.db.execute(
                "UPDATE webhook_deliveries SET attempts = ?, status = ?, next_at = ?, "
                "last_at = ?, last_status = ?, last_error = ?, last_latency = ?, done_at = ? "
                "WHERE id = ?",
                (n, outcome, next_at, t, status, error, latency,
                 None if outcome == PENDING else t, delivery.id),
            )  # fmt: skip

    def redeliver(self, delivery_id: int, now: float) -> None:
        """Make a delivery due again now (its attempts and log are kept)."""
        self.db.execute(
            "UPDATE webhook_deliveries SET status = 'pending', next_at = ?, done_at = NULL "
            "WHERE id = ?",
            (now, delivery_id),
        )


def insert_deliveries(
    db: sqlite3.Connection,
    rows: Iterable[tuple[str, int, int, int, str, bytes]],
    now: float,
) -> int:
    """Add deliveries ``(hook_id, job_id, event key, feed_seq, type, payload)`` on ``db``.

    Idempotent per ``(hook, job, event key)`` (``events.event_key``): an event seen again adds
    nothing. Runs inside the
    caller's transaction when there is one. Returns how many were added.
    """
    cur = db.executemany(
        "INSERT OR IGNORE INTO webhook_deliveries (hook_id, job_id, job_seq, feed_seq, type, "
        "msg_id, payload, status, created, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        [
            (hook, job, seq, feed, kind, f"msg_{hook[3:]}_{job}_{seq}", body, now, now)
            for hook, job, seq, feed, kind, body in rows
        ],
    )
    return max(cur.rowcount, 0)


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    """Store a webhook setting (the flux executor's feed cursor) on ``db``."""
    db.execute("INSERT OR REPLACE INTO webhook_meta (key, value) VALUES (?, ?)", (key, value))
