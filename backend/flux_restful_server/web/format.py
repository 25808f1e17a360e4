"""What the pages display: times, badges, the jobs table's rows, a job's facts, the forms' parts.

Pure functions from job info (``jobs.info.job_info``) and settings to escaped markup
(:class:`~.render.Safe`); the views fetch, these present.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..auth import AuthService
from ..jobs.submit import SubmitPolicy
from . import csrf
from .forms import SUBMIT_TEXT_FIELDS
from .render import Safe, esc, fill, join, tag

if TYPE_CHECKING:
    from ..webhooks.records import Delivery

__all__ = [
    "JOB_COLUMNS",
    "MESSAGES",
    "auth_summary",
    "badge",
    "detail_rows",
    "flash",
    "job_rows",
    "output_pager",
    "seconds",
    "submit_form",
    "webhook_section",
    "when",
]

MESSAGES = {
    "submitted": "Your job was submitted.",
    "launcher": "Your launcher was submitted; the jobs it spawns appear in the jobs table.",
    "cancel-requested": "Job is requested to cancel.",
    "cancel-inactive": "Job cannot be cancelled: job is inactive.",
    "held": "Job is held: it will not start until released.",
    "released": "Job is released: it can be scheduled again.",
    "urgency-not-pending": "Only a pending job can be held or released: this one has started.",
}
"""Messages a redirect can ask a page to show, by code (never text from the URL)."""

JOB_COLUMNS = (
    "ID",
    "Name",
    "User",
    "State",
    "Result",
    "Return code",
    "Runtime",
    "Tasks",
    "Submitted",
)
"""The jobs table's headings (``static/jobs.js`` fills the same columns when it refreshes)."""


def flash(code: str | None) -> str | None:
    """The message a redirect asked for with ``?msg=code`` (``None`` for an unknown code)."""
    return MESSAGES.get(code) if code else None


def when(timestamp: Any) -> str:
    """An epoch time as ``YYYY-MM-DD HH:MM:SS UTC`` (empty when unset)."""
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(timestamp)))


def seconds(value: Any) -> str:
    """A duration as ``12.3s`` (empty when unset)."""
    if value in ("", None):
        return ""
    return f"{float(value):.1f}s"


def badge(kind: str, value: Any) -> Safe:
    """A state or result as a coloured badge (``-`` when unset)."""
    text = str(value) if value not in ("", None) else "-"
    return tag("span", text, class_=f"badge {kind}-{text.lower()}")


def auth_summary(service: AuthService) -> str:
    """One sentence for the home page: how this server signs people in."""
    if not service.enabled:
        return "Authentication is off: everyone may submit and see all jobs."
    if service.password_login:
        return (
            f"Sign in with your user name and password ({service.backend} backend); "
            "you see your own jobs."
        )
    return (
        f"This server uses the {service.backend} backend: the web pages cannot sign you in; "
        "use the API, the CLI or the terminal dashboard with a token."
    )


def _state_cell(info: Mapping[str, Any]) -> Safe:
    """The state badge and, for a pending job, why it waits (``held (urgency 0)``, ...)."""
    state = badge("state", info["state"])
    reason = info.get("pending_reason")
    return join([state, tag("small", reason, class_="reason")]) if reason else state


def _job_row(info: Mapping[str, Any]) -> Safe:
    cells = [
        tag("a", info["id"], href=f"/job/{info['id']}"),
        esc(info.get("name")),
        esc(info.get("user") or ""),
        _state_cell(info),
        badge("result", info["result"]) if info["result"] else esc(""),
        esc(info.get("returncode")),
        esc(seconds(info.get("runtime"))),
        esc(info.get("ntasks")),
        esc(when(info.get("t_submit"))),
    ]
    return tag("tr", join(tag("td", c) for c in cells))


def job_rows(infos: Iterable[Mapping[str, Any]], *, searched: bool) -> Safe:
    """The jobs table's rows, or one row saying there is nothing (to match, when ``searched``)."""
    rows = join(_job_row(info) for info in infos)
    if rows:
        return rows
    empty = "No matching jobs." if searched else "No jobs yet."
    return tag("tr", tag("td", empty, colspan=len(JOB_COLUMNS)))


