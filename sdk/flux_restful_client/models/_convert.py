"""Lenient conversions of JSON values: upstream sends ``""`` where a number is missing."""

from __future__ import annotations

from typing import Any


def opt_int(value: Any) -> int | None:
    """Return ``value`` as an int, or ``None`` for upstream's ``""`` placeholders."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def opt_str(value: Any) -> str | None:
    """Return ``value`` as text, or ``None`` for ``""`` and anything that is not text."""
    return value if isinstance(value, str) and value else None


def opt_float(value: Any) -> float | None:
    """Return ``value`` as a float, or ``None`` for upstream's ``""`` placeholders."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
