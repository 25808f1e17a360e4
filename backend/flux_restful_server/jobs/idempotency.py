"""Idempotent submits: the ``Idempotency-Key`` header (IETF httpapi draft).

A client sends a fresh key with each submit (single or batch) and the same key again when it
retries. The executor records the key with every job the request created, in the same durable
step as the job itself (the local executor's store transaction; the flux executor's jobspec,
which Flux keeps and replays in its journal), so the key lives exactly as long as the job
record and a server killed between accepting and answering still knows it. A retry with the
same key and the same request gets the first answer (the same ids, header
``Idempotent-Replayed: true``); the same key with another request is a 409. Keys are per API
user: two users' keys never meet.

A batch interrupted half way (only possible on the flux executor, whose batch is pipelined, not
one transaction) is completed by its retry: entries that already have a job answer with it, the
others are submitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Mapping

from ..errors import AppError, BadRequest
from ..media import media_type

HEADER = "Idempotency-Key"
MAX_KEY = 255
"""Longest key accepted, in characters."""
REPLAYED = "Idempotent-Replayed"
"""Response header set (to ``true``) on an answer replayed from an earlier request."""


class KeyReused(AppError):
    """The key was first used with another request."""

    status_code = 409
    quiet = True
    code = "idempotency_key_reused"


class KeyInUse(AppError):
    """A request with the same key is being processed right now."""

    status_code = 409
    quiet = True
    code = "idempotency_key_in_use"


def request_key(headers: Mapping[str, str]) -> str | None:
    """The request's idempotency key, or ``None`` when it has none.

    Raises:
        BadRequest: The key is empty, too long, or not printable ASCII.
    """
    key = headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if key.startswith('"') and key.endswith('"') and len(key) >= 2:
        key = key[1:-1]  # the draft sends it as a structured-field string
    if not key:
        raise BadRequest(f"{HEADER} must not be empty")
    if len(key) > MAX_KEY:
        raise BadRequest(f"{HEADER} must be at most {MAX_KEY} characters, not {len(key):,}")
    if not (key.isascii() and key.isprintable()):
        raise BadRequest(f"{HEADER} must be printable ASCII")
    return key


def fingerprint(route: str, query: Mapping[str, list[str]], content_type: str, body: bytes) -> str:
    """Digest of what makes two submits the same request: route, query, content type, body."""
    digest = hashlib.sha256()
    for part in (route, media_type(content_type)):
        digest.update(part.encode())
        digest.update(b"\0")
    for name in sorted(query):
        if name == "dry_run":
            continue
        for value in query[name]:
            digest.update(f"{name}={value}".encode())
            digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


def reused() -> KeyReused:
    """The 409 of a key that came with another request first."""
    return KeyReused(
        f"This {HEADER} was already used with a different request: send a new key for a new "
        "submit, the same key only to retry the same request"
    )


class KeyLocks:
    """One request at a time per (user, key): a retry waits for the first attempt to finish."""

    def __init__(self) -> None:
        self._held: dict[tuple[str | None, str], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, user: str | None, key: str) -> AsyncIterator[None]:
        """Hold the key's lock for the block (waiting, bounded, for another holder).

        Raises:
            KeyInUse: Another request with the key held it for 30 s.
        """
        name = (user, key)
        lock, users = self._held.get(name, (asyncio.Lock(), 0))
        self._held[name] = (lock, users + 1)
        try:
            try:
                await asyncio.wait_for(lock.acquire(), 30)
            except TimeoutError:
                raise KeyInUse(
                    f"A request with this {HEADER} is still being processed: retry later"
                ) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._held[name]
            if users == 1:
                del self._held[name]
            else:
                self._held[name] = (lock, users - 1)