def detail_rows(info: Mapping[str, Any]) -> Safe:
    """The job page's table of facts, each value marked with ``data-field`` for ``job.js``."""
    nodes = info.get("nnodes")
    if info.get("nodelist"):
        nodes = f"{nodes} ({info['nodelist']})"
    exception = info.get("exception") or {}
    rows: list[tuple[str, Any, str]] = [
        ("ID", info["id"], "id"),
        ("Name", info.get("name"), "name"),
        ("User", info.get("user") or "", "user"),
        ("State", badge("state", info["state"]), "state"),
        ("Waiting because", info.get("pending_reason") or "", "pending_reason"),
        ("Result", badge("result", info["result"]) if info["result"] else "", "result"),
        ("Return code", info.get("returncode"), "returncode"),
        ("Runtime", seconds(info.get("runtime")), "runtime"),
        ("Tasks", info.get("ntasks"), "ntasks"),
        ("Cores", info.get("ncores"), "ncores"),
        ("Nodes", nodes, "nodes"),
        ("Ranks", info.get("ranks"), "ranks"),
        ("Urgency", info.get("urgency"), "urgency"),
        ("Priority", info.get("priority"), "priority"),
        ("Working directory", info.get("cwd"), "cwd"),
        ("Submitted", when(info.get("t_submit")), "t_submit"),
        ("Exception", exception.get("note") if exception.get("occurred") else "", "exception"),
    ]
    return join(
        tag("tr", join([tag("th", label, scope="row"), tag("td", value, data_field=key)]))
        for label, value, key in rows
    )


def output_pager(job_id: int, number: int, more: bool) -> Safe:
    """Links to the previous and next pages of a long output (nothing for a short one)."""
    if number == 1 and not more:
        return Safe("")
    links = [tag("span", f"Output page {number}")]
    if number > 1:
        links.append(tag("a", "previous page", href=f"/job/{job_id}?output_page={number - 1}"))
    if more:
        links.append(tag("a", "next page", href=f"/job/{job_id}?output_page={number + 1}"))
    return tag("p", join(links), class_="pager", id="output-pager")


def webhook_section(deliveries: list[Delivery]) -> Safe:
    """A job's webhook deliveries (docs/webhooks.md), or nothing when there are none."""
    if not deliveries:
        return Safe("")
    head = join(tag("th", h) for h in ("Event", "Webhook", "Status", "Attempts", "Last answer"))
    rows = [
        tag(
            "tr",
            join(
                [
                    tag("td", d.type.removeprefix("job.")),
                    tag("td", d.hook_id),
                    tag("td", badge("delivery", d.status)),
                    tag("td", d.attempts),
                    tag("td", " ".join(str(x) for x in (d.last_status, d.last_error) if x) or "-"),
                ]
            ),
        )
        for d in deliveries
    ]
    table = tag("table", join([tag("tr", head), *rows]), class_="deliveries")
    return tag("section", join([tag("h2", "Webhook deliveries"), table]), id="webhooks")


def _error_list(errors: list[str]) -> Safe:
    if not errors:
        return Safe("")
    return tag(
        "div",
        join(
            [tag("p", "The job was not submitted:"), tag("ul", join(tag("li", e) for e in errors))]
        ),
        class_="errors",
        role="alert",
    )


def submit_form(
    policy: SubmitPolicy, token: str, values: Mapping[str, str], errors: list[str]
) -> Safe:
    """The submit form, filled with ``values``, its limits from ``policy``, ``errors`` above it.

    Args:
        policy: What the server accepts (the inputs' maxima, whether GPUs can be asked for).
        token: The browser's CSRF token, sent back with the form.
        values: The fields' text as typed (empty for a new form).
        errors: Why the last submit was refused (none for a new form).
    """

    def checked(name: str) -> Safe:
        return Safe(" checked") if values.get(name) else Safe("")

    gpus = policy.has_gpus
    return fill(
        "submit.html",
        {
            **{name: values.get(name, "") for name in SUBMIT_TEXT_FIELDS},
            "csrf_field": csrf.FIELD,
            "csrf_token": token,
            "errors": _error_list(errors),
            "exclusive_checked": checked("exclusive"),
            "is_launcher_checked": checked("is_launcher"),
            "max_nodes": policy.number_nodes or policy.limits.nodes,
            "cores": policy.limits.cores_per_node,
            "gpus_disabled": Safe("") if gpus else Safe(" disabled"),
            "gpus_note": "" if gpus else "This server has no GPUs.",
        },
    )
