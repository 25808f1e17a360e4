"""Webhook settings: where deliveries may go, how long they are retried, how many at once.

Read once from the ``FLUX_WEBHOOK_*`` variables (docs/webhooks.md) into :class:`WebhookSettings`,
which the server's :class:`~flux_restful_server.settings.Settings` holds as ``webhooks``.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["AllowRule", "WebhookSettings", "parse_allow"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebhookSettingsError(ValueError):
    """A ``FLUX_WEBHOOK_*`` variable has an unusable value (the message names it)."""


@dataclass(frozen=True, slots=True)
class AllowRule:
    """One item of ``FLUX_WEBHOOK_ALLOW``: a network, a host name, or ``*.domain``."""

    network: Network | None = None
    """Addresses in this network are allowed (``127.0.0.0/8``, ``10.1.2.3``)."""
    host: str | None = None
    """This host name (lower case) is allowed, whatever it resolves to; ``.example.org`` for a
    suffix (written ``*.example.org``)."""

    def __str__(self) -> str:
        if self.network is not None:
            return str(self.network)
        host = self.host or ""
        return f"*{host}" if host.startswith(".") else host


LOOPBACK = (
    AllowRule(network=ipaddress.ip_network("127.0.0.0/8")),
    AllowRule(network=ipaddress.ip_network("::1/128")),
)


def parse_allow(text: str) -> tuple[AllowRule, ...]:
    """Parse ``FLUX_WEBHOOK_ALLOW``: comma-separated networks, addresses, hosts, ``*.domain``.

    ``loopback`` stands for ``127.0.0.0/8,::1``.

    Raises:
        WebhookSettingsError: An item is none of these.
    """
    rules: list[AllowRule] = []
    for raw in text.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        if item == "loopback":
            rules += LOOPBACK
            continue
        try:
            rules.append(AllowRule(network=ipaddress.ip_network(item, strict=False)))
            continue
        except ValueError:
            pass
        name = item[1:] if item.startswith("*.") else item
        labels = name.split(".")
        if (
            not name
            or "/" in name
            or not all(
                label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label)
                for label in labels
            )
        ):
            raise WebhookSettingsError(
                "FLUX_WEBHOOK_ALLOW items must be networks (10.0.0.0/8), addresses, host names "
                f"or *.domain, or 'loopback'; not {raw.strip()!r}"
            )
        rules.append(AllowRule(host="." + name if item.startswith("*.") else name))
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """How the server delivers webhooks."""

    allow: tuple[AllowRule, ...] = ()
    """Where deliveries may go (``FLUX_WEBHOOK_ALLOW``); empty: nowhere (webhooks are off)."""
    workers: int = 8
    """Deliveries in flight at once (``FLUX_WEBHOOK_WORKERS``)."""
    timeout: float = 10.0
    """Seconds one attempt may take, connecting to the last byte (``FLUX_WEBHOOK_TIMEOUT``)."""
    backoff: float = 5.0
    """Seconds before the first retry; each next one waits twice as long, with up to 25%
    jitter (``FLUX_WEBHOOK_BACKOFF``)."""
    backoff_max: float = 3600.0
    """Longest wait between two attempts (``FLUX_WEBHOOK_BACKOFF_MAX``)."""
    max_age: float = 86400.0
    """A delivery is retried until it is this many seconds old (``FLUX_WEBHOOK_MAX_AGE``)."""
    pause_after: float = 86400.0
    """A subscription whose deliveries failed for this many seconds in a row is paused
    (``FLUX_WEBHOOK_PAUSE_AFTER``)."""
    redirects: int = 0
    """Redirects followed per attempt, each target checked like the first
    (``FLUX_WEBHOOK_REDIRECTS``); 0: a redirect is a failed attempt."""
    rotate_grace: float = 86400.0
    """Seconds the old secret still signs after a rotation (``FLUX_WEBHOOK_ROTATE_GRACE``)."""
    max_response: int = 64 * 1024
    """Bytes of a receiver's answer read at most; the rest is never read."""

    @property
    def enabled(self) -> bool:
        """Whether any target is allowed."""
        return bool(self.allow)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookSettings:
        """Read the ``FLUX_WEBHOOK_*`` variables.

        Raises:
            WebhookSettingsError: A variable has an unusable value.
        """
        values: dict[str, object] = {"allow": parse_allow(env.get("FLUX_WEBHOOK_ALLOW", ""))}
        for var, key in (
            ("FLUX_WEBHOOK_TIMEOUT", "timeout"),
            ("FLUX_WEBHOOK_BACKOFF", "backoff"),
            ("FLUX_WEBHOOK_BACKOFF_MAX", "backoff_max"),
            ("FLUX_WEBHOOK_MAX_AGE", "max_age"),
            ("FLUX_WEBHOOK_PAUSE_AFTER", "pause_after"),
            ("FLUX_WEBHOOK_ROTATE_GRACE", "rotate_grace"),
        ):
            text = env.get(var, "").strip()
            if text:
                values[key] = _seconds(var, text, positive=key not in ("rotate_grace",))
        for var, key, low in (("FLUX_WEBHOOK_WORKERS", "workers", 1),
                              ("FLUX_WEBHOOK_REDIRECTS", "redirects", 0)):  # fmt: skip
            text = env.get(var, "").strip()
            if text:
                try:
                    number = int(text)
                except ValueError:
                    raise WebhookSettingsError(f"{var} must be an integer, not {text!r}") from None
                if not low <= number <= 256:
                    raise WebhookSettingsError(f"{var} must be between {low} and 256, not {text}")
                values[key] = number
        return cls(**values)  # type: ignore[arg-type]


def _seconds(var: str, text: str, *, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise WebhookSettingsError(
            f"{var} must be a number of seconds {'above' if positive else 'of at least'} 0, "
            f"not {text!r}"
        )
    return value
