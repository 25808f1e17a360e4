"""Input limits: every request value whose cost grows with its size is bounded here, before use.

The server runs one event loop: a request that makes it parse, match or compute for seconds
stalls every other request. So nothing from a request reaches a parser, a regular expression,
SQLite or Flux unbounded: bodies and fields have a size limit, integers a range, and user regular
expressions run on RE2, whose matching time is linear in the text (no backtracking). docs/api.md
("Limits") lists the numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import re2

MAX_BODY = 2 * 1024 * 1024
"""Default request body limit in bytes (``FLUX_REQUEST_MAX_SIZE``): Linux's own limit on a job's
argv plus environment (ARG_MAX), so no submit that could run is refused by it."""
MAX_COMMAND = 128 * 1024
"""Longest ``command`` in characters (the string, or all list items together): the kernel's
limit on one argument (MAX_ARG_STRLEN)."""
MAX_FIELD = 128 * 1024
"""Longest other submit text field (``envars`` given as text, ``option_flags``)."""
MAX_WORKDIR = 4096
"""Longest ``workdir`` (PATH_MAX)."""
MAX_NAME = 256
"""Longest job name, given or derived from the command."""
MAX_REGEX = 200
"""Longest regular expression a search accepts."""
MAX_INT = 2**63 - 1
"""Largest integer a query parameter may carry: SQLite's INTEGER range."""
REGEX_MAX_MEM = 1 << 20
"""Memory RE2 may use for one compiled search expression; bigger ones are refused."""


class LimitError(ValueError):
    """A request value is outside its limit; the message names the value and the limit."""


def bounded_int(text: str, name: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """Parse a decimal integer from a request and check ``minimum <= value <= maximum``.

    The length is checked before ``int()`` runs, so a million digits cost nothing.

    Raises:
        LimitError: Not an integer, or out of range; the message says which and the range.
    """
    digits = text.strip()
    unsigned = digits[1:] if digits.startswith(("+", "-")) else digits
    if not (unsigned.isascii() and unsigned.isdigit()):
        raise LimitError(f"{name} must be an integer, not {show(text)}")
    if len(unsigned) > 19:  # more digits than any 64-bit integer
        raise LimitError(f"{name} must be between {minimum} and {maximum}, not {show(text)}")
    value = int(digits)
    if not minimum <= value <= maximum:
        raise LimitError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def check_length(value: str, name: str, limit: int) -> None:
    """Refuse a text longer than ``limit`` characters.

    Raises:
        LimitError: It is longer.
    """
    if len(value) > limit:
        raise LimitError(f"{name} must be at most {limit} characters, not {len(value)}")


def show(value: Any, width: int = 40) -> str:
    """A short ``repr`` of a request value for an error message: bounded, never recursive."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value) if not isinstance(value, int) or value.bit_length() < 64 else "<int>"
        return text if len(text) <= width else text[: width - 3] + "..."
    return f"<{type(value).__name__}>"


Matcher = Callable[[str], bool]


@functools.lru_cache(maxsize=64)
def compile_search(pattern: str) -> Matcher:
    """Compile a user's search expression with RE2, case-insensitive; return its ``search``.

    RE2 has no backreferences or lookaround (they are what makes matching exponential); such
    patterns, syntax errors and programs over :data:`REGEX_MAX_MEM` are refused with RE2's reason.

    Raises:
        LimitError: The pattern is too long, invalid, or unsupported by RE2.
    """
    if len(pattern) > MAX_REGEX:
        raise LimitError(f"search regex must be at most {MAX_REGEX} characters")
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = REGEX_MAX_MEM
    try:
        compiled = re2.compile(pattern, options)
    except UnicodeEncodeError:
        raise LimitError("search regex must be valid Unicode text") from None
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise LimitError(
            f"search is not a valid regular expression for RE2 ({reason}); backreferences and "
            "lookaround are not supported"
        ) from None

    def matches(text: str) -> bool:
        if not text.isascii():
            # Lone surrogates (from undecodable bytes) have no UTF-8 form, which RE2 needs.
            text = text.encode("utf-8", "replace").decode("utf-8")
        return compiled.search(text) is not None

    return matches
