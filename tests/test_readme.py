"""The README's examples work: its Python block runs against a live server, its CLI lines too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_readme_setup_commands_are_the_ones_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]" && just serve' in README.read_text()
    assert 'pip install -e ".[dev]" && just test' in README.read_text()
    assert 'pip install -e ".[dev]" && just test' in ci


def test_readme_sdk_example_runs(server, tmp_path):
    (block,) = blocks("python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUX_")}
    env.update({"HOME": str(tmp_path), "FLUX_RESTFUL_HOST": server.url})
    out = subprocess.run(
        [sys.executable, "-c", block], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "42\n0\n"


def test_readme_cli_quick_start_runs(server, tmp_path):
    quick = next(b for b in blocks("bash") if "flux-restful-cli submit --follow" in b)
    lines = [
        ln
        for ln in quick.splitlines()
        if ln.startswith("flux-restful-cli") and "dashboard" not in ln
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUX_")}
    env.update({"HOME": str(tmp_path), "FLUX_RESTFUL_HOST": server.url})
    outputs = []
    for line in lines:
        out = subprocess.run(line, shell=True, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"{line}\n{out.stderr}"
        outputs.append(out.stdout)
    assert "hello from a job" in outputs[0]
