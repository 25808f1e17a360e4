"""Submit-side benchmarks (issue 12), each a ratio against a baseline measured in the same run.

1. Local executor: one batch of 1,000 ``true`` jobs (``POST /v1/jobs/batch``), from the submit
   until every job is inactive, vs ``asyncio.create_subprocess_exec("true")`` run 1,000 times
   with the same concurrency (the server's cores) (target: >= 0.90).
2. Flux executor: a batch of 1,000 jobs accepted (the answer with 1,000 ids) vs native pipelined
   ``flux.job.submit_async`` of the same 1,000 jobspecs, built beforehand (target: >= 0.80).
3. Flux executor: single HTTP submits from 8 concurrent clients (``wrk``) vs 8 threads each
   calling ``flux.job.submit`` in a loop, each with its own handle (target: >= 0.80).

Measured (docs/architecture.md, "A local batch of 1,000 jobs"): the local batch at 0.87-0.96 of
the baseline (median 0.91) on one quiet 2-core machine, 0.54-0.72 on a second and 0.76-0.89 on
a third (interleaved medians 0.83-0.85) and 1.01-1.08 on a fourth (nine runs), when it arrives
at an idle server; 0.29-0.97 when it finds no spare files yet (file creation).
The CPU line shows why on the third: both sides keep the cores full, and ours spends 1.46 s a
batch against the baseline's 1.19 s (CPU ratio 0.82), the tasks' own 0.74 s being the same.

Run: ``python -m bench submit`` (the local half), and inside Flux for the flux half:
``flux start --test-size=4 python -m bench submit``. ``--profile`` records where the server's
time goes during the flux batch with py-spy (``bench-submit-profile.txt``, collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from ._common import flux_restful, subprocess_rate, wrk_submit

BATCH = 1000
CONCURRENCY = 8


def _wait_inactive(client: httpx.Client, last: int | None = None) -> None:
    """Wait until no job is active.

    With ``last`` (the batch's last job: first come, first served, it starts last), first follow
    its state stream to its end, so the wait ends when the jobs do, not up to a poll interval
    later; then poll for any job still ending.
    """
    if last is not None:
        sse = {"Accept": "text/event-stream"}
        with client.stream("GET", f"/v1/jobs/{last}/stream?types=state", headers=sse) as stream:
            for _ in stream.iter_lines():
                pass  # the server ends the stream once the job is inactive
    while client.get("/v1/jobs", params={"state": "active", "limit": 1}).json()["jobs"]:
        time.sleep(0.02)


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU seconds ``pid`` used (``children``: those of the children it has reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if children else 11  # cutime, cstime or utime, stime
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def _supervisor_pid(state_dir: Path) -> int | None:
    """The pid of the job supervisor of ``state_dir`` (it runs in a session of its own)."""
    wanted = b"executors.local.supervisor\0" + os.fsencode(state_dir) + b"\0"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if wanted in (entry / "cmdline").read_bytes():
                    return int(entry.name)
    return None


def _settle(pid: int, timeout: float = 30.0) -> None:
    """Wait until the server takes no CPU (its spare files are made, in idle time).

    Each round then starts from an idle server, and the baseline does not share the cores with
    work the server does between batches. Without ``/proc``, nothing is waited for.
    """
    if not Path(f"/proc/{pid}/stat").exists():
        return
    deadline = time.monotonic() + timeout
    used = _cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        used, before = _cpu_seconds(pid), used
        if used - before <= 0.01:  # at most one clock tick in a quarter of a second
            return


def _baseline_round() -> tuple[float, tuple[float, float]]:
    """One baseline run: its rate, and the CPU seconds of this process and of the ``true``s."""
    before = os.times()
    rate = asyncio.run(subprocess_rate(BATCH, CONCURRENCY))
    after = os.times()
    parent = after.user + after.system - before.user - before.system
    tasks = (
        after.children_user + after.children_system
        - before.children_user - before.children_system
    )  # fmt: skip
    return rate, (parent, tasks)


def _cpu_line(label: str, parts: dict[str, list[float]]) -> tuple[str, float]:
    """``label: 1.49 s (server 0.50, ...)`` from each part's median over rounds, and the total."""
    medians = {name: statistics.median(values) for name, values in parts.items()}
    total = sum(medians.values())
    detail = ", ".join(f"{name} {value:.2f}" for name, value in medians.items())
    return f"{label} {total:.2f} s ({detail})", total


def local_batch(rounds: int) -> None:
    """Rounds alternate with the baseline, each keeping its best: the machine is shared.

    The first batch finds no spare files for its jobs (the stock grows to the largest batch seen,
    in idle time: ``executors/local/spares.py``), so it is also shown alone.

    Both sides also count the CPU a batch costs (medians over the rounds, from ``/proc``): the
    server, the job supervisor and the tasks it reaped, against the baseline's own process and
    its ``true``s. While both keep the cores full, the rate ratio comes to the CPU ratio (the
    baseline's CPU over ours), however the work is scheduled; only a baseline that leaves cores
    idle lets the rate ratio pass it.
    """
    ours = base = first = 0.0
    jobs = [{"command": "true"}] * BATCH
    ours_cpu: dict[str, list[float]] = {"server": [], "supervisor": [], "tasks": []}
    base_cpu: dict[str, list[float]] = {"its process": [], "tasks": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-state-") as state,
        flux_restful(Path(state), args=("--cores-per-node", str(CONCURRENCY))) as (url, proc),
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        client.post("/v1/jobs/batch", json=jobs[:50]).raise_for_status()  # warm up
        _wait_inactive(client)
        supervisor = _supervisor_pid(Path(state))
        for _ in range(max(rounds, 2)):
            _settle(proc.pid)
            used = _batch_cpu(proc.pid, supervisor)
            start = time.perf_counter()
            answer = client.post("/v1/jobs/batch", json=jobs)
            answer.raise_for_status()
            assert answer.json()["accepted"] == BATCH
            _wait_inactive(client, last=answer.json()["ids"][-1])
            rate = BATCH / (time.perf_counter() - start)
            if first:  # the first batch makes files the others find ready: not counted
                now = _batch_cpu(proc.pid, supervisor)
                for name, a, b in zip(ours_cpu, used, now, strict=True):
                    ours_cpu[name].append(b - a)
            first = first or rate
            ours = max(ours, rate)
            _settle(proc.pid)
            rate, (parent, tasks) = _baseline_round()
            base = max(base, rate)
            base_cpu["its process"].append(parent)
            base_cpu["tasks"].append(tasks)
    print(
        f"{'local batch of 1,000 true':34s} {ours:8.1f} jobs/s submit->inactive, "
        f"create_subprocess_exec x{CONCURRENCY}: {base:8.1f}/s, ratio {ours / base:.2f} "
        f"(target >= 0.90); first batch (no spare files yet) {first:.1f}/s, "
        f"ratio {first / base:.2f}"
    )
    if supervisor is None or not ours_cpu["server"]:
        print("  CPU per batch: not counted (no /proc, or the supervisor was not found)")
        return
    mine, our_total = _cpu_line("ours", ours_cpu)
    theirs, base_total = _cpu_line("baseline", base_cpu)
    print(
        f"  CPU per batch: {mine}; {theirs}; CPU ratio {base_total / our_total:.2f} "
        "(the rate ratio while both keep the cores full)"
    )


def _batch_cpu(server: int, supervisor: int | None) -> tuple[float, float, float]:
    """CPU seconds so far of the server, the supervisor, and the tasks the supervisor reaped."""
    if supervisor is None:
        return (0.0, 0.0, 0.0)
    return (
        _cpu_seconds(server),
        _cpu_seconds(supervisor),
        _cpu_seconds(supervisor, children=True),
    )


def _native_jobspecs(count: int) -> list[str]:
    from flux.job import JobspecV1

    specs = []
    for _ in range(count):
        jobspec = JobspecV1.from_command(["true"])
        jobspec.environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        jobspec.cwd = os.getcwd()
        specs.append(jobspec.dumps())
    return specs


def _native_batch(count: int) -> float:
    import flux
    import flux.job

    handle = flux.Flux()
    specs = _native_jobspecs(count)
    start = time.perf_counter()
    futures = [flux.job.submit_async(handle, spec) for spec in specs]
    for future in futures:
        future.get_id()
    return count / (time.perf_counter() - start)


def _native_single(seconds: float, callers: int) -> float:
    import flux
    import flux.job

    spec = _native_jobspecs(1)[0]
    counts = [0] * callers
    stop = time.monotonic() + seconds

    def caller(i: int) -> None:
        handle = flux.Flux()
        while time.monotonic() < stop:
            flux.job.submit(handle, spec)
            counts[i] += 1

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def _profile(pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    if shutil.which("py-spy") is None:
        print("py-spy is not installed: no profile")
        return None
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--duration",
         str(int(seconds)), "--rate", "250", "--output", "bench-submit-profile.txt"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def flux_side(rounds: int, seconds: float, profile: bool) -> None:
    from flux_restful_server.executors.flux import flux_available

    ok, reason = flux_available()
    if not ok:
        print(f"flux half skipped: {reason}")
        return
    jobs = [{"command": "true"}] * BATCH
    with flux_restful(args=("--executor", "flux")) as (url, proc):
        with httpx.Client(base_url=url, timeout=120) as client:
            client.post("/v1/jobs/batch", json=jobs[:50]).raise_for_status()  # warm up
            ours = base = 0.0
            spy = _profile(proc.pid, rounds * 4 + 2) if profile else None
            for _ in range(rounds):
                start = time.perf_counter()
                answer = client.post("/v1/jobs/batch", json=jobs)
                answer.raise_for_status()
                assert answer.json()["accepted"] == BATCH
                ours = max(ours, BATCH / (time.perf_counter() - start))
                base = max(base, _native_batch(BATCH))
            if spy is not None:
                spy.wait()
                _summarise(Path("bench-submit-profile.txt"))
        print(
            f"{'flux batch of 1,000 accepted':34s} {ours:8.1f} jobs/s, native submit_async "
            f"pipelined: {base:8.1f}/s, ratio {ours / base:.2f} (target >= 0.80)"
        )
        single = native = 0.0
        for _ in range(rounds):
            single = max(single, wrk_submit(url, seconds)[0])
            native = max(native, _native_single(seconds, CONCURRENCY))
        print(
            f"{'flux single submits, 8 clients':34s} {single:8.1f} jobs/s, 8 native "
            f"flux.job.submit callers: {native:8.1f}/s, ratio {single / native:.2f} "
            "(target >= 0.80)"
        )


def _summarise(path: Path, top: int = 12) -> None:
    """Print the functions holding the most samples (self time) of a py-spy raw profile."""
    if not path.exists():
        return
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1] if frames else "?"
        own[leaf] = own.get(leaf, 0) + int(count)
        total += int(count)
    print(f"server profile during the flux batches ({total} samples), most self time:")
    for name, samples in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * samples / max(total, 1):5.1f}%  {name[:110]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round each")
    parser.add_argument("--profile", action="store_true", help="py-spy the flux batch")
    args, _ = parser.parse_known_args(argv)
    rounds = 1 if args.quick else 3
    local_batch(rounds)
    flux_side(rounds, 3.0 if args.quick else 5.0, args.profile)


if __name__ == "__main__":
    main()
