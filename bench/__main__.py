"""Run every benchmark (``just bench``), or those named: ``python -m bench core streams``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from ._common import ToolMissing


def main() -> None:
    args = sys.argv[1:]
    flags = [a for a in args if a.startswith("-")]
    names = [a for a in args if not a.startswith("-")]
    available = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    unknown = [name for name in names if name not in available]
    if unknown:
        sys.exit(f"no benchmark {unknown[0]!r}; available: {', '.join(available)}")
    stopped = []
    for name in names or available:
        print(f"== {name} ==", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        try:
            module.main(flags)
        except ToolMissing as exc:
            print(f"{name} stopped: {exc}", flush=True)
            stopped.append(name)
    if stopped:
        sys.exit(f"not measured in full: {', '.join(stopped)} (see above)")


if __name__ == "__main__":
    main()
