"""How a job looks wherever the dashboard shows one: state and result colours, times."""

from __future__ import annotations

import time

from rich.style import Style
from rich.text import Text

__all__ = [
    "RESULT_STYLES",
    "STATE_STYLES",
    "cached_style",
    "format_time",
    "state_style",
    "state_text",
]

STATE_STYLES = {
    "DEPEND": "magenta",
    "PRIORITY": "magenta",
    "SCHED": "yellow",
    "RUN": "bold green",
    "CLEANUP": "cyan",
    "INACTIVE": "dim",
}
RESULT_STYLES = {"COMPLETED": "green", "FAILED": "bold red", "CANCELED": "yellow", "TIMEOUT": "red"}

_STYLE_CACHE: dict[str, Style] = {}


def cached_style(name: str) -> Style:
    """The parsed style ``name`` (parsed once: the table asks for it on every line drawn)."""
    style = _STYLE_CACHE.get(name)
    if style is None:
        style = _STYLE_CACHE[name] = Style.parse(name) if name else Style()
    return style


def state_style(state: str) -> Style:
    """The colour of a state name."""
    return cached_style(STATE_STYLES.get(state, ""))


def state_text(state: str) -> Text:
    """A state name in its colour."""
    return Text(state, style=STATE_STYLES.get(state, ""))


def format_time(t: float | None) -> str:
    """Epoch seconds as local ``MM-DD HH:MM:SS`` (``""`` when unknown)."""
    if not t:
        return ""
    return time.strftime("%m-%d %H:%M:%S", time.localtime(t))
