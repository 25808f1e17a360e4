"""Run every benchmark (``just bench``), or those named: ``python -m bench core streams``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    args = sys.argv[1:]
    flags = [a for a in args if a.startswith("-")]
    names = [a for a in args if not a.startswith("-")]
    available = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    for name in names or available:
        if name not in available:
            sys.exit(f"no benchmark {name!r}; available: {', '.join(available)}")
        print(f"== {name} ==", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        module.main(flags)


if __name__ == "__main__":
    main()
