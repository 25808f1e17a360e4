"""Empty files made ahead of time, so that recording a job is a rename, not a file creation.

Creating a file is the costliest system call on a job's path here: an inode allocation, which on
a busy filesystem costs far more than the rename of a file made earlier (profiled with ``perf``
during a batch of 1,000 jobs: 500 us a creation on this machine's ext4, its inode allocator
skipping inodes that other processes deleted recently, against 25 us a rename). A background
thread keeps a stock of empty files in the jobs directory; the event loop renames one into place
for each new job and only creates a file itself when the stock is empty.

The thread works in idle time only: it makes no file while jobs are being recorded (:data:`PAUSE`
seconds after the last one), since it would only compete with the event loop for the directory's
lock and the cores, and it runs at the lowest CPU priority. The stock is :data:`STOCK` files
while jobs are active; once none is, it grows to the largest burst seen that ran it out (at
most the batch limit), so a server that takes batches has one batch's files ready once it was
idle long enough to make them, and making them never competes with the jobs of a batch (it did:
220 us of a core per job while the jobs ran). Leftover spares (after a crash) are removed at
start.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

STOCK = 64
"""Spare files kept ready at first."""
PAUSE = 0.2
"""Seconds without a job recorded before the thread makes spares again."""
PREFIX = ".spare-"
FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC


class SpareFiles:
    """A stock of empty, private files in ``directory`` (``None``: no stock, create directly).

    Args:
        directory: Where the jobs' files are.
        most: The largest stock to grow to (the largest batch).
        idle: Whether no job is active (read from the thread): the stock grows past
            :data:`STOCK` only then.
    """

    def __init__(
        self, directory: Path | None, most: int = STOCK, idle: Callable[[], bool] = lambda: True
    ) -> None:
        self._stock: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._target = STOCK
        """How many spares to keep (grows with the bursts that ran the stock out)."""
        self._most = max(most, STOCK)
        self._idle = idle
        self._taken = 0.0
        """When a job's file was last taken (monotonic; written by the event loop only)."""
        self._burst = 0
        """Files taken since the last pause of :data:`PAUSE` seconds."""
        if directory is None:
            return
        for old in directory.glob(PREFIX + "*"):
            with contextlib.suppress(OSError):
                old.unlink()
        self._dir = directory
        self._thread = threading.Thread(target=self._fill, name="spare-files", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: nice is per thread
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        for n in itertools.count():
            while not self._stop.is_set():
                quiet = time.monotonic() - self._taken
                if quiet < PAUSE:  # jobs are being recorded: wait until they are done
                    self._stop.wait(PAUSE - quiet)
                elif self._stock.qsize() >= (self._target if self._idle() else STOCK):
                    self._stop.wait(PAUSE)
                else:
                    break
            if self._stop.is_set():
                return
            path = str(self._dir / f"{PREFIX}{os.getpid()}-{n}")
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except OSError:
                self._stop.wait(1.0)  # disk full or directory gone: the event loop creates
                continue
            self._stock.put(path)

    def create(self, path: str) -> int:
        """Create ``path`` (empty, mode 0600) and open it for appending.

        Raises:
            OSError: The file could not be created.
        """
        now = time.monotonic()
        self._burst = 1 if now - self._taken >= PAUSE else self._burst + 1
        self._taken = now
        try:
            spare = self._stock.get_nowait()
        except queue.Empty:
            self._target = min(self._most, max(self._target, self._burst))
            return os.open(path, os.O_CREAT | os.O_TRUNC | FLAGS, 0o600)
        try:
            os.rename(spare, path)
        except OSError:
            return os.open(path, os.O_CREAT | os.O_TRUNC | FLAGS, 0o600)
        return os.open(path, FLAGS)

    def close(self) -> None:
        """Stop making spares and remove the ones left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        while True:
            try:
                spare = self._stock.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(OSError):
                os.unlink(spare)
