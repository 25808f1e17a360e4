"""Dashboard benchmark: 10,000 jobs, 50 job events/s, keypress-to-frame latency, a huge live log.

The API is served in process (``httpx.MockTransport``) so the figures measure the dashboard, not
the server: a listing of ``--jobs`` jobs, an endless ``/v1/events`` feed of ``--rate`` state
changes per second (each job it names is fetched again, as the dashboard does on ``start`` and
``finish``), and a ``/v1/jobs/1/stream`` that writes ``--log-lines`` lines (100 per frame, as the
server's slices do) at ``--log-rate`` lines per second.

Latency is keypress to the next frame rendered: from ``pilot.press`` to the first compositor
update the app produced after the key was handled, rendered to terminal sequences as a real
terminal would receive them. Measured for cursor down and page down in the jobs table, opening
a job's detail and going back, and moving in the log view while lines pour in. Memory is the
process RSS. Run: ``python -m bench tui`` or ``python bench/bench_tui.py [--log-lines N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from textual import events
from textual._compositor import CompositorUpdate

from flux_restful_client import AsyncClient
from flux_restful_tui import DashboardApp
from flux_restful_tui.feed import FeedSettings
from flux_restful_tui.screens.detail import JobDetailScreen
from flux_restful_tui.screens.log import LogScreen
from flux_restful_tui.widgets.log_view import LogView

STATES = ("SCHED", "RUN", "INACTIVE")
TARGET_MS = 100.0
LINES_PER_FRAME = 100


def rss_mb() -> float:
    """Resident memory of this process, MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * 4096 / 1e6


def make_jobs(count: int) -> dict[int, dict[str, Any]]:
    now = time.time()
    return {
        i: {
            "id": i,
            "state": STATES[i % 3],
            "result": "COMPLETED" if i % 3 == 2 else "",
            "returncode": 0 if i % 3 == 2 else "",
            "name": f"job-{i}",
            "user": "alice",
            "ntasks": 1,
            "nnodes": 1,
            "t_submit": now - (count - i),
            "t_run": now - i / 2 if i % 3 == 1 else 0,
            "runtime": 1.0,
        }
        for i in range(1, count + 1)
    }


class _Feed(httpx.AsyncByteStream):
    """``rate`` job events per second, forever, spread evenly."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api

    async def __aiter__(self) -> AsyncIterator[bytes]:
        start = time.perf_counter()
        seq = 0
        while not self.api.closed:
            seq += 1
            job_id = 1 + (seq * 7919) % len(self.api.jobs)
            state = STATES[seq % 3]
            self.api.jobs[job_id]["state"] = state
            event = {"SCHED": "alloc", "RUN": "start", "INACTIVE": "finish"}[state]
            frame = {"seq": seq, "id": job_id, "event": event, "state": state, "t": time.time()}
            self.api.events += 1
            yield f"data: {json.dumps(frame)}\n\n".encode()
            delay = start + seq / self.api.rate - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))


class _Log(httpx.AsyncByteStream):
    """``lines`` output lines at ``rate`` lines per second, then the end frame."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api

    async def __aiter__(self) -> AsyncIterator[bytes]:
        start = time.perf_counter()
        sent = 0
        seq = 1
        while sent < self.api.log_lines and not self.api.closed:
            count = min(LINES_PER_FRAME, self.api.log_lines - sent)
            data = "".join(
                f"step {sent + i}: loss={1 / (sent + i + 1):.6f}\n" for i in range(count)
            )
            stream = "stderr" if seq % 10 == 0 else "stdout"
            frame = {"seq": seq, "type": "output", "stream": stream, "rank": 0, "data": data}
            yield f"data: {json.dumps(frame)}\n\n".encode()
            sent += count
            seq += 1
            self.api.log_sent = sent
            delay = start + sent / self.api.log_rate - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))
        end = {
            "seq": seq,
            "type": "end",
            "state": "INACTIVE",
            "result": "COMPLETED",
            "returncode": 0,
        }
        yield f"data: {json.dumps(end)}\n\n".encode()


