"""What every subcommand needs: the global options and how to build clients from them."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from .._async_client import AsyncClient
from .._async_upstream import AsyncFluxRestfulClient
from .._client import Client
from .._upstream import FluxRestfulClient
from ..settings import Settings

__all__ = ["CliConfig", "echo_json", "exit_code_for", "is_tty"]


@dataclass
class CliConfig:
    """Global options of ``flux-restful-cli``."""

    settings_file: str | None = None
    """``--settings-file``."""
    params: Sequence[str] = field(default_factory=tuple)
    """``-c set:key:value`` overrides."""
    host: str | None = None
    """``--host`` (else ``FLUX_RESTFUL_HOST``, else the settings file)."""
    quiet: bool = False
    """``--quiet``."""
    attempts: int = 5
    """``--attempts``: tries per request for transient failures."""
    ca: str | None = None
    """``--ca`` (else ``FLUX_RESTFUL_CA``): CA bundle for ``https://`` hosts."""
    insecure: bool = False
    """``--insecure``: allow credentials over plain HTTP to another machine."""
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The settings file with the ``-c`` overrides applied (loaded once)."""
        if self._settings is None:
            self._settings = Settings(self.settings_file)
            self._settings.update_params(self.params)
        return self._settings

    def client(self, **kwargs: Any) -> Client:
        """The typed synchronous client for these options (models in, errors raised)."""
        return Client(**{**self._options(), **kwargs})

    def aclient(self, **kwargs: Any) -> AsyncClient:
        """The typed asynchronous client for these options."""
        return AsyncClient(**{**self._options(), **kwargs})

    def upstream_client(self, **kwargs: Any) -> FluxRestfulClient:
        """Upstream's client for these options, for the commands that print upstream's JSON.

        ``submit``, ``info``, ``cancel``, ``logs``, ``stop-service`` and the ``--json`` listings
        print what the server answered, refusals included, exactly as upstream's CLI did;
        that is upstream's API, so they use its class (a :class:`Client` too).
        """
        return FluxRestfulClient(**{**self._options(), **kwargs})

    def upstream_aclient(self, **kwargs: Any) -> AsyncFluxRestfulClient:
        """Upstream's API on the asynchronous client (the shell's ``aclient``)."""
        return AsyncFluxRestfulClient(**{**self._options(), **kwargs})

    def _options(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "quiet": self.quiet,
            "settings": self.settings,
            "attempts": self.attempts,
            "ca": self.ca,
            "insecure": self.insecure,
        }


def echo_json(data: Any) -> None:
    """Print JSON the way upstream's CLI does (``indent=4``)."""
    click.echo(json.dumps(data, indent=4))


def is_tty() -> bool:
    """Whether stdout is a terminal (tables and spinners) rather than a pipe (plain output)."""
    return sys.stdout.isatty()


def exit_code_for(returncode: int | None, result: str) -> int:
    """The shell exit status that mirrors a job's end (signals as 128 + n, like a shell)."""
    if returncode is None:
        return 0 if result == "COMPLETED" else 1
    if returncode < 0:
        return min(128 - returncode, 255)
    return min(returncode, 255)
