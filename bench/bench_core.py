"""Server core benchmarks (issue 2), each a ratio against a baseline measured in the same run.

1. ``GET /v1/jobs/{id}`` with 10,000 jobs stored vs a bare Sanic handler returning the same bytes;
   ``GET /v1/jobs?limit=100`` likewise (target: >= 0.5 each).
2. Local executor throughput for ``true`` jobs submitted over HTTP by 8 concurrent clients vs
   ``asyncio.create_subprocess_exec("true")`` with 8 concurrent tasks (target: >= 0.5).
3. 100,000 jobs stored: listing page rate vs 1,000 jobs (target: within 2x), filtered search p50
   (target: < 100 ms), server RSS vs 1,000 jobs (target: no growth with inactive jobs).
4. The cost of the per-caller rate limits: ``GET /v1/jobs?limit=100`` with the read limit on
   (set too high to refuse anything) vs off (target: >= 0.90).

Run: ``python -m bench.bench_core [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from ._common import bare_sanic, flux_restful, rss_kib, seed_jobs, subprocess_rate, wrk, wrk_submit


def _best(url: str, seconds: float, rounds: int) -> float:
    return max(wrk(url, seconds) for _ in range(rounds))


def api_vs_bare(seconds: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-core-") as tmp:
        ids = seed_jobs(Path(tmp), 10_000)
        with flux_restful(Path(tmp)) as (url, _):
            for label, path in (
                ("GET /v1/jobs/{id}", f"/v1/jobs/{ids[len(ids) // 2]}"),
                ("GET /v1/jobs?limit=100", "/v1/jobs?limit=100"),
            ):
                body = httpx.get(url + path).content
                with bare_sanic(body) as bare:
                    ours = _best(url + path, seconds, rounds)
                    base = _best(bare + path, seconds, rounds)
                print(
                    f"{label:28s} 10k jobs: {ours:8.0f} req/s, bare Sanic same body "
                    f"({len(body)} B): {base:8.0f} req/s, ratio {ours / base:.2f} (target >= 0.50)"
                )


def _http_rate(url: str, seconds: float) -> float:
    """Jobs per second from the first submit until every submitted job is inactive.

    wrk (8 connections, one thread) submits for ``seconds``; a C client keeps the load
    generator's own CPU out of the measurement on this 2-core machine.
    """
    start = time.perf_counter()
    _, submitted = wrk_submit(url, seconds)
    with httpx.Client(base_url=url, timeout=60) as client:
        while client.get("/v1/jobs", params={"state": "active", "limit": 1}).json()["jobs"]:
            time.sleep(0.01)
    return submitted / (time.perf_counter() - start)


def throughput(seconds: float, rounds: int = 3) -> None:
    """Alternate rounds of both, keeping each one's best: the machine is shared."""
    ours = base = 0.0
    with flux_restful(args=("--cores-per-node", "8")) as (url, _):
        _http_rate(url, 1)  # warm up
        for _ in range(rounds):
            rate = _http_rate(url, seconds)
            ours = max(ours, rate)
            base = max(base, asyncio.run(subprocess_rate(int(rate * seconds) or 100, 8)))
    print(
        f"{'true jobs over HTTP, 8 clients':28s} {ours:8.1f} jobs/s, create_subprocess_exec alone "
        f"{base:8.1f}/s, ratio {ours / base:.2f} (target >= 0.50)"
    )


def scale(big: int, seconds: float) -> None:
    figures = {}
    for count in (1_000, big):
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            seed_jobs(Path(tmp), count, logs=False)
            with flux_restful(Path(tmp)) as (url, proc):
                rate = wrk(url + "/v1/jobs?limit=100", seconds)
                latencies = []
                with httpx.Client(base_url=url) as client:
                    for _ in range(40):
                        t0 = time.perf_counter()
                        client.get("/v1/jobs/search", params={"search": "lmp", "length": 25})
                        latencies.append(time.perf_counter() - t0)
                figures[count] = (rate, statistics.median(latencies) * 1000, rss_kib(proc.pid))
    (r1, s1, m1), (rb, sb, mb) = figures[1_000], figures[big]
    print(
        f"{'listing page, limit=100':28s} {big:,} jobs: {rb:8.0f} req/s vs 1,000 jobs {r1:8.0f}"
        f" req/s, ratio {rb / r1:.2f} (target >= 0.50)"
    )
    print(
        f"{'filtered search p50':28s} {big:,} jobs: {sb:6.1f} ms (1,000 jobs: {s1:.1f} ms; "
        f"target < 100 ms)"
    )
    print(
        f"{'server RSS':28s} {big:,} jobs: {mb / 1024:6.1f} MiB vs 1,000 jobs {m1 / 1024:.1f} MiB,"
        f" ratio {mb / m1:.2f} (target: no growth)"
    )


def rate_limit_cost(seconds: float, rounds: int) -> None:
    """Listing rate with every request counted by the limiter vs with the limiter off."""
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        on_dir, off_dir = Path(tmp) / "on", Path(tmp) / "off"
        for state in (on_dir, off_dir):
            state.mkdir()
            seed_jobs(state, 1_000, logs=False)
        counted = {"FLUX_READ_RATE": "1000000/second;100000000/minute"}
        with flux_restful(on_dir, env=counted) as (on_url, _):
            with flux_restful(off_dir) as (off_url, _):
                on = off = 0.0
                for _ in range(rounds):  # alternate: the machine is shared
                    on = max(on, wrk(on_url + "/v1/jobs?limit=100", seconds))
                    off = max(off, wrk(off_url + "/v1/jobs?limit=100", seconds))
    print(
        f"{'listing with rate limits':28s} {on:8.0f} req/s, limits off {off:8.0f} req/s, "
        f"ratio {on / off:.2f} (target >= 0.90)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, 20,000 jobs for scale")
    args = parser.parse_args(argv)
    seconds, rounds = (2.0, 1) if args.quick else (5.0, 2)
    api_vs_bare(seconds, rounds)
    throughput(seconds, rounds + 1)
    scale(20_000 if args.quick else 100_000, seconds)
    rate_limit_cost(seconds, rounds + 1)


if __name__ == "__main__":
    main()
