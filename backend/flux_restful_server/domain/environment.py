"""The environment a job's tasks get: an allowlist of the server's, plus the user's own."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

from .owner import Owner

ALLOWLIST = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TERM",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "MANPATH",
    "LUA_PATH",
    "LUA_CPATH",
    "FLUX_EXEC_PATH",
    "FLUX_MODULE_PATH",
    "FLUX_CONNECTOR_PATH",
    "FLUX_PMI_LIBRARY_PATH",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
)
"""Server variables that jobs inherit (upstream 1.1.0's list, plus active Python envs)."""

NEVER = (
    "FLUX_TOKEN",
    "FLUX_SECRET_KEY",
    "FLUX_TOKEN_SIGNING_KEY",
    "FLUX_USER",
    "FLUX_URI",
    "FLUX_REQUIRE_AUTH",
    "FLUX_AUTH_BACKEND",
    "FLUX_ADMIN_USERS",
)
"""Server variables that never reach a job, whatever the passthrough patterns say."""


def job_environment(
    server_env: Mapping[str, str],
    envars: Mapping[str, str],
    owner: Owner,
    passthrough: tuple[str, ...] = (),
) -> dict[str, str]:
    """Build a job's environment: allowlisted server variables, then the user's ``envars``.

    Args:
        server_env: The server's environment.
        envars: What the user asked for; these win over the server's values.
        owner: In multi-user mode, supplies ``HOME``, ``USER`` and ``LOGNAME``.
        passthrough: Extra names or fnmatch patterns (``FLUX_JOB_ENV_PASSTHROUGH``).
    """
    patterns = ALLOWLIST + passthrough
    env = {
        key: value
        for key, value in server_env.items()
        if key not in NEVER and any(fnmatch.fnmatchcase(key, p) for p in patterns)
    }
    if owner.uid is not None:
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        if owner.home:
            env["HOME"] = owner.home
        if owner.login:
            env["USER"] = env["LOGNAME"] = owner.login
    env.update({str(k): str(v) for k, v in envars.items()})
    return env
