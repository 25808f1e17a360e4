"""Where a webhook may be sent: URL rules, and the allowlist checked on resolved addresses.

A target URL must be ``http`` or ``https``, at most :data:`MAX_URL` characters, without
credentials or a fragment. Its host is resolved by the server and *every* address it resolves
to must be allowed by ``FLUX_WEBHOOK_ALLOW`` (a network) or the host name itself must be listed;
the delivery then connects to the address that was checked (no second lookup, so no gap for a
DNS answer to change in between). Redirects are checked the same way before they are followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from .config import AllowRule

__all__ = ["MAX_URL", "Target", "TargetRefused", "check_url", "resolve"]

MAX_URL = 2048
"""Longest target URL, in characters."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL may not be used as a webhook target; the message says why."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        """Whether the same URL may pass later (its name did not resolve just now)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked target: where to connect, and what to call it (Host header, TLS name)."""

    url: str
    """The URL as given."""
    scheme: str
    """``http`` or ``https``."""
    host: str
    """Host name (or address) from the URL, lower case, without brackets."""
    port: int
    """TCP port."""
    address: str
    """The checked address to connect to."""
    path: str
    """Path and query to request."""

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the host."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        """The ``Host`` header the receiver expects."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """A URL that passed the syntax rules (not yet the allowlist)."""

    scheme: str
    host: str
    port: int
    path: str


def check_url(url: object) -> ParsedUrl:
    """Check a target URL's syntax: http(s), a host, no credentials, not too long.

    Raises:
        TargetRefused: With the reason.
    """
    if not isinstance(url, str) or not url:
        raise TargetRefused("url must be a non-empty string")
    if len(url) > MAX_URL:
        raise TargetRefused(f"url must be at most {MAX_URL} characters (it has {len(url)})")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise TargetRefused("url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"url is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused(f"url must start with http:// or https://, not {scheme or url!r}")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise TargetRefused("url must not contain credentials (user:password@)")
    if parts.fragment:
        raise TargetRefused("url must not contain a fragment (#...)")
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetRefused("url has no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return ParsedUrl(scheme, host, port or (443 if scheme == "https" else 80), path)


def _name_allowed(host: str, rules: tuple[AllowRule, ...]) -> bool:
    for rule in rules:
        if rule.host is None:
            continue
        if rule.host.startswith(".") and host.endswith(rule.host):
            return True
        if host == rule.host:
            return True
    return False


def _address_allowed(address: Address, rules: tuple[AllowRule, ...]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(
        rule.network is not None
        and rule.network.version == address.version
        and address in rule.network
        for rule in rules
    )


async def resolve(url: object, rules: tuple[AllowRule, ...]) -> Target:
    """Check ``url`` and resolve its host; every address must be allowed (or the name listed).

    Raises:
        TargetRefused: The URL breaks a rule, the host does not resolve, or the host or one of
            its addresses is outside the allowlist (nothing is sent anywhere).
    """
    parsed = check_url(url)
    assert isinstance(url, str)
    if not rules:
        raise TargetRefused(
            "webhooks are disabled on this server: the operator has not set FLUX_WEBHOOK_ALLOW"
        )
    try:
        literal: Address | None = ipaddress.ip_address(parsed.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[str] = [str(literal)]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(parsed.host, parsed.port, type=socket.SOCK_STREAM), 5.0
            )
        except (OSError, TimeoutError) as exc:
            raise TargetRefused(
                f"cannot resolve {parsed.host!r}: {exc or 'timed out'}", retryable=True
            ) from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise TargetRefused(f"{parsed.host!r} resolves to no address")
    named = literal is None and _name_allowed(parsed.host, rules)
    if not named:
        for text in addresses:
            if not _address_allowed(ipaddress.ip_address(text.split("%")[0]), rules):
                shown = parsed.host if literal is not None else f"{parsed.host} ({text})"
                raise TargetRefused(
                    f"{shown} is not allowed by FLUX_WEBHOOK_ALLOW ({', '.join(map(str, rules))})"
                )
    return Target(url, parsed.scheme, parsed.host, parsed.port, addresses[0], parsed.path)
