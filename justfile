# flux-restful developer commands. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Show the recipes.
default:
    @just --list

# Install the project with its development tools (what the README's first command does).
install:
    pip install -e ".[dev]"

# Run the server with the embedded local executor on 127.0.0.1:5000.
serve *args:
    flux-restful serve {{args}}

# Run the test suite (in parallel); extra arguments go to pytest.
test *args:
    python -m pytest -n auto --dist loadgroup {{args}}

# Run the executor contract and API tests inside a real Flux instance.
test-flux *args:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v flux >/dev/null; then
        echo "flux is not on PATH: install flux-core (see docs/flux.md), then run 'just test-flux' again." >&2
        exit 2
    fi
    flux start --test-size=4 python -m pytest -p no:cacheprovider -m "not slow" tests/backend {{args}}

# Format the code.
fmt:
    ruff format .
    ruff check --fix .

# Lint (ruff format check + ruff check) and type-check (mypy).
lint:
    ruff format --check .
    ruff check .
    mypy

# Alias of lint, as in httpx's scripts.
check: lint

# Run the benchmarks; they print ratios against baselines measured in the same run.
bench *args:
    python -m bench {{args}}

# Open the terminal dashboard against a running server.
tui *args:
    flux-restful-tui {{args}}

# Update the TUI snapshot SVGs (read snapshot_report.html first).
snapshots:
    python -m pytest tests/tui --snapshot-update
