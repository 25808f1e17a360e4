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


class JobEnvironments:
    """:func:`job_environment` for many jobs of one server, its server part computed once.

    Matching the allowlist's patterns against every server variable is most of the cost of a
    job's environment (a seventh of the flux executor's submit, profiled in a batch). The server
    part depends only on the owner, so it is kept per owner (at most :attr:`KEEP` of them);
    filtering is idempotent and the user's variables are applied last, so :meth:`build` is
    ``job_environment(server_env, envars, owner, passthrough)``.
    """

    KEEP = 1024

    def __init__(self, server_env: Mapping[str, str], passthrough: tuple[str, ...] = ()) -> None:
        self._passthrough = passthrough
        self._server = job_environment(server_env, {}, Owner(), passthrough)
        self._bases: dict[Owner, dict[str, str]] = {}

    def build(self, envars: Mapping[str, str], owner: Owner) -> dict[str, str]:
        """The environment of a job of ``owner`` that asks for ``envars``."""
        base = self._bases.get(owner)
        if base is None:
            if len(self._bases) >= self.KEEP:
                self._bases.clear()
            base = self._bases[owner] = job_environment(self._server, {}, owner, self._passthrough)
        env = dict(base)
        env.update({str(k): str(v) for k, v in envars.items()})
        return env