class FakeApi:
    """The few routes the dashboard reads, from memory."""

    def __init__(self, jobs: int, rate: float, log_lines: int, log_rate: float) -> None:
        self.jobs = make_jobs(jobs)
        self.rate = rate
        self.log_lines = log_lines
        self.log_rate = log_rate
        self.events = 0
        self.log_sent = 0
        self.closed = False

    async def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/").rstrip("/")
        sse = {"content-type": "text/event-stream"}
        if path == "jobs":
            return httpx.Response(200, json=list(self.jobs.values()))
        if path == "events":
            return httpx.Response(200, stream=_Feed(self), headers=sse)
        parts = path.split("/")
        if parts[0] == "jobs" and len(parts) >= 2 and parts[1].isdigit():
            job = self.jobs.get(int(parts[1]))
            if job is None:
                return httpx.Response(404, json={"detail": "no such job"})
            rest = "/".join(parts[2:])
            if rest == "":
                return httpx.Response(200, json=job)
            if rest == "events":
                log = [{"name": "submit", "timestamp": job["t_submit"], "context": {}}]
                return httpx.Response(200, json={"id": job["id"], "events": log})
            if rest == "stream":
                return httpx.Response(200, stream=_Log(self), headers=sse)
        return httpx.Response(404, json={"detail": "Not found"})


class FrameClock:
    """Times of the frames the app renders (each turned into terminal output, as for a tty)."""

    def __init__(self, app: DashboardApp) -> None:
        self.count = 0
        self.last = 0.0
        original = app._display  # noqa: SLF001

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)
                self.count += 1
                self.last = time.perf_counter()

        app._display = display  # type: ignore[method-assign]  # noqa: SLF001


async def press_to_frame(
    app: DashboardApp, frames: FrameClock, key: str, changed: Callable[[], bool]
) -> float:
    """Milliseconds from a key arriving (as from the terminal) to the first frame that shows it.

    ``changed`` tells when the key's effect happened (cursor moved, screen opened...); the
    latency ends at the first frame rendered after that.
    """
    driver = app._driver  # noqa: SLF001
    assert driver is not None
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    start = time.perf_counter()
    driver.send_message(event)
    deadline = start + 2.0
    while not changed() and time.perf_counter() < deadline:
        await asyncio.sleep(0.0005)
    handled = time.perf_counter()
    while frames.last < handled and time.perf_counter() < deadline:
        await asyncio.sleep(0.0005)
    return (max(frames.last, handled) - start) * 1000


def moved(get: Callable[[], object]) -> Callable[[], bool]:
    """A predicate: true once ``get()`` differs from its value now."""
    before = get()
    return lambda: get() != before


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(name: str, samples: list[float]) -> float:
    p95 = percentile(samples, 0.95)
    verdict = "ok" if p95 < TARGET_MS else "OVER"
    print(
        f"  {name:<30} n={len(samples):<4} p50 {statistics.median(samples):6.1f} ms  "
        f"p95 {p95:6.1f} ms  max {max(samples):6.1f} ms   "
        f"(target p95 < {TARGET_MS:.0f} ms) {verdict}",
        flush=True,
    )
    return p95


