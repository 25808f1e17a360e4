"""Finding and starting a job supervisor: its socket address, its environment, its process.

Used by the server (``link``) to reach or start the supervisor of a state dir, and by the
supervisor to listen on the same address. Standard library only, like the supervisor itself.
"""

from __future__ import annotations

import os
import subprocess
import sys


def socket_address(state_dir: str) -> str:
    """The supervisor's address: an abstract Unix socket named after the state dir's inode.

    Abstract names have no path length limit; connections are checked with ``SO_PEERCRED``.
    """
    st = os.stat(state_dir)
    return f"\0flux-restful-supervisor-{st.st_dev}-{st.st_ino}"


def supervisor_environment() -> dict[str, str]:
    """The whole environment of a supervisor: where to import this code from, nothing else.

    Never the server's environment (which may hold its secrets): each job's environment is
    computed by the server (an allowlist, ``domain/environment.py``) and sent with the job.
    """
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    paths = [package_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PATH": os.defpath, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def spawn_supervisor(state_dir: str) -> subprocess.Popen[bytes]:
    """Start a supervisor for ``state_dir`` in its own session (it outlives the caller).

    It gets a minimal environment and no descriptor but its standard streams.
    """
    with open(os.path.join(state_dir, "supervisor.log"), "ab") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "flux_restful_server.executors.local.supervisor", state_dir],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
            close_fds=True,
            env=supervisor_environment(),
        )
