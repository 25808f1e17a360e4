"""Tiny HTML rendering: ``string.Template`` files where every value is escaped unless :class:`Safe`.

No template engine and no CDN: the pages are plain HTML plus a little vanilla JS and CSS served
from this package, so the UI works offline and ships inside the wheel.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from sanic.response import HTTPResponse

TITLE = "Flux RESTful"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Sent with every page: no inline script can run, nothing loads from elsewhere."""


class Safe(str):
    """Markup that is already escaped (or built only from escaped parts)."""

    __slots__ = ()


def esc(value: Any) -> Safe:
    """Escape ``value`` for HTML text and attribute values (quotes included)."""
    if isinstance(value, Safe):
        return value
    return Safe(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[Any]) -> Safe:
    """Concatenate parts, escaping the ones that are not :class:`Safe`."""
    return Safe("".join(esc(p) for p in parts))


def tag(name: str, content: Any = "", **attrs: Any) -> Safe:
    """One element; attribute names use ``_`` for ``-`` and a trailing ``_`` for keywords.

    ``True`` renders a bare attribute, ``None``/``False`` omit it.
    """
    rendered = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        rendered.append(f" {key}" if value is True else f' {key}="{esc(value)}"')
    return Safe(f"<{name}{''.join(rendered)}>{esc(content)}</{name}>")


@cache
def _template(name: str) -> string.Template:
    text = resources.files(__package__).joinpath("templates", name).read_text("utf-8")
    return string.Template(text)


def fill(name: str, values: Mapping[str, Any]) -> Safe:
    """Render template ``name`` with ``values`` escaped (unless :class:`Safe`)."""
    return Safe(_template(name).substitute({k: esc(v) for k, v in values.items()}))


def page(
    title: str,
    body: Any,
    *,
    user: str | None = None,
    message: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    active: str = "",
) -> HTTPResponse:
    """A full HTML page in the common layout, with the security headers."""
    nav = join(
        tag("a", label, href=href, class_="active" if key == active else None)
        for key, label, href in (
            ("home", "Home", "/"),
            ("jobs", "Jobs", "/jobs"),
            ("submit", "Submit", "/jobs/submit"),
            ("docs", "API", "/docs"),
        )
    )
    document = fill(
        "base.html",
        {
            "title": f"{title} - {TITLE}",
            "nav": nav,
            "user": tag("span", f"signed in as {user}", class_="user") if user else "",
            "message": tag("p", message, class_="flash", role="status") if message else "",
            "body": body,
        },
    )
    return HTTPResponse(
        document,
        status=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
        content_type="text/html; charset=utf-8",
    )