async def run(args: argparse.Namespace) -> int:
    api = FakeApi(args.jobs, args.rate, args.log_lines, args.log_rate)
    client = AsyncClient(
        host="http://bench.invalid:5000", transport=httpx.MockTransport(api.handler)
    )
    app = DashboardApp(client, feed=FeedSettings(), max_log_lines=10_000)
    frames = FrameClock(app)
    worst = 0.0
    ok = True
    rss_start = rss_mb()
    async with app.run_test(size=(140, 45)) as pilot:
        t0 = time.perf_counter()
        jobs = app.jobs_screen
        table = jobs.table
        while table.row_count < args.jobs:
            await pilot.pause(0.02)
        await pilot.pause(0.2)
        print(
            f"  listing of {args.jobs} jobs loaded and drawn in {time.perf_counter() - t0:.2f} s",
            flush=True,
        )
        events0 = api.events
        rss_loaded = rss_mb()

        def row() -> int:
            return table.cursor_row

        async def keys(key: str, count: int) -> list[float]:
            out = []
            for _ in range(count):
                out.append(await press_to_frame(app, frames, key, moved(row)))
                await asyncio.sleep(0.01)
            return out

        worst = max(worst, report("cursor down (jobs)", await keys("down", args.samples)))
        worst = max(
            worst, report("page down (jobs)", await keys("pagedown", max(1, args.samples // 4)))
        )
        opens, backs = [], []
        for _ in range(max(1, args.samples // 10)):
            opened = await press_to_frame(
                app, frames, "enter", lambda: isinstance(app.screen, JobDetailScreen)
            )
            opens.append(opened)
            await pilot.pause(0.05)
            back = await press_to_frame(app, frames, "escape", lambda: app.screen is jobs)
            backs.append(back)
            await pilot.pause(0.05)
            await press_to_frame(app, frames, "down", moved(row))  # another job next time
        worst = max(worst, report("open a job (detail)", opens))
        worst = max(worst, report("back to the jobs", backs))
        await pilot.pause(args.soak)
        rss_events = rss_mb()
        rate = (api.events - events0) / (time.perf_counter() - t0)
        print(
            f"  feed events applied meanwhile: {api.events - events0} (~{rate:.0f}/s, target "
            f"{args.rate:.0f}/s); RSS {rss_start:.0f} MB at start, {rss_loaded:.0f} MB with "
            f"{args.jobs} jobs, {rss_events:.0f} MB after the events (target: bounded)",
            flush=True,
        )

        # a huge log followed live: keys stay fast while lines pour in, memory stays bounded
        table.select_job(1)
        t_log = time.perf_counter()
        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        while screen.log_view.total < min(50_000, args.log_lines):
            await pilot.pause(0.05)
        log_keys: list[float] = []
        rss_log = [rss_mb()]
        while screen.follow_state != "ended":
            view = screen.log_view

            def scroll(view: LogView = view) -> float:
                return view.scroll_y

            for key in ("up", "up", "down", "down"):
                log_keys.append(await press_to_frame(app, frames, key, moved(scroll)))
                await asyncio.sleep(0.01)
            rss_log.append(rss_mb())
            await pilot.pause(0.05)
            if time.perf_counter() - t_log > args.log_timeout:
                print("  log did not finish in time", flush=True)
                ok = False
                break
        took = time.perf_counter() - t_log
        total = screen.log_view.total
        print(
            f"  log of {total:,} lines followed live in {took:.1f} s "
            f"({total / took:,.0f} lines/s, sent at {args.log_rate:,.0f}/s); "
            f"kept {len(screen.log_view.buffer):,} lines",
            flush=True,
        )
        worst = max(worst, report("keys in the live log", log_keys))
        growth = max(rss_log) - rss_log[0]
        print(
            f"  RSS while following: {rss_log[0]:.0f} -> max {max(rss_log):.0f} MB "
            f"(+{growth:.0f} MB for {total:,} lines; target: bounded, < 100 MB growth)",
            flush=True,
        )
        ok = ok and total == args.log_lines and growth < 100
        api.closed = True
    await client.aclose()
    ok = ok and worst < TARGET_MS
    print(
        f"  worst p95 keypress-to-frame: {worst:.1f} ms (target < {TARGET_MS:.0f} ms)", flush=True
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print each figure beside its target; 0 when every target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs listed (10,000)")
    parser.add_argument("--rate", type=float, default=50.0, help="job events per second (50)")
    parser.add_argument("--log-lines", type=int, default=1_000_000, help="log lines (1,000,000)")
    parser.add_argument(
        "--log-rate", type=float, default=50_000.0, help="log lines per second (50,000)"
    )
    parser.add_argument("--samples", type=int, default=200, help="cursor-down samples (200)")
    parser.add_argument("--soak", type=float, default=3.0, help="extra seconds of events (3)")
    parser.add_argument("--log-timeout", type=float, default=90.0, help="give up on the log after")
    parser.add_argument("--full", action="store_true", help="accepted for `python -m bench`")
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
