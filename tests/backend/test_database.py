"""The state dir's database opened by several processes at once (``--workers N`` starting)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from flux_restful_server.database import connect

PROCESSES = 3
ROUNDS = 100


def _open(path: Path, barrier: Any, answers: Any) -> None:
    barrier.wait()  # all at once, as the workers of one server start
    try:
        connect(path).execute("CREATE TABLE IF NOT EXISTS t (x)")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        answers.put(repr(exc))
    else:
        answers.put("ok")


def test_processes_opening_a_new_database_at_once_all_get_it_in_wal(tmp_path: Path) -> None:
    # Before: about one open in 13 failed with "database is locked" (SQLite reports the
    # switch to WAL busy without waiting when two processes make it on a new file).
    context = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        path = tmp_path / f"{round_}.db"
        barrier, answers = context.Barrier(PROCESSES), context.Queue()
        workers = [
            context.Process(target=_open, args=(path, barrier, answers)) for _ in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        assert [answers.get(timeout=5) for _ in workers] == ["ok"] * PROCESSES
        assert connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
