"""The ``flux-restful-cli`` command (upstream's subcommands plus ours)."""

from __future__ import annotations

from . import _control, _jobs, _settings_cmds, _shell, _submit, _tokens, _webhooks  # noqa: F401
from ._app import cli, main
from ._config import CliConfig
from ._dashboard import tui_main

__all__ = ["CliConfig", "cli", "main", "tui_main"]
