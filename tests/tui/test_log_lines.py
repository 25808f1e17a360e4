"""Output records cut into log lines: a line split across records is shown as one line."""

from __future__ import annotations

from typing import Any

from flux_restful_client import OutputLine
from flux_restful_tui import DashboardApp
from flux_restful_tui.lines import HOLD_FRAGMENT, LineJoiner, LogLine
from flux_restful_tui.screens.log import LogScreen

from .conftest import until
from .fake import FROZEN, StaticApi


def out(data: str, stream: str = "stdout", rank: int = 0, t: float | None = None) -> OutputLine:
    return OutputLine(data, stream, rank, t)


def test_a_fragment_waits_for_the_rest_of_its_line():
    joiner = LineJoiner()
    assert joiner.feed(out("hel", t=1.0), now=0.0) == []
    assert joiner.feed(out("lo\nwor", t=2.0), now=0.1) == [("hello\n", "stdout", 0, 1.0)]
    assert joiner.feed(out("ld\n", t=3.0), now=0.2) == [("world\n", "stdout", 0, 2.0)]
    assert joiner.holding == 0


def test_fragments_are_joined_per_stream_and_rank_only():
    joiner = LineJoiner()
    assert joiner.feed(out("a-"), now=0) == []
    assert joiner.feed(out("b-", rank=1), now=0) == []
    assert joiner.feed(out("warn\n", "stderr"), now=0) == [("warn\n", "stderr", 0, None)]
    assert joiner.feed(out("end b\n", rank=1), now=0) == [("b-end b\n", "stdout", 1, None)]
    assert joiner.feed(out("end a\nx\n"), now=0) == [
        ("a-end a\n", "stdout", 0, None),
        ("x\n", "stdout", 0, None),
    ]


def test_held_fragments_are_released_when_the_output_ends_or_after_a_while():
    joiner = LineJoiner()
    joiner.feed(out("prompt> "), now=10.0)
    joiner.feed(out("partial", "stderr"), now=10.0 + HOLD_FRAGMENT)
    assert joiner.expired(now=10.0 + HOLD_FRAGMENT / 2) == []
    assert joiner.expired(now=10.0 + HOLD_FRAGMENT) == [("prompt> ", "stdout", 0, None)]
    assert joiner.drain() == [("partial", "stderr", 0, None)]
    assert joiner.holding == 0


def test_crlf_and_other_line_ends_complete_a_line():
    joiner = LineJoiner()
    assert joiner.feed(out("a\r\nb\rc"), now=0) == [
        ("a\r\n", "stdout", 0, None),
        ("b\r", "stdout", 0, None),
    ]
    assert joiner.drain() == [("c", "stdout", 0, None)]


def frame(seq: int, data: str, stream: str = "stdout", rank: int = 0) -> dict[str, Any]:
    return {"seq": seq, "type": "output", "stream": stream, "rank": rank, "data": data, "t": FROZEN}


async def test_the_log_view_shows_a_line_split_across_two_records_as_one_line():
    frames = [
        frame(1, "step 1 of 2: "),
        frame(2, "warning: slow disk\n", "stderr"),
        frame(3, "done\nstep 2 of 2: "),
        frame(4, "done\nbye"),
        {"seq": 5, "type": "end", "state": "INACTIVE", "result": "COMPLETED", "returncode": 0},
    ]
    client = StaticApi(frames=frames).client()
    app = DashboardApp(client, follow=False)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_log(1007)
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        assert isinstance(screen, LogScreen)
        await until(pilot, lambda: screen.follow_state == "ended")
        assert screen.log_view.lines() == [
            LogLine("warning: slow disk\n", "stderr", 0, FROZEN),
            LogLine("step 1 of 2: done\n", "stdout", 0, FROZEN),
            LogLine("step 2 of 2: done\n", "stdout", 0, FROZEN),
            LogLine("bye", "stdout", 0, FROZEN),  # the last fragment, shown once the job ended
        ]
        await pilot.pause(0.1)
        shown = [str(screen.log_view.render_line(y).text).rstrip() for y in range(4)]
        assert shown == ["warning: slow disk", "step 1 of 2: done", "step 2 of 2: done", "bye"]
    await client.aclose()
