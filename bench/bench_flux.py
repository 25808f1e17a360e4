"""Flux executor benchmarks (issue 6), run inside a real Flux instance.

1. HTTP submit throughput: ``wrk`` with 8 connections submitting ``true`` to the server (flux
   executor) vs Flux's own pipelined ``flux.job.submit_async`` of the same jobspec from Python,
   measured in the same run (target: >= 0.80).
2. ``GET /v1/jobs?limit=100`` with 5,000 jobs in the instance: p50 latency (target: < 50 ms).

Run under Flux: ``flux start --test-size=4 python -m bench flux`` (``just bench flux`` outside
Flux says how to get it). Skips with the reason when the bindings or an instance are missing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import httpx

from ._common import flux_restful, wrk_submit


def _flux_rate(count: int) -> float:
    import flux
    from flux.job import JobspecV1

    handle = flux.Flux()
    jobspec = JobspecV1.from_command(["true"])
    jobspec.environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    start = time.perf_counter()
    futures = [flux.job.submit_async(handle, jobspec) for _ in range(count)]
    for future in futures:
        future.get_id()
    return count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=5000)
    args, _ = parser.parse_known_args(argv)
    from flux_restful_server.executors.flux import flux_available

    ok, reason = flux_available()
    if not ok:
        print(f"skipped: {reason}")
        return 0
    with flux_restful(args=("--executor", "flux")) as (url, _):
        ours, submitted = wrk_submit(url, args.seconds)
        base = _flux_rate(max(submitted, 200))
        print(
            f"HTTP submit, 8 clients: {ours:8.1f} jobs/s; Flux submit_async pipelined: "
            f"{base:8.1f} jobs/s; ratio {ours / base:.2f} (target >= 0.80)"
        )
        # Each HTTP submit answers with the id Flux assigns, so 8 clients keep at most 8 submits
        # in flight: the rate is bounded by Flux's ingest latency, not by the server.
        wide, _ = wrk_submit(url, args.seconds, 64)
        print(
            f"HTTP submit, 64 clients: {wide:8.1f} jobs/s; ratio {wide / base:.2f} to the same "
            "submit_async rate (what the server itself can pass to Flux)"
        )
        existing = len(httpx.get(f"{url}/v1/jobs", timeout=60).json()["jobs"])
        if existing < args.jobs:
            _flux_rate(args.jobs - existing)
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get("/v1/jobs", params={"limit": 100})
            latencies = []
            for _ in range(50):
                t0 = time.perf_counter()
                client.get("/v1/jobs", params={"limit": 100}).raise_for_status()
                latencies.append(time.perf_counter() - t0)
            total = len(client.get("/v1/jobs").json()["jobs"])
        p50 = statistics.median(latencies) * 1000
        print(
            f"GET /v1/jobs?limit=100 with {total} jobs in the instance: p50 {p50:.1f} ms "
            f"(target < 50 ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
