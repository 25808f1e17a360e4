"""Flux job ids (FLUIDs): parse every encoding Flux prints, and encode them back.

A FLUID is a 64-bit integer: 40 bits of milliseconds since the instance epoch, 14 bits of
generator id and 10 bits of sequence, so ids sort by submit time.
"""

from __future__ import annotations

import re
import time

F58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_F58_INDEX = {c: i for i, c in enumerate(F58_ALPHABET)}
_DOTHEX = re.compile(r"^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$")
MAX_ID = (1 << 64) - 1


class InvalidJobId(ValueError):
    """The text is not a job id in any encoding we accept."""

    def __init__(self, text: str) -> None:
        super().__init__(f"'{text}' is not a valid job id")


def parse_job_id(text: str) -> int:
    """Decode a job id given as decimal, f58 (``ƒ`` or ``f`` prefix), ``0x`` hex or dotted hex.

    Raises:
        InvalidJobId: The text is none of these, or out of the 64-bit range.
    """
    s = text.strip()
    value: int | None = None
    if len(s) > 64:
        # No encoding of a 64-bit id is this long (and int() refuses over 4300 digits).
        raise InvalidJobId(text)
    if s.isdigit() and s.isascii():
        value = int(s)
    elif s[:2].lower() == "0x" and len(s) > 2:
        try:
            value = int(s[2:], 16)
        except ValueError:
            value = None
    elif _DOTHEX.match(s):
        value = int(s.replace(".", ""), 16)
    elif s[:1] in ("ƒ", "f") and len(s) > 1:
        value = _f58_decode(s[1:])
    if value is None or not 0 <= value <= MAX_ID:
        raise InvalidJobId(text)
    return value


def _f58_decode(digits: str) -> int | None:
    value = 0
    for char in digits:
        index = _F58_INDEX.get(char)
        if index is None:
            return None
        value = value * 58 + index
    return value


def f58(job_id: int) -> str:
    """Encode a job id as Flux prints it by default (``ƒ`` + base58)."""
    if job_id == 0:
        return "ƒ1"
    digits = []
    while job_id:
        job_id, rem = divmod(job_id, 58)
        digits.append(F58_ALPHABET[rem])
    return "ƒ" + "".join(reversed(digits))


def dothex(job_id: int) -> str:
    """Encode a job id as dotted hex (``0000.0000.0000.0000``)."""
    h = f"{job_id:016x}"
    return ".".join(h[i : i + 4] for i in range(0, 16, 4))


class FluidGenerator:
    """Generates increasing FLUIDs for one instance (generator id 0).

    Args:
        epoch: The instance epoch, seconds since the Unix epoch.
        floor: Ids already handed out; new ids are always greater.
    """

    def __init__(self, epoch: float, floor: int = 0) -> None:
        self._epoch_ms = int(epoch * 1000)
        self._last = floor

    def next(self) -> int:
        """Return a new id, greater than every id returned before."""
        ms = max(0, int(time.time() * 1000) - self._epoch_ms)
        candidate = ms << 24
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate

    @staticmethod
    def timestamp(job_id: int, epoch: float) -> float:
        """Return the submit time encoded in ``job_id``."""
        return epoch + (job_id >> 24) / 1000.0
