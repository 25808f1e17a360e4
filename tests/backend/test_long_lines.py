"""Issue 14, findings 6 and 7: long lines stream live; no-newline output costs bounded memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx

from flux_restful_server.executors.local.output import LINE_MAX
from tests.conftest import Server, wait_for

from .conftest import Api
from .test_supervisor_crash import supervisor_pid


def sse_frames(response: httpx.Response) -> Iterator[dict[str, object]]:
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])


def test_a_line_over_256_kib_streams_live(server: Server, http: httpx.Client, tmp_path: Path):
    """The finding's repro: a 300 kB line, then more lines while the job still runs."""
    api = Api(http)
    begin, go = tmp_path / "begin", tmp_path / "go"
    script = (
        f"while [ ! -e {begin} ]; do sleep 0.02; done; "
        "head -c 300000 /dev/zero | tr '\\0' x; echo; echo after; "
        f"while [ ! -e {go} ]; do sleep 0.02; done; echo done"
    )
    job = api.submit(command=f"sh -c {json.dumps(script)}")
    stdout = ""
    with http.stream(
        "GET", f"/v1/jobs/{job}/stream", headers={"Accept": "text/event-stream"}, timeout=20
    ) as response:
        frames = sse_frames(response)
        next(frames)  # the follower is subscribed: what comes next is live
        begin.touch()
        for frame in frames:
            if frame["type"] == "output":
                data = str(frame["data"])
                assert len(data) <= LINE_MAX
                stdout += data
                if stdout.endswith("after\n"):
                    break
        # Live, while the job still runs: the long line (in pieces), then the next line.
        assert stdout == "x" * 300_000 + "\nafter\n"
        assert api.info(job)["state"] == "RUN"
        lines = api.output(job)
        assert "".join(lines) == stdout
        assert len(lines) == 300_000 // LINE_MAX + 2  # pieces without newline, then the rest
        go.touch()
        for frame in frames:
            if frame["type"] == "end":
                break
            if frame["type"] == "output":
                stdout += str(frame["data"])
    assert stdout.endswith("after\ndone\n")
    assert api.wait_done(job)["result"] == "COMPLETED"


def vm_peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_output_without_newlines_costs_bounded_memory(server: Server, http: httpx.Client):
    api = Api(http)
    pid = supervisor_pid(api)
    # Before the fix: 60 s and 205 MB of supervisor memory (it copied the growing line on
    # every read). Now it is split into LINE_MAX pieces as it arrives.
    big = api.submit(command="head -c 100000000 /dev/zero")
    assert api.wait_done(big, timeout=60)["result"] == "COMPLETED"
    peak_mib = vm_peak_rss_kib(pid) / 1024
    assert peak_mib < 64, f"supervisor peak RSS {peak_mib:.0f} MiB"
    # The pieces join to exactly what the job wrote.
    small = api.submit(command="sh -c \"head -c 1000000 /dev/zero | tr '\\0' y\"")
    assert api.wait_done(small)["result"] == "COMPLETED"
    lines = api.output(small)
    assert "".join(lines) == "y" * 1_000_000
    assert all(len(line) <= LINE_MAX for line in lines)
    wait_for(lambda: api.info(big)["state"] == "INACTIVE")
