"""Every ``python`` block of docs/sdk.md runs, in order, against a live server with auth on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
AUTH = {"FLUX_USER": "fluxuser", "FLUX_TOKEN": "12345", "FLUX_SECRET_KEY": "notsecrethoo"}


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_docs_have_examples():
    assert len(python_blocks()) >= 5


def test_sdk_doc_examples_run(server_factory, isolated_home, tmp_path):
    server = server_factory(env={"FLUX_REQUIRE_AUTH": "true", **AUTH})
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUX_")}
    env.update({"HOME": str(isolated_home), "FLUX_RESTFUL_HOST": server.url, **AUTH})
    for number, block in enumerate(python_blocks(), start=1):
        script = tmp_path / f"block{number}.py"
        script.write_text(block)
        out = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=90
        )
        assert out.returncode == 0, f"block {number} of docs/sdk.md failed:\n{block}\n{out.stderr}"
        assert "Traceback" not in out.stderr
