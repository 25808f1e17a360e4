"""Who a job belongs to, and the system account it runs as."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Owner:
    """Who a job belongs to and, in multi-user mode, which system account runs it."""

    user: str | None = None
    """The API user who submitted the job; ``None`` when auth is off."""
    uid: int | None = None
    """System uid to run the tasks as (multi-user mode); ``None`` runs as the server user."""
    gid: int | None = None
    """Primary gid for ``uid``."""
    groups: tuple[int, ...] = ()
    """Supplementary groups for ``uid``."""
    home: str | None = None
    """Home directory of the system account (also the default working directory)."""
    login: str | None = None
    """System login name of the account (``USER``/``LOGNAME`` of the tasks)."""


def system_account(name: str) -> Owner | None:
    """How a job runs as system account ``name`` (uid, gid, groups, home), or ``None``."""
    try:
        entry = pwd.getpwnam(name)
    except (KeyError, ValueError):
        return None
    try:
        groups = tuple(sorted(set(os.getgrouplist(entry.pw_name, entry.pw_gid))))
    except OSError:
        groups = (entry.pw_gid,)
    return Owner(
        user=name,
        uid=entry.pw_uid,
        gid=entry.pw_gid,
        groups=groups,
        home=entry.pw_dir or "/",
        login=entry.pw_name,
    )
