"""End to end in a real terminal: ``flux-restful-tui`` in a detached tmux session of fixed size."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flux_restful_client import Client
from tests.conftest import Server, wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

WIDTH, HEIGHT = 130, 40


class Tmux:
    """One detached tmux session running the dashboard."""

    def __init__(self, socket: Path, config: Path, name: str) -> None:
        self.socket = socket
        self.config = config
        self.name = name

    def run(self, *args: str) -> str:
        cmd = ["tmux", "-S", str(self.socket), "-f", str(self.config), *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", self.name, "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        seen: list[str] = []

        def screen() -> str:
            seen[:] = [self.screen()]
            return seen[0]

        try:
            return wait_for(screen, timeout, 0.1, until=check, what=what)
        except AssertionError:  # show the screen as it looked, not as a repr
            raise AssertionError(
                f"{what} not shown within {timeout}s; the screen was:\n{seen[0]}"
            ) from None


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], Tmux]]:
    socket = tmp_path / "tmux.sock"
    sessions: list[Tmux] = []
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "tmux.conf"  # a fixed size even with no client attached
    config.write_text(f"set -g default-size {WIDTH}x{HEIGHT}\n")

    def start(url: str, env: dict[str, str], prefix: str = "") -> Tmux:
        session = Tmux(socket, config, f"tui-{uuid.uuid4().hex[:8]}")
        tui = str(Path(sys.executable).with_name("flux-restful-tui"))
        if not os.path.exists(tui):
            tui = shutil.which("flux-restful-tui") or "flux-restful-tui"
        exports = {"HOME": str(home), "TERM": "xterm-256color", "COLORTERM": "truecolor", **env}
        cmd = " ".join(f"{k}={v}" for k, v in exports.items()) + f" {tui} --host {url}"
        session.run(
            "new-session", "-d", "-s", session.name, "-x", str(WIDTH), "-y", str(HEIGHT),
            f"{prefix}env -u COLUMNS -u LINES {cmd}",
        )  # fmt: skip
        sessions.append(session)
        return session

    yield start
    if sessions:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True)


def _exited(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


def test_the_dashboard_quits_when_its_terminal_goes_away_without_a_sighup(
    server: Server, tmux
) -> None:
    # `just tui` takes the terminal's SIGHUP for itself; here the shell ignores it, which the
    # dashboard inherits. Either way only the dead terminal tells the dashboard to go.
    term = tmux(server.url, {}, "trap '' HUP; exec ")
    term.wait_for(lambda s: "live" in s, "the jobs view, live")
    pid = int(term.run("display-message", "-p", "-t", term.name, "#{pane_pid}"))
    assert b"flux-restful-tui" in Path(f"/proc/{pid}/cmdline").read_bytes()
    term.run("kill-session", "-t", term.name)
    wait_for(lambda: _exited(pid), 10.0, 0.1, what=f"the dashboard (pid {pid}) to exit")


def test_submit_watch_log_cancel_and_quit_in_tmux(server: Server, tmux) -> None:
    term = tmux(server.url, {})
    term.wait_for(lambda s: "live" in s and "Submit" in s, "the jobs view, live")
    # submit from the form: the log view opens on the new job and shows its output
    term.keys("s")
    term.wait_for(lambda s: "Command" in s, "the submit form")
    term.type("sh -c 'echo hello-from-tmux; sleep 60'")
    term.keys("C-s")

    def output_shown(screen: str) -> bool:
        # the typed command contains the word too: look for the line the job printed
        lines = [line.strip("│ ") for line in screen.splitlines()]
        return "Log of job" in screen and "hello-from-tmux" in lines

    term.wait_for(output_shown, "the job's output in the log view")
    with Client(host=server.url) as client:
        (job,) = client.list_jobs()
        assert job.state == "RUN"
        # cancel it from the log view, with confirmation
        term.keys("c")
        term.wait_for(lambda s: f"Cancel job {job.id}?" in s, "the confirmation")
        term.keys("y")
        wait_for(
            lambda: client.get_job(job.id),
            20,
            until=lambda info: info.result == "CANCELED",
            what=f"job {job.id} cancelled",
        )
        term.wait_for(lambda s: "CANCELED" in s, "the log view's end line")
        term.keys("Escape")
        term.wait_for(lambda s: "CANCELED" in s and "Tasks/Nodes" in s, "the jobs view")
    term.keys("q")
    wait_for(
        lambda: subprocess.run(
            ["tmux", "-S", str(term.socket), "list-sessions", "-F", "#S"],
            capture_output=True,
            text=True,
        ).stdout.split(),
        10,
        until=lambda sessions: term.name not in sessions,
        what="the dashboard quit (its tmux session gone)",
    )
