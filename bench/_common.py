"""Shared pieces of the benchmarks: real servers on loopback, seeded stores, and a load driver."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx


async def subprocess_rate(n: int, concurrency: int) -> float:
    """``asyncio.create_subprocess_exec("true")`` run ``n`` times, ``concurrency`` at a time, per
    second: the baseline of the benchmarks that run jobs."""
    queue = list(range(n))

    async def worker() -> None:
        while queue:
            queue.pop()
            proc = await asyncio.create_subprocess_exec("true")
            await proc.wait()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0, output: IO[bytes] | None = None
) -> None:
    """Wait until ``url`` answers; fail, with ``output``'s text if given, if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = ""
            if output is not None:
                output.seek(0)
                text = ":\n" + output.read().decode(errors="replace")
            raise RuntimeError(f"server exited with {proc.returncode}{text}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


NO_LIMITS = {"FLUX_SUBMIT_RATE": "off", "FLUX_READ_RATE": "off", "FLUX_MAX_STREAMS": "0"}
"""Environment that turns the per-caller rate limits off (docs/operations.md)."""


@contextmanager
def flux_restful(
    state_dir: Path | None = None,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    *,
    inherit_flux_env: bool = True,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``flux-restful serve`` on a free port; yield its URL and process.

    ``env`` is added to this process's environment, from which ``inherit_flux_env=False`` first
    drops every ``FLUX_*`` variable (auth, mode and executor settings of the caller's shell).
    """
    port = free_port()
    tmp = None
    if state_dir is None:
        tmp = tempfile.mkdtemp(prefix="bench-state-")
        state_dir = Path(tmp)
    cmd = [
        sys.executable,
        "-m",
        "flux_restful_server",
        "serve",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--log-level",
        "warning",
        *args,
    ]
    base = {k: v for k, v in os.environ.items() if inherit_flux_env or not k.startswith("FLUX_")}
    # The benchmarks measure the server at full tilt: no rate limits unless a bench sets them.
    base = {**NO_LIMITS, **base}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=errors, env={**base, **(env or {})}
        )
        try:
            wait_http(url + "/v1/auth", proc, output=errors)
            yield url, proc
        finally:
            _stop(proc)
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)


_BARE = """
import sys, json
from sanic import Sanic
from sanic.response import raw
body = open(sys.argv[2], "rb").read()
app = Sanic("bare")
@app.get("/<path:path>")
async def handler(request, path):
    return raw(body, content_type="application/json")
app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False, motd=False)
"""


@contextmanager
def bare_sanic(body: bytes) -> Iterator[str]:
    """Run a bare Sanic handler that answers every GET with ``body``; yield its URL."""
    with bare_sanic_process(body) as (url, _):
        yield url


@contextmanager
def bare_sanic_process(body: bytes) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`bare_sanic`, yielding its process too."""
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(body)
        f.flush()
        proc = subprocess.Popen(
            [sys.executable, "-c", _BARE, str(port), f.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(url + "/ready", proc)
            yield url, proc
        finally:
            _stop(proc)


def wrk(url: str, seconds: float = 5.0, connections: int = 16, threads: int = 1) -> float:
    """Requests per second that ``wrk`` measures against ``url``.

    Raises:
        ToolMissing: wrk is not on PATH.
    """
    _need_wrk()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, int(seconds))}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match or "Non-2xx" in out:
        raise RuntimeError(f"wrk failed or saw errors:\n{out}")
    return float(match.group(1))


_SUBMIT_LUA = """
wrk.method = "POST"
wrk.path = "/v1/jobs/submit?command=true"
"""


class ToolMissing(RuntimeError):
    """A program a benchmark needs is not installed (``python -m bench`` reports it and goes on)."""


def _need_wrk() -> None:
    if shutil.which("wrk") is None:
        raise ToolMissing(
            "wrk is not on PATH (Debian: apt-get install wrk); the load is sent with it, a C "
            "client, so the load generator's CPU stays out of the figures on a 2-core machine"
        )


def wrk_submit(url: str, seconds: float, connections: int = 8) -> tuple[float, int]:
    """Submit ``true`` jobs with ``wrk`` (one thread) for ``seconds``: requests/s and count.

    Raises:
        ToolMissing: wrk is not on PATH.
    """
    _need_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_SUBMIT_LUA)
        script.flush()
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, int(seconds))}s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"submits failed:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rate, count


def seed_jobs(state_dir: Path, count: int, *, logs: bool = True) -> list[int]:
    """Fill a fresh state dir with ``count`` finished jobs (and their logs), as the server would."""
    from flux_restful_server.domain.ids import FluidGenerator
    from flux_restful_server.domain.record import search_text
    from flux_restful_server.executors.local.joblog import event_record, output_record
    from flux_restful_server.executors.local.store import Store

    (state_dir / "jobs").mkdir(parents=True, exist_ok=True)
    store = Store(state_dir / "flux-restful.db")
    epoch = time.time() - 86400
    store.set_meta("epoch", repr(epoch))
    gen = FluidGenerator(epoch)
    ids = []
    with store.transaction():
        for i in range(count):
            job_id = gen.next()
            t = time.time()
            names = ["hostname", "sleep", "lmp", "python", "echo"]
            row = {
                "id": job_id,
                "user": f"user{i % 7}",
                "userid": os.getuid(),
                "name": names[i % len(names)],
                "state": 64,
                "result": 1 if i % 5 else 2,
                "urgency": 16,
                "priority": 16,
                "t_submit": t,
                "t_depend": t,
                "t_run": t,
                "t_cleanup": t + 0.01,
                "t_inactive": t + 0.02,
                "ntasks": 1,
                "ncores": 1,
                "ngpus": 0,
                "nnodes": 1,
                "ranks": "0",
                "nodelist": "node0",
                "duration": 0.0,
                "cwd": "/tmp",
                "success": 1 if i % 5 else 0,
                "waitstatus": 0 if i % 5 else 256,
                "exception_occurred": 0,
                "spec": json.dumps({"argv": ["true"]}),
            }
            row["search_text"] = search_text(row)
            store.insert_job(row)
            records = [event_record(n, {}, t) for n in ("submit", "validate", "depend")]
            records.append(output_record(b"o", 0, b"hello", t))
            records.append(event_record("clean", {}, t))
            for seq, name in enumerate(("submit", "validate", "depend", "clean"), start=1):
                store.add_event(job_id, seq if seq < 4 else 5, name, t, {})
            if logs:
                (state_dir / "jobs" / f"{job_id}.log").write_bytes(b"".join(records))
            ids.append(job_id)
    store.close()
    return ids


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident memory of a process, KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
