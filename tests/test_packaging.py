"""The three pyprojects agree: the workspace installs exactly what the two distributions need,
the client needs nothing of the server and the server nothing of the client or Textual; and the
client installs alone into a fresh venv and works there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.upstream_shaped import UpstreamShapedServer

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = {
    "sanic",
    "sanic-ext",
    "pydantic",
    "orjson",
    "google-re2",
    "libpass",
    "argon2-cffi",
    "limits",
    "swagger-ui-bundle",
}
# PyYAML is shared: the SDK reads settings files, the server YAML jobspecs.
CLIENT_ONLY = {"anyio", "rich", "textual", "ipython"}


def _project(path: str) -> dict:
    return tomllib.loads((ROOT / path).read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_workspace_holds_exactly_what_the_distributions_need():
    root, server, client = (
        _project("pyproject.toml"),
        _project("backend/pyproject.toml"),
        _project("sdk/pyproject.toml"),
    )
    extras = client["optional-dependencies"]
    assert set(root["dependencies"]) == {
        *server["dependencies"],
        *client["dependencies"],
        *extras["tui"],
    }
    assert root["optional-dependencies"]["shell"] == extras["shell"]
    assert root["optional-dependencies"]["pam"] == server["optional-dependencies"]["pam"]
    assert root["scripts"] == {**server["scripts"], **client["scripts"]}


def test_neither_distribution_needs_the_others_libraries():
    server, client = _project("backend/pyproject.toml"), _project("sdk/pyproject.toml")
    assert not _names(server["dependencies"]) & CLIENT_ONLY
    client_all = client["dependencies"] + [
        r for e in client["optional-dependencies"].values() for r in e
    ]
    assert not _names(client_all) & SERVER_ONLY


@pytest.mark.slow
def test_the_client_installs_alone_and_works(tmp_path, server):
    upstream = UpstreamShapedServer(auth=True).start()
    try:
        _install_and_use(tmp_path, server.url, upstream.url)
    finally:
        upstream.stop()


def _install_and_use(tmp_path: Path, ours: str, theirs: str) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"HOME": str(tmp_path), "PATH": f"{bin_dir}:{env['PATH']}"})
    env = {k: v for k, v in env.items() if not k.startswith("FLUX_")}
    install = subprocess.run(
        [str(bin_dir / "pip"), "install", "-q", str(ROOT / "sdk")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0 and "Could not find a version" in install.stderr:
        pytest.skip(f"the package registry cannot be reached: {install.stderr[-300:]}")
    assert install.returncode == 0, install.stderr

    def run(*args: str, host: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {"FLUX_RESTFUL_HOST": host} if host else {}
        return subprocess.run(
            [str(bin_dir / "flux-restful-cli"), *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )

    assert run("--help").returncode == 0
    for url in (ours, theirs):
        if url == theirs:
            env.update({"FLUX_USER": "fluxuser", "FLUX_TOKEN": "12345"})
            env["FLUX_SECRET_KEY"] = "notsecrethoo"
        out = run("submit", "--follow", "--", "sh", "-c", "echo alone; exit 2", host=url)
        assert (out.returncode, out.stdout) == (2, "alone\n"), out.stderr
    python = str(bin_dir / "python")
    for module in ("sanic", "sanic_ext", "pydantic", "flux_restful_server", "textual"):
        probe = subprocess.run([python, "-c", f"import {module}"], env=env, capture_output=True)
        assert probe.returncode != 0, f"{module} is importable in the client-only venv"
    dashboard = run("dashboard", host=ours)
    assert dashboard.returncode == 1
    assert "pip install 'flux-restful-client[tui]'" in dashboard.stderr
    assert "Traceback" not in dashboard.stderr
