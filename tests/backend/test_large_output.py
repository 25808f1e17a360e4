"""Issue 14, finding 8: reading a large output neither holds it in memory nor stalls the server."""

from __future__ import annotations

import html
import re
import threading
import time
from pathlib import Path

import httpx
import orjson

from tests.conftest import Server

from .conftest import Api

LINES = 1_000_000
"""``seq`` lines: 7 MB of output, a 27 MB log, 70 MB of labelled JSON. Before the fix the whole
output was built and encoded at once on the event loop: for twice this, the server's peak memory
reached 640 MB (1.26 GB with labels) and other requests waited 13-20 s on a loaded machine."""


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_other_requests_answer_while_a_large_output_is_read(
    server: Server, http: httpx.Client
) -> None:
    api = Api(http)
    job = api.submit(command=f"seq {LINES}")
    assert api.wait_done(job, timeout=120)["result"] == "COMPLETED"
    assert server.proc is not None
    before = peak_rss_mib(server.proc.pid)
    bodies: dict[str, bytes] = {}

    def read(labels: str) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as reader:
            response = reader.get(f"/v1/jobs/{job}/output", params={"labels": labels})
            assert response.status_code == 200
            bodies[labels] = response.content

    slowest = 0.0
    answered = 0
    for labels in ("true", "false"):
        thread = threading.Thread(target=read, args=(labels,))
        thread.start()
        while thread.is_alive():
            t0 = time.monotonic()
            assert http.get(f"/v1/jobs/{job}").status_code == 200
            slowest = max(slowest, time.monotonic() - t0)
            answered += 1
            time.sleep(0.02)
        thread.join()
    assert answered >= 10  # the reads took long enough for requests to overlap them
    assert slowest < 1.0, f"a request waited {slowest:.2f} s while the output was read"
    # Complete and correct, as one valid JSON document each.
    expected = [f"{n}\n" for n in range(1, LINES + 1)]
    assert orjson.loads(bodies["false"]) == {"Output": expected}
    labelled = orjson.loads(bodies["true"])["Output"]
    assert [item["data"] for item in labelled] == expected
    assert {(item["stream"], item["rank"]) for item in labelled} == {("stdout", 0)}
    grew = peak_rss_mib(server.proc.pid) - before
    print(f"server peak RSS {before:.0f} MiB before the reads, +{grew:.0f} MiB")
    assert grew < 100, f"the server's peak memory grew by {grew:.0f} MiB"


def test_the_web_job_view_pages_a_large_output(server: Server, http: httpx.Client) -> None:
    api = Api(http)
    job = api.submit(command="seq 400000")  # 2.6 MB of output: three pages of 1 MiB
    assert api.wait_done(job)["result"] == "COMPLETED"
    pages: list[str] = []
    number = 1
    while True:
        response = http.get(f"/job/{job}", params={"output_page": number})
        assert response.status_code == 200
        text = response.text
        pre = re.search(r'<pre id="output">(.*?)</pre>', text, re.S)
        assert pre is not None
        pages.append(html.unescape(pre.group(1)))
        assert len(pages[-1]) <= (1 << 20) + 16  # one page, never the whole output
        assert f"Output page {number}" in text
        if f"output_page={number + 1}" not in text:
            break
        number += 1
    assert number == 3
    assert "".join(pages) == "".join(f"{n}\n" for n in range(1, 400_001))
    assert http.get(f"/job/{job}", params={"output_page": "x"}).status_code == 400
