"""The ``bash`` blocks of docs/cli.md run as one script against a live server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.cli.conftest import cli_command

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_doc_examples_run(cli, tmp_path):
    blocks = re.findall(r"^```bash\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 3
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "flux-restful-cli"
    shim.write_text("#!/bin/sh\nexec " + " ".join(cli_command()) + ' "$@"\n')
    shim.chmod(0o755)
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = {**cli.env, "PATH": f"{bindir}:{cli.env['PATH']}"}
    out = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "job exited with 3" in out.stdout
    assert "stdout.0: hello" in out.stdout and "stdout.1: hello" in out.stdout
    assert "streamed" in out.stdout
    assert "cancelled: exit" in out.stdout
