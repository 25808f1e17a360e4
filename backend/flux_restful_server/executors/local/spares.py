"""Empty files made ahead of time, so that recording a job is a rename, not a file creation.

Creating a file is the costliest system call on a job's path here (a directory update and an
inode allocation in the filesystem journal, often hundreds of microseconds), while renaming one
costs a few. A background thread keeps a small stock of empty files in the jobs directory; the
event loop renames one into place for each new job and only creates a file itself when the
stock is empty. Leftover spares (after a crash) are removed at start.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
from pathlib import Path

STOCK = 64
"""Spare files kept ready."""
PREFIX = ".spare-"
FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC


class SpareFiles:
    """A stock of empty, private files in ``directory`` (``None``: no stock, create directly)."""

    def __init__(self, directory: Path | None) -> None:
        self._stock: queue.Queue[str] = queue.Queue(maxsize=STOCK)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if directory is None:
            return
        for old in directory.glob(PREFIX + "*"):
            with contextlib.suppress(OSError):
                old.unlink()
        self._dir = directory
        self._thread = threading.Thread(target=self._fill, name="spare-files", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        for n in itertools.count():
            if self._stop.is_set():
                return
            path = str(self._dir / f"{PREFIX}{os.getpid()}-{n}")
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except OSError:
                self._stop.wait(1.0)  # disk full or directory gone: the event loop creates
                continue
            while not self._stop.is_set():
                try:
                    self._stock.put(path, timeout=0.5)
                    break
                except queue.Full:
                    continue
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def create(self, path: str) -> int:
        """Create ``path`` (empty, mode 0600) and open it for appending.

        Raises:
            OSError: The file could not be created.
        """
        try:
            spare = self._stock.get_nowait()
        except queue.Empty:
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
