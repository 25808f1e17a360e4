"""What the web pages read from the browser: the submit form, the login redirect, page numbers.

Every value is checked here before a view uses it. The submit form's fields are validated by
the same code as the API's (``http.submit_job``); this module only turns the form's text boxes
and checkboxes into those fields and phrases the refusals for a person filling in a form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest
from ..jobs.submit import MISSING_COMMAND

__all__ = [
    "SUBMIT_CHECKBOXES",
    "SUBMIT_TEXT_FIELDS",
    "SubmitForm",
    "local_path",
    "output_page_number",
    "parse_envars",
]

SUBMIT_TEXT_FIELDS = (
    "command",
    "name",
    "workdir",
    "runtime",
    "num_tasks",
    "cores_per_task",
    "gpus_per_task",
    "num_nodes",
    "urgency",
    "option_flags",
    "envars",
)
"""The submit form's text inputs, named like the API's submit fields."""
SUBMIT_CHECKBOXES = ("exclusive", "is_launcher")
"""The submit form's checkboxes (sent as ``on`` when ticked, absent otherwise)."""


def parse_envars(text: str) -> tuple[dict[str, str], list[str]]:
    """Read ``KEY=value`` lines (blank lines and ``#`` comments skipped).

    Returns:
        The variables, and one message per line that is not ``KEY=value``.
    """
    env: dict[str, str] = {}
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            errors.append(f"Environment line {number} must look like KEY=value, not {line!r}")
            continue
        env[key] = value
    return env, errors


@dataclass
class SubmitForm:
    """The submit form as posted: what to show again in the form, and what to submit."""

    values: dict[str, str] = field(default_factory=dict)
    """Every field's text as typed (checkboxes ``"on"`` or ``""``), to fill the form again."""
    envars: dict[str, str] = field(default_factory=dict)
    """The environment box read as variables."""
    errors: list[str] = field(default_factory=list)
    """Problems found in the form itself (environment lines), before the API's validation."""

    @classmethod
    def read(cls, form: Mapping[str, Any] | None) -> SubmitForm:
        """Read a posted form (``request.form``; ``None`` when the body was not a form)."""

        def text(name: str) -> str:
            value = form.get(name) if form else None
            return value if isinstance(value, str) else ""

        values = {name: text(name) for name in SUBMIT_TEXT_FIELDS}
        for name in SUBMIT_CHECKBOXES:
            values[name] = "on" if text(name) else ""
        envars, errors = parse_envars(values["envars"])
        return cls(values, envars, errors)

    def fields(self) -> dict[str, Any]:
        """The submit fields for the API's validation: empty boxes left out, envars parsed."""
        fields: dict[str, Any] = {k: v for k, v in self.values.items() if v.strip() != ""}
        fields["envars"] = self.envars
        return fields

    def refuse(self, errors: list[str]) -> None:
        """Add the API's refusals, worded for the form."""
        self.errors.extend(
            "Please enter a command. " + MISSING_COMMAND if e == MISSING_COMMAND else e
            for e in errors
        )


def local_path(target: str | None) -> str:
    """A redirect target that stays on this server (anything else becomes ``/``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 for c in target):
        return "/"
    return target


def output_page_number(text: str | None) -> int:
    """The job page's ``output_page`` (1 when absent).

    Raises:
        BadRequest: Not a page number from 1 to 10**9.
    """
    text = "1" if text is None else text
    if not text.isdigit() or not 1 <= int(text) <= 10**9:
        raise BadRequest(f"output_page must be a page number (1 or more), not {text!r}")
    return int(text)
