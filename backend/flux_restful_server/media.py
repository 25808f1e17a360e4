"""Reading a ``Content-Type`` header: the one way every route and the audit log do it."""

from __future__ import annotations

__all__ = ["media_type"]


def media_type(content_type: str) -> str:
    """The media type of a ``Content-Type`` value, without parameters, in lower case."""
    return content_type.split(";")[0].strip().lower()
