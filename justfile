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

# Run the test suite in parallel (extra arguments go to pytest).
test *args: browser
    python -m pytest -n auto --dist loadgroup {{args}}

# Make sure headless Chromium is there for the web UI's browser tests (installs it as root).
browser:
    #!/usr/bin/env bash
    if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Debian's chromium for the browser tests..." >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
            || echo "could not install chromium: the browser tests will be skipped" >&2
    fi

# Run the executor and API tests in a real Flux instance, then our SDK, CLI and dashboard against upstream 1.1.0 on Flux (docs/flux.md).
test-flux *args:
    #!/usr/bin/env bash
    set -uo pipefail
    if ! command -v flux >/dev/null; then
        echo "flux is not on PATH: build or install flux-core and put its bin/ on PATH and its" >&2
        echo "python site-packages on PYTHONPATH (see docs/flux.md), then run 'just test-flux'." >&2
        exit 2
    fi
    status=0
    FLUX_RESTFUL_TEST_EXECUTOR=flux flux start --test-size=4 \
        python -m pytest -p no:cacheprovider tests/backend/test_flux_executor.py \
        tests/backend/test_flux_units.py tests/backend/test_executor_contract.py \
        tests/backend/test_jobs_api.py tests/backend/test_workers.py \
        tests/backend/test_webhooks_flux.py tests/backend/test_job_control.py \
        tests/backend/test_submit_control.py tests/backend/test_submit_durable.py \
        {{args}} || status=$?
    # Each of these starts upstream's server in a Flux instance of its own (not inside this one).
    python -m pytest -p no:cacheprovider -rs tests/sdk/test_real_upstream.py \
        tests/cli/test_real_upstream.py tests/tui/test_real_upstream.py {{args}} || status=$?
    exit $status

# Format the code.
fmt:
    ruff format .
    ruff check --fix .

# Lint (ruff format check + ruff check), type-check (mypy --strict), architecture contracts.
lint:
    ruff format --check .
    ruff check .
    mypy
    lint-imports --no-cache

# Alias of lint, as in httpx's scripts.
check: lint

# Run the benchmarks (or some: `just bench core streams`); they print ratios measured in one run.
bench *args:
    python -m bench {{args}}

# Open the terminal dashboard against a running server.
tui *args:
    flux-restful-tui {{args}}

# Update the TUI snapshot SVGs (read snapshot_report.html first).
snapshots:
    python -m pytest tests/tui --snapshot-update
