"""Signing deliveries the Standard Webhooks way, with the ``standardwebhooks`` library.

Each delivery carries ``webhook-id`` (stable across retries, so receivers can drop repeats),
``webhook-timestamp`` (of this attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256>``
of ``id.timestamp.body`` for the current secret, and for the previous one too while a rotation's
grace period lasts, so a receiver holding either verifies.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

__all__ = ["new_secret", "sign_headers"]

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign_headers(msg_id: str, body: bytes, secrets_: list[str], now: float) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every secret given."""
    when = datetime.fromtimestamp(int(now), tz=UTC)
    text = body.decode()
    signatures = [Webhook(secret).sign(msg_id, when, text) for secret in secrets_]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": " ".join(signatures),
    }
