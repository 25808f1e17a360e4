"""The ``?`` help: every key of the dashboard."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

__all__ = ["HELP_TEXT", "HelpScreen"]

HELP_TEXT = """\
# Flux RESTful dashboard

| Jobs view | |
|---|---|
| `↑ ↓ PgUp PgDn` | move |
| `enter` | job detail (info and eventlog) |
| `l` | follow the job's log |
| `space` / `ctrl+a` / `esc` | mark / mark all / unmark |
| `s` | submit a job |
| `c` | cancel the marked jobs (or the current one) |
| `h` / `u` | hold / release the marked jobs (held: urgency 0, they wait until released) |
| `p` | set the urgency of the marked jobs (0-31, `hold`, `default`, `expedite`) |
| `/` | filter (regex; `!` inverts) |
| `1`…`5` | all / pending / running / done / failed |
| `m` | mine / all |
| `o` / `O` / click header | sort by next column / reverse / by that column |
| `n` | nodes |
| `r` | reload now |

| Log view | |
|---|---|
| `/` | search (regex); `esc` clears |
| `p` / `t` | rank prefix / timestamps |
| `w` / `a` | wrap / autoscroll |

`ctrl+p` opens the command palette (themes too); `q` quits; `escape` goes back.
"""


class HelpScreen(ModalScreen[None]):
    """Key reference."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Markdown(HELP_TEXT)

    def action_close(self) -> None:
        self.dismiss(None)
