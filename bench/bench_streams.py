"""Live stream benchmarks: latency, throughput against ``cat``, and memory of idle followers.

Starts a real server (``flux-restful serve``, local executor, access log off) and measures:

* latency from a line written by a job (its ``time.time()`` is the line) to its arrival at a
  websocket client, p50 and p99, with 1, 100 and 1,000 concurrent followers (target: p99 < 50 ms
  at 100 followers);
* throughput: a job printing N short lines as fast as it can, delivered complete to 10 followers
  (resuming with ``since`` when the hub cuts one off), against ``cat`` of the same output to a
  pipe (target ratio >= 0.5);
* server RSS with 1,000 idle followers of a sleeping job (target < 300 MB);
* the websocket adapter's one-write fast path against Sanic's public ``ws.send()``, on a bare
  Sanic server sending pre-encoded one-line frames (``bench._bare_ws``);
* batched throughput (``batch=true``): one follower of an N-line job (target >= 1,000,000
  lines/s), and 10 followers each against that bare server sending the same pre-encoded batch
  frames to 10 followers (target ratio >= 0.5); unbatched followers are the throughput line.

Clients run in this process, on the same cores as the server, so the numbers include the cost of
decoding every frame on the client side. Run: ``python -m bench.bench_streams [--full]``; the
default is a short run (200,000 lines, 20 latency samples); ``--full`` uses the issue's sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import websockets

from ._bare_ws import ADAPTER_LINES
from ._common import flux_restful, free_port, wait_http


def _ws(url: str, path: str) -> str:
    return "ws" + url.removeprefix("http") + path


async def _submit(client: httpx.AsyncClient, argv: list[str], **fields: Any) -> int:
    response = await client.post("/v1/jobs/submit", json={"command": argv, **fields})
    response.raise_for_status()
    return int(response.json()["id"])


async def _connect_all(urls: list[str]) -> list[Any]:
    conns: list[Any] = []
    for start in range(0, len(urls), 100):  # connect in waves: no SYN backlog overflow
        conns += await asyncio.gather(
            *(
                websockets.connect(u, max_queue=None, max_size=None, open_timeout=60)
                for u in urls[start : start + 100]
            )
        )
    return conns


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(url: str, followers: int, lines: int) -> tuple[float, float, int]:
    """p50 and p99 (ms) of write-to-receive latency over every follower and line."""
    script = (
        "import time, sys\n"
        "time.sleep(float(sys.argv[2]))\n"
        "for i in range(int(sys.argv[1])):\n"
        "    print(repr(time.time()), flush=True)\n"
        "    time.sleep(0.05)\n"
    )
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        settle = 1.0 + followers / 250
        job = await _submit(client, [sys.executable, "-c", script, str(lines), str(settle)])
        conns = await _connect_all([_ws(url, f"/v1/jobs/{job}/stream?types=output")] * followers)
        samples: list[float] = []
        # The clients share this process: its collector walking 1,000 connections' objects
        # (pauses of 100 ms and more, measured with gc.callbacks) would be counted as the
        # server's latency. Leave what exists now out of it, and collect the young rarely.
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(100_000, 50, 100)

        async def follow(ws: Any) -> None:
            async for message in ws:
                now = time.time()
                frame = json.loads(message)
                if frame["type"] == "output":
                    samples.append((now - float(frame["data"])) * 1000)
                elif frame["type"] == "end":
                    break

        try:
            await asyncio.gather(*(follow(ws) for ws in conns))
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
        await asyncio.gather(*(ws.close() for ws in conns))
    return _pct(samples, 0.5), _pct(samples, 0.99), len(samples)


class _Counter:
    """Counts the output frames of one job stream, checking order and completeness cheaply.

    The throughput clients run in the benchmark's process, on the same two cores as the server,
    so a full client (a websocket library parsing each message, ``json.loads`` per frame) would
    measure the client. This one reads the websocket by hand: it walks the frame headers (the
    server sends unmasked text frames), counts output frames by their ``"type":"output"``
    prefix, decodes only the rare other frames with ``json.loads``, and checks that output
    ``seq`` values only grow (no repeat). The caller checks completeness: the count, and the
    first and last output ``seq`` (the benchmark job's lines are consecutive entries).
    """

    def __init__(self, since: int) -> None:
        self.count = 0
        self.seq = since
        self.first = 0
        self.pongs: list[bytes] = []
        """Pong frames owed to the server's keepalive pings (masked, as a client sends)."""
        self.outcome: dict[str, Any] | None = None

    def feed(self, buf: bytes) -> int:
        """Consume the complete frames at the start of ``buf``; return the bytes used."""
        pos, size = 0, len(buf)
        count, seq = self.count, self.seq
        while pos + 2 <= size:
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if pos + 4 > size:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if pos + 10 > size:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + head + length
            if end > size:
                break
            opcode = buf[pos] & 0x0F
            start = pos + head
            pos = end
            if opcode != 1:
                if opcode == 8:  # close
                    self.outcome = self.outcome or {"type": "closed"}
                elif opcode == 9:  # ping: answer, or the server's keepalive closes the stream
                    payload = buf[start:end]
                    self.pongs.append(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
                continue
            if buf.startswith(b'{"type":"batch","entries":[{"seq":', start):
                # A batch of output frames with consecutive seqs (the job prints nothing else
                # meanwhile, and the stream has types=output): check its first and last seq and
                # that it holds that many output frames.
                head = start + 34
                first = int(buf[head : buf.find(b",", head, end)])
                tail = buf.rfind(b'{"seq":', start, end) + 7
                last = int(buf[tail : buf.find(b",", tail, end)])
                if first != seq + 1 and count:
                    raise AssertionError(f"batch from seq {first} after {seq}")
                n = buf.count(b'"type":"output"', start, end)
                if n != last - first + 1:
                    raise AssertionError(f"batch {first}..{last} holds {n} output frames")
                if not count:
                    self.first = first
                seq = last
                count += n
                continue
            # {"seq":N,"type":"output",...: find the comma after the number.
            comma = buf.find(b",", start + 7, end)
            if buf.startswith(b'"type":"output"', comma + 1):
                number = int(buf[start + 7 : comma])
                if number <= seq:
                    raise AssertionError(f"seq {number} after {seq}")
                if not count:
                    self.first = number
                seq = number
                count += 1
                continue
            frame = json.loads(buf[start:end])
            if frame["type"] in ("end", "lagged", "shutdown"):
                self.outcome = self.outcome or frame
        self.count, self.seq = count, seq
        return pos


async def _raw_follow(url: str, path: str, counter: _Counter) -> None:
    """Follow one websocket stream with a minimal client until its final frame."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"no websocket upgrade: {head!r}")
    buf = b""
    try:
        while counter.outcome is None:
            chunk = await reader.read(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed without a final frame")
            data = buf + chunk if buf else chunk
            buf = data[counter.feed(data) :]
            if counter.pongs:
                writer.write(b"".join(counter.pongs))
                counter.pongs.clear()
    finally:
        writer.close()


async def throughput(
    url: str, lines: int, followers: int, *, batch: bool = False
) -> tuple[float, float, int]:
    """Lines/s delivered to every follower (job start to last end), and resumes needed."""
    script = "import sys\nsys.stdout.writelines(f'line {i}\\n' for i in range(int(sys.argv[1])))\n"
    resumes = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        blocker = await _submit(client, ["sleep", "1"], cores_per_task=4)
        job = await _submit(client, [sys.executable, "-c", script, str(lines)])
        path = f"/v1/jobs/{job}/stream?types=output" + ("&batch=true" if batch else "")

        async def follow() -> int:
            nonlocal resumes
            counter = _Counter(0)
            while True:
                counter.outcome = None
                await _raw_follow(url, f"{path}&since={counter.seq}", counter)
                frame = counter.outcome
                assert frame is not None
                if frame["type"] == "end":
                    assert counter.seq - counter.first + 1 == counter.count, vars(counter)
                    return counter.count
                if frame["type"] in ("lagged", "shutdown"):
                    assert frame["since"] == counter.seq, (frame, counter.seq)
                    resumes += 1
                else:
                    raise RuntimeError(f"stream ended with {frame}")

        start = time.perf_counter()
        counts = await asyncio.gather(*(follow() for _ in range(followers)))
        elapsed = time.perf_counter() - start
        del blocker
    assert all(c == lines for c in counts), counts  # and each counter checked every seq
    # The job only starts when the 1 s blocker ends; time from its start.
    return lines / max(1e-9, elapsed - 1.0), elapsed, resumes


async def bare_rate(url: str, route: str, lines: int, followers: int) -> float:
    """Lines/s the bare server's ``route`` delivers to each of ``followers`` at once."""

    async def follow() -> None:
        counter = _Counter(0)
        await _raw_follow(url, route, counter)
        assert counter.count == lines and counter.seq == lines, vars(counter)

    start = time.perf_counter()
    await asyncio.gather(*(follow() for _ in range(followers)))
    return lines / (time.perf_counter() - start)


@contextlib.contextmanager
def bare_ws(lines: int) -> Iterator[str]:
    """Run ``bench._bare_ws`` (pre-encoded frames of ``lines`` lines); yield its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._bare_ws", str(port), str(lines)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/ready", proc, timeout=120)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def cat_rate(lines: int) -> float:
    """Lines/s of ``cat`` of the same output to a pipe (best of 3)."""
    with tempfile.NamedTemporaryFile("w", suffix=".out") as f:
        f.writelines(f"line {i}\n" for i in range(lines))
        f.flush()
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            out = subprocess.run(["cat", f.name], stdout=subprocess.PIPE, check=True).stdout
            best = min(best, time.perf_counter() - start)
            assert out.count(b"\n") == lines
    return lines / best


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def idle_rss(url: str, pid: int, followers: int) -> tuple[float, float]:
    """Server RSS (MB) before and with ``followers`` idle websocket followers of one job."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        job = await _submit(client, ["sleep", "600"])
        before = _rss_mb(pid)
        conns = await _connect_all([_ws(url, f"/v1/jobs/{job}/stream")] * followers)
        await asyncio.sleep(1.0)
        during = _rss_mb(pid)
        await asyncio.gather(*(ws.close() for ws in conns))
        await client.post(f"/v1/jobs/{job}/cancel")
    return before, during


async def _run(args: argparse.Namespace) -> None:
    lines = args.lines
    with bare_ws(lines) as bare:
        single = min(lines, ADAPTER_LINES)
        send = await bare_rate(bare, "/send", single, 1)
        fast = await bare_rate(bare, "/fast", single, 1)
        print(
            f"adapter  1 follower, {single} one-line frames: ws.send() {send:,.0f} lines/s, "
            f"one write per slice (sanic_ws.write_frames) {fast:,.0f} lines/s; "
            f"ratio {fast / send:.2f}"
        )
        bare1 = await bare_rate(bare, "/batch", lines, 1)
        bare10 = await bare_rate(bare, "/batch", lines, 10)
        print(
            f"bare  a bare Sanic handler sending the same pre-encoded batch frames: "
            f"{bare1:,.0f} lines/s to 1 follower, {bare10:,.0f} lines/s to each of 10"
        )
    serve_args = ("--cores-per-node", "4")
    with flux_restful(args=serve_args, inherit_flux_env=False) as (url, proc):
        # Memory first, on a fresh server (streaming leaves caches and freed arenas behind).
        before, during = await idle_rss(url, proc.pid, 1000)
        print(f"memory  server RSS {before:.1f} MB idle, {during:.1f} MB with 1000 idle followers")
        for followers in (1, 100, 1000):
            p50, p99, n = await latency(url, followers, args.latency_lines)
            print(
                f"latency  followers={followers:5d}  p50={p50:7.2f} ms  p99={p99:7.2f} ms  "
                f"({n} samples)"
            )
        rate, elapsed, resumes = await throughput(url, lines, 1, batch=True)
        print(
            f"batched  {lines} lines to 1 batched follower: {rate:,.0f} lines/s "
            f"({elapsed:.1f} s, {resumes} lagged resumes); target >= 1,000,000; "
            f"ratio to bare {rate / bare1:.2f}"
        )
        rate, elapsed, resumes = await throughput(url, lines, 10, batch=True)
        print(
            f"batched  {lines} lines to 10 batched followers: {rate:,.0f} lines/s each "
            f"({elapsed:.1f} s, {resumes} lagged resumes); ratio to bare {rate / bare10:.2f} "
            f"(target >= 0.5)"
        )
        rate, elapsed, resumes = await throughput(url, lines, 10)
        cat = cat_rate(lines)
        print(
            f"throughput  {lines} lines to 10 unbatched followers: {rate:,.0f} lines/s "
            f"({elapsed:.1f} s, {resumes} lagged resumes); cat to a pipe: {cat:,.0f} lines/s; "
            f"ratio {rate / cat:.4f}"
        )
    if args.baseline:
        # The same measurement on another checkout's server (e.g. the last release), same run.
        env = {"PYTHONPATH": f"{args.baseline}/backend:{args.baseline}/sdk"}
        with flux_restful(args=serve_args, env=env, inherit_flux_env=False) as (url, proc):
            base, elapsed, resumes = await throughput(url, lines, 10)
        print(
            f"baseline  {lines} lines to 10 unbatched followers of {args.baseline}: "
            f"{base:,.0f} lines/s ({elapsed:.1f} s); this tree / baseline {rate / base:.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks and print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's sizes (1,000,000 lines)")
    parser.add_argument(
        "--baseline", metavar="DIR", help="also measure unbatched followers of DIR's server"
    )
    args = parser.parse_args(argv)
    args.lines = 1_000_000 if args.full else 200_000
    args.latency_lines = 100 if args.full else 20
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
