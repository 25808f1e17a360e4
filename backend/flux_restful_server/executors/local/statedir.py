"""The state dir and its lock: one server at a time per state dir, and the holder is named."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ...settings import SettingsError


def lock_state_dir(state_dir: Path) -> int:
    """Create ``state_dir`` if needed and take its lock; return the locked descriptor.

    The lock (``server.lock``, holding the holder's pid) is released when the descriptor is
    closed, also when the process dies.

    Raises:
        SettingsError: The directory is unusable, or another server holds it (with its pid).
    """
    try:
        # Only the server's account may look inside: it holds the signing key, the user store
        # and every job's output. (An existing directory keeps its mode unless --job-user asks.)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (state_dir / "jobs").mkdir(exist_ok=True, mode=0o700)
        probe = state_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise SettingsError(f"cannot use state dir {state_dir}: {exc.strerror or exc}") from None
    fd = os.open(state_dir / "server.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SettingsError(
            f"state dir {state_dir} is in use by another server (pid {holder}); "
            "stop it or choose another --state-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
