"""Webhook benchmarks (issue 13), ratios against a baseline measured in the same run.

1,000 ``true`` jobs, each submitted with its own subscription (``webhook_url``), finish: every
delivery (3 per job: submitted, started, finished) must reach a real receiver on 127.0.0.1, and
job throughput (first submit until every job is inactive) must stay >= 0.9 of the same number of
jobs without webhooks on the same server, the two runs alternating (the machine is shared).

Run: ``python -m bench.bench_webhooks [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time

import httpx

from ._common import _stop, flux_restful, free_port, wait_http

_RECEIVER = """
import sys
from sanic import Sanic
from sanic.response import empty, text
app = Sanic("receiver")
app.ctx.count = 0
@app.post("/hook")
async def hook(request):
    request.app.ctx.count += 1
    return empty()
@app.get("/count")
async def count(request):
    return text(str(request.app.ctx.count))
app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False, motd=False)
"""


def _received(receiver: str) -> int:
    return int(httpx.get(receiver + "/count").text)


async def _submit_all(url: str, count: int, webhook_url: str | None, concurrency: int) -> None:
    params = {"command": "true"}
    if webhook_url:
        params["webhook_url"] = webhook_url
    left = list(range(count))
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def worker() -> None:
            while left:
                left.pop()
                r = await client.post("/v1/jobs/submit", params=params)
                r.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def _run(url: str, count: int, webhook_url: str | None) -> float:
    """Jobs per second from the first submit until every job is inactive."""
    start = time.perf_counter()
    asyncio.run(_submit_all(url, count, webhook_url, 8))
    with httpx.Client(base_url=url, timeout=60) as client:
        while client.get("/v1/jobs", params={"state": "active", "limit": 1}).json()["jobs"]:
            time.sleep(0.01)
    return count / (time.perf_counter() - start)


def throughput(count: int, rounds: int) -> None:
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(base_url + "/count", receiver)
        hook = base_url + "/hook"
        env = {"FLUX_WEBHOOK_ALLOW": "loopback"}
        with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
            from pathlib import Path

            with flux_restful(Path(tmp), ("--cores-per-node", "8"), env) as (url, _):
                _run(url, 50, None)  # warm up
                plain = hooked = 0.0
                expected = _received(base_url)
                for _ in range(rounds):
                    plain = max(plain, _run(url, count, None))
                    hooked = max(hooked, _run(url, count, hook))
                    expected += 3 * count
                started = time.perf_counter()
                while _received(base_url) < expected and time.perf_counter() - started < 300:
                    time.sleep(0.05)
                drained = time.perf_counter() - started
                got = _received(base_url)
    finally:
        _stop(receiver)
    print(
        f"{'deliveries received':34s} {got:6d} of {expected} "
        f"({'all' if got == expected else 'MISSING ' + str(expected - got)}; "
        f"the last {drained:.1f} s after the jobs ended)"
    )
    print(
        f"{f'{count:,} true jobs, webhook_url each':34s} {hooked:7.1f} jobs/s, without webhooks "
        f"{plain:7.1f} jobs/s, ratio {hooked / plain:.2f} (target >= 0.90)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of 300 jobs")
    args = parser.parse_args(argv)
    if args.quick:
        throughput(300, 1)
    else:
        throughput(1_000, 2)


if __name__ == "__main__":
    main()
