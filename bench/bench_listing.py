"""Listings under churn (issue 15): a dashboard polling a busy local instance.

While real jobs (``sleep``) are submitted at a steady rate, so that about 100 jobs a second
change state (each one passes submit, depend, priority, sched, run, cleanup and inactive),
``wrk`` measures

1. ``GET /v1/jobs?limit=100`` (the newest page, where the churn is), and
2. ``GET /v1/jobs/{id}`` of a job that runs for the whole benchmark,

each against a bare Sanic handler returning a body of the same size under the same churn, in
short interleaved runs (target: >= 0.5 each, the median ratio of the pairs). It also prints the
CPU each answer costs with the churn's own CPU taken out, steadier than rates on a shared
machine. The listing's encoded-response cache is cold on nearly every request here: the revision
moves hundreds of times a second. The churn is open loop (submits start on schedule whether or
not earlier ones answered), and the rate it reached is printed.

Run: ``python -m bench listing [--quick]`` (``just bench listing``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from ._common import bare_sanic_process, cpu_seconds, flux_restful, seed_jobs, wrk


class Churn:
    """Submit ``sleep`` jobs at ``rate`` per second, open loop: a submit starts on schedule
    whether or not earlier ones have answered (at most ``in_flight`` at once), from an event loop
    in a thread of its own."""

    def __init__(self, url: str, rate: float, sleep: float = 0.3, in_flight: int = 64) -> None:
        self.url = url
        self.rate = rate
        self.sleep = sleep
        self.in_flight = in_flight
        self.submitted = 0
        self.late = 0
        """Submits that could not start on schedule (``in_flight`` were still waiting)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.in_flight)
        params = {"command": f"sleep {self.sleep}"}
        slots = asyncio.Semaphore(self.in_flight)
        async with httpx.AsyncClient(base_url=self.url, timeout=60, limits=limits) as client:

            async def one() -> None:
                try:
                    (await client.post("/v1/jobs/submit", params=params)).raise_for_status()
                    self.submitted += 1
                finally:
                    slots.release()

            tasks: set[asyncio.Task[None]] = set()
            due = time.monotonic()
            while not self._stop.is_set():
                if slots.locked():
                    self.late += 1
                await slots.acquire()
                task = asyncio.create_task(one())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                due += 1 / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> Churn:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def achieved(self) -> float:
        """Jobs submitted per second so far."""
        return self.submitted / max(1e-9, time.monotonic() - self._started)


@contextmanager
def _server(seeded: int) -> Iterator[tuple[str, int]]:
    with tempfile.TemporaryDirectory(prefix="bench-listing-") as tmp:
        if seeded:
            seed_jobs(Path(tmp), seeded, logs=False)
        # Room for every sleeping job at once: the churn must not queue behind the cores.
        with flux_restful(Path(tmp), ("--cores-per-node", "512")) as (url, proc):
            yield url, proc.pid


def _measured(url: str, pid: int, seconds: float) -> tuple[float, float]:
    """wrk's requests/s against ``url`` and the CPU seconds process ``pid`` used meanwhile."""
    cpu = cpu_seconds(pid)
    rate = wrk(url, seconds)
    return rate, cpu_seconds(pid) - cpu


def _compare(
    label: str, url: str, pid: int, path: str, seconds: float, rounds: int, idle_cpu: float
) -> None:
    """Print both rates and both CPU costs per request; ``idle_cpu``: the churn's own CPU/s."""
    body = httpx.get(url + path).content
    pairs = []
    with bare_sanic_process(body) as (bare, bare_proc):
        for _ in range(rounds):  # interleaved short runs: the machine's load drifts
            pairs.append(
                (
                    _measured(url + path, pid, seconds),
                    _measured(bare + path, bare_proc.pid, seconds),
                )
            )
    ratio = statistics.median(o[0] / b[0] for o, b in pairs)
    ours = (statistics.median(o[0] for o, _ in pairs), statistics.median(o[1] for o, _ in pairs))
    base = (statistics.median(b[0] for _, b in pairs), statistics.median(b[1] for _, b in pairs))
    print(
        f"{label:34s} {ours[0]:8.0f} req/s, bare Sanic same size ({len(body)} B): {base[0]:8.0f}"
        f" req/s, ratio {ratio:.2f} (median of {rounds} interleaved pairs; target >= 0.50)",
        flush=True,
    )
    # CPU per answer, the churn's own CPU taken out: what the route costs, whatever the load.
    window = max(1, int(seconds))
    ours_us = max(0.0, ours[1] - idle_cpu * window) / (ours[0] * window) * 1e6
    base_us = base[1] / (base[0] * window) * 1e6
    print(
        f"{'':34s} CPU per answer: {ours_us:6.0f} us (churn's {idle_cpu:.2f} CPU-s/s taken out),"
        f" bare {base_us:6.0f} us, ratio {base_us / max(ours_us, 1e-9):.2f}",
        flush=True,
    )


