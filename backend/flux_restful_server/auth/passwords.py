"""Password hashing: the only module that imports passlib (installed as its fork ``libpass``).

Hashes use argon2 (``argon2-cffi``). :func:`verify_password` also says when a stored hash was made
with older parameters, so a successful login can store a fresh hash (``verify_and_update``).
"""

from __future__ import annotations

from passlib.context import CryptContext

MAX_PASSWORD_BYTES = 4096
"""Longer passwords are refused: hashing megabytes per attempt would be a denial of service."""

_context = CryptContext(schemes=["argon2"], deprecated="auto")


class PasswordError(ValueError):
    """A password cannot be used (empty or too long); the message says why."""


def check_password_acceptable(password: str) -> None:
    """Raise :class:`PasswordError` when ``password`` cannot be stored.

    Raises:
        PasswordError: The password is empty or longer than :data:`MAX_PASSWORD_BYTES`.
    """
    if not password:
        raise PasswordError("The password must not be empty.")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise PasswordError(f"The password must be at most {MAX_PASSWORD_BYTES} bytes long.")


def hash_password(password: str) -> str:
    """Return a salted argon2 hash of ``password``.

    Raises:
        PasswordError: The password is empty or too long.
    """
    check_password_acceptable(password)
    return str(_context.hash(password))


def verify_password(password: str, stored_hash: str) -> tuple[bool, str | None]:
    """Check ``password`` against ``stored_hash``.

    Returns:
        ``(matches, new_hash)``: ``new_hash`` is set when the password matched and the stored hash
        should be replaced (its scheme or parameters are outdated). A malformed stored hash or an
        unacceptable password never matches.
    """
    if not password or len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        return False, None
    try:
        ok, new_hash = _context.verify_and_update(password, stored_hash)
    except (ValueError, TypeError):
        return False, None
    return bool(ok), (str(new_hash) if new_hash else None)
