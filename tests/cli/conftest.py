"""Run the real ``flux-restful-cli`` command in a subprocess, with an isolated home."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def cli_command() -> list[str]:
    """The installed console script, or the module when the project is not installed."""
    script = shutil.which("flux-restful-cli")
    return [script] if script else [sys.executable, "-m", "flux_restful_client.cli"]


class Cli:
    """Runs ``flux-restful-cli`` against one server with a private HOME."""

    def __init__(self, home: Path, url: str | None = None) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FLUX_")}
        self.env.update({"HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"})
        if url:
            self.env["FLUX_RESTFUL_HOST"] = url

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli_command(), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*cli_command(), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def offline_cli(home) -> Cli:
    """The command with no server (for help, config, and unreachable-server errors)."""
    return Cli(home)


@pytest.fixture
def cli(home, server) -> Cli:
    """The command pointed at a live server through FLUX_RESTFUL_HOST."""
    return Cli(home, server.url)
