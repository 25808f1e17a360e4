"""What a web page may make a browser do here: no cross-site writes, and safe response headers.

A browser attaches what it holds for this server (the HTTP Basic credentials the web UI asked
for, cookies) to requests that *any* page makes, and with auth off nothing is needed at all: a
page on another site could submit jobs through a server on 127.0.0.1 or stop it. CORS does not
help, because a form post or a ``fetch(..., {mode: "no-cors"})`` is sent before anything is
checked; only the answer is hidden. So every state-changing request (any method but GET, HEAD,
OPTIONS, plus websocket handshakes, which browsers send cross-site without CORS) is refused with
403 and the reason when

1. it says it was made by another site: ``Sec-Fetch-Site`` is present and is neither
   ``same-origin`` nor ``none`` (``same-site`` too: another port of ``localhost`` is the same
   site but another origin), or
2. it has an ``Origin`` that is not this server's (scheme and port normalised; compared with the
   ``Host`` the request was sent to, or one of ``FLUX_TRUSTED_ORIGINS``; ``null`` never matches).

A listed trusted origin is accepted whatever ``Sec-Fetch-Site`` says. Requests with neither
header are what non-browser clients send (curl, the SDK, upstream's 0.2.1 client, its form login),
and go through. As a second line for browsers that send no ``Origin``, an API request that carries
browser-held credentials (``Authorization: Basic`` or any cookie) may not have a body of the three
types a page can send without a CORS preflight (form, multipart, text): 415 with the reason. The
login routes are exempt, since their form body *is* the credential (OAuth2's password form).

Every response also gets ``X-Content-Type-Options: nosniff``; HTML responses get
``frame-ancestors 'none'`` / ``X-Frame-Options: DENY`` and ``Referrer-Policy: same-origin`` unless
they set their own (the web pages send a stricter policy, see ``web/render.py``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse, HTTPResponse, json

from .settings import host_port, normalise_origin

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that must not change anything, so they are never refused here."""
SIMPLE_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
"""Body types a page may send to another origin without a CORS preflight."""
LOGIN_PATHS = frozenset({"/v1/login/access-token", "/v1/token"})
"""API routes whose credentials are in the body or a bearer handshake, not held by the browser."""
SAME_ORIGIN_FETCH = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values that mean "this site, or typed by the user"."""

HTML_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
"""Added to HTML responses that do not set these headers themselves."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused."""

    status: int
    """HTTP status: 403 cross-site, 415 a simple body with browser credentials."""
    code: str
    """Machine-readable code of the JSON body."""
    detail: str
    """The reason, for people."""


def is_own_origin(origin: str, host: str, trusted: Collection[str]) -> bool:
    """Whether ``origin`` is this server's: the ``host`` it was reached at, or a trusted one."""
    normal = normalise_origin(origin)
    if normal is None:
        return False
    if normal in trusted:
        return True
    scheme = normal.partition("://")[0]
    return bool(host) and normal.partition("://")[2] == host_port(scheme, host)


def check_request(
    method: str,
    path: str,
    headers: Any,
    host: str,
    trusted: Collection[str] = (),
) -> Refusal | None:
    """Apply the cross-site policy (module docstring) to one request; ``None`` lets it through.

    Args:
        method: The request method.
        path: The request path.
        headers: The request headers (case-insensitive ``get``).
        host: The host (and port) the client addressed, as the server sees it.
        trusted: Normalised origins accepted besides ``host`` (``FLUX_TRUSTED_ORIGINS``).
    """
    websocket = headers.get("upgrade", "").lower() == "websocket"
    if method.upper() in SAFE_METHODS and not websocket:
        return None
    action = "websocket" if websocket else method.upper()
    origin = headers.get("origin")
    trusted_origin = origin is not None and normalise_origin(origin) in trusted
    fetch_site = headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site and fetch_site not in SAME_ORIGIN_FETCH and not trusted_origin:
        return Refusal(
            403,
            "cross_site_request",
            f"Cross-site request refused: the browser says this {action} request comes from "
            f"another site (Sec-Fetch-Site: {fetch_site}). Only this server's own pages may "
            "change anything from a browser.",
        )
    if origin is not None and not is_own_origin(origin, host, trusted):
        return Refusal(
            403,
            "cross_site_request",
            f"Cross-site request refused: Origin {origin[:200]!r} is not this server's origin "
            f"(the request was sent to {host!r}). If a proxy serves this server under another "
            "address, add that origin to FLUX_TRUSTED_ORIGINS.",
        )
    if websocket or not path.startswith("/v1/") or path.rstrip("/") in LOGIN_PATHS:
        return None
    scheme = headers.get("authorization", "").strip().partition(" ")[0].lower()
    if scheme != "basic" and not headers.get("cookie"):
        return None
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media in SIMPLE_TYPES:
        held = "HTTP Basic" if scheme == "basic" else "cookie"
        return Refusal(
            415,
            "unsupported_media_type",
            f"With {held} credentials the API does not accept {media} bodies, which any web page "
            "can make a browser send. Send application/json (or no body), or use a bearer token.",
        )
    return None


async def refuse_cross_site(request: Request[Any, Any]) -> HTTPResponse | None:
    """Request middleware: answer a refused request before any handler runs."""
    settings = request.app.ctx.settings
    refusal = check_request(
        request.method, request.path, request.headers, request.host, settings.trusted_origins
    )
    if refusal is None:
        return None
    if request.path.startswith("/v1/"):
        return json({"detail": refusal.detail, "code": refusal.code}, status=refusal.status)
    from .web.render import page, tag

    return page("Request refused", tag("p", refusal.detail, class_="error"), status=refusal.status)


async def add_security_headers(request: Request[Any, Any], response: BaseHTTPResponse) -> None:
    """Response middleware: ``nosniff`` everywhere, anti-framing and referrer policy on HTML."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if (response.content_type or "").startswith("text/html"):
        for name, value in HTML_HEADERS.items():
            headers.setdefault(name, value)


def install(app: Sanic[Any, Any]) -> None:
    """Apply the policy to every route of ``app`` (first of the request middleware)."""
    app.on_request(refuse_cross_site, priority=100)
    app.register_middleware(add_security_headers, "response", priority=100)