def under_churn(rate: float, seconds: float, rounds: int, seeded: int) -> None:
    with _server(seeded) as (url, pid), httpx.Client(base_url=url, timeout=30) as client:
        running = client.post("/v1/jobs/submit", params={"command": "sleep 3600"}).json()["id"]
        while client.get(f"/v1/jobs/{running}").json()["state"] != "RUN":
            time.sleep(0.02)
        with Churn(url, rate) as churn:
            time.sleep(1.0)  # reach the steady state: jobs in every state
            cpu, started = cpu_seconds(pid), time.monotonic()
            time.sleep(2.0)
            idle_cpu = (cpu_seconds(pid) - cpu) / (time.monotonic() - started)
            alone = churn.achieved()
            for label, path in (
                ("GET /v1/jobs?limit=100, churn", "/v1/jobs?limit=100"),
                ("GET /v1/jobs/{id} running, churn", f"/v1/jobs/{running}"),
            ):
                _compare(label, url, pid, path, seconds, rounds, idle_cpu)
            achieved = churn.achieved()
        client.post(f"/v1/jobs/{running}/cancel")
    print(
        f"{'churn':34s} {achieved:8.1f} jobs/s submitted ({alone:.1f} before the load; target"
        f" {rate:.0f}, each changes state 6 times), {churn.late} submits behind schedule,"
        f" {seeded:,} older jobs stored; the churn alone took {idle_cpu:.2f} CPU-s/s of the"
        " server",
        flush=True,
    )


class _StoreShim:
    """What ``jobs.rows`` asks of an executor, over a seeded store, with revisions we move."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.revisions: dict[int, int] = {}

    async def query_ids(self, filters: Any, page: Any) -> list[int]:
        return list(self.store.ids(filters, page))

    def row_revisions(self, ids: Any, *, summary: bool = False) -> list[int | None]:
        return [self.revisions.get(i, -1) for i in ids]

    async def query(self, filters: Any, page: Any, *, summary: bool = False) -> list[Any]:
        from flux_restful_server.executors.local.store import SUMMARY_COLUMNS

        return list(self.store.query(filters, page, SUMMARY_COLUMNS))


def in_process(seeded: int, requests: int = 2000) -> None:
    """The route's own work per cold listing, in this process: read and encode the whole page
    (what a listing cost whenever the revision had moved) vs rows kept per job with ``k`` of the
    page's jobs changed since the last answer."""
    from flux_restful_server.domain.query import JobFilter, Page
    from flux_restful_server.executors.local.store import SUMMARY_COLUMNS, Store
    from flux_restful_server.http import encode
    from flux_restful_server.jobs.cache import ResponseCache
    from flux_restful_server.jobs.info import job_summary
    from flux_restful_server.jobs.rows import summary_listing

    with tempfile.TemporaryDirectory(prefix="bench-listing-") as tmp:
        seed_jobs(Path(tmp), seeded, logs=False)
        store = Store(Path(tmp) / "flux-restful.db")
        filters, page = JobFilter(), Page(limit=100)
        start = time.process_time()
        for _ in range(requests):
            whole = encode(
                {"jobs": [job_summary(r) for r in store.query(filters, page, SUMMARY_COLUMNS)]}
            )
        full = (time.process_time() - start) / requests * 1e6
        shim, cache = _StoreShim(store), ResponseCache()
        ids = store.ids(filters, page)
        loop = asyncio.new_event_loop()
        assert loop.run_until_complete(summary_listing(shim, cache, filters, page)) == whole  # type: ignore[arg-type]
        figures = []
        for changed in (0, 1, 10):
            start = time.process_time()
            for n in range(requests):
                for i in range(changed):
                    job = ids[(n * changed + i) % len(ids)]
                    shim.revisions[job] = shim.revisions.get(job, 0) + 1
                loop.run_until_complete(summary_listing(shim, cache, filters, page))  # type: ignore[arg-type]
            figures.append((changed, (time.process_time() - start) / requests * 1e6))
        loop.close()
        store.close()
    rows = ", ".join(f"{k} changed {us:.0f} us" for k, us in figures)
    print(
        f"{'listing work in process, limit=100':34s} whole page read+encoded {full:.0f} us; rows"
        f" kept per job: {rows} (CPU per answer, {seeded:,} jobs stored)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--rate", type=float, default=100.0, help="jobs submitted per second")
    args, _ = parser.parse_known_args(argv)
    seconds, rounds = (1.0, 3) if args.quick else (2.0, 5)
    in_process(10_000)
    under_churn(args.rate, seconds, rounds, 10_000)


if __name__ == "__main__":
    main()
