"""CSRF protection for the web forms: a double-submit cookie.

Every form carries a hidden ``csrf_token`` equal to the ``flux_csrf`` cookie (HttpOnly,
SameSite=Strict). Another site can neither read the cookie nor set the field, so a forged POST
fails. A POST whose ``Origin``/``Sec-Fetch-Site`` says it came from elsewhere never gets here:
the app-wide cross-site policy (``browser.py``) refuses it first.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

COOKIE = "flux_csrf"
FIELD = "csrf_token"
REJECTED = "Invalid or missing CSRF token. Reload the form and try again."
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


class CsrfRejected(Exception):
    """The POST did not prove that it came from one of our forms."""


def token(request: Request[Any, Any]) -> tuple[str, bool]:
    """Return the browser's CSRF token, or a new one; the flag says whether it is new."""
    current = request.cookies.get(COOKIE)
    if current and _TOKEN.match(current):
        return current, False
    return secrets.token_urlsafe(32), True


def remember(request: Request[Any, Any], response: HTTPResponse, value: str) -> None:
    """Set the CSRF cookie on ``response``."""
    response.add_cookie(
        COOKIE,
        value,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.scheme == "https",
    )


def check(request: Request[Any, Any]) -> None:
    """Accept the POST only if its form token matches the cookie.

    Raises:
        CsrfRejected: The token is missing or wrong.
    """
    cookie = request.cookies.get(COOKIE) or ""
    sent = (request.form.get(FIELD) if request.form else None) or ""
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfRejected(REJECTED)
