"""Access tokens (pyjwt, HS256 with a server-only key) and the upstream shared-secret handshake."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

ALGORITHMS = ["HS256"]
"""The only algorithm accepted when decoding; ``none`` and asymmetric ones are refused."""

SCOPES = ("read", "submit", "admin")
"""Every scope an access token can carry."""

SIGNING_KEY_FILE = "token-signing.key"
"""Name of the generated signing key in the state dir."""

ISSUER = "flux-restful"
"""The ``iss`` claim of our access tokens."""


class TokenError(Exception):
    """A token could not be used; the message is safe to show."""


class TokenExpired(TokenError):
    """The token's ``exp`` is in the past."""


class InvalidToken(TokenError):
    """The token is malformed, forged, or signed with another key or algorithm."""


class HandshakeError(TokenError):
    """The ``/v1/token`` handshake credentials cannot be used (always a 400)."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token."""

    sub: str
    """User name."""
    scopes: frozenset[str]
    """Granted scopes."""
    version: str
    """The user's ``token_version`` when the token was issued."""
    backend: str
    """Auth backend that issued it."""
    exp: int
    """Expiry, seconds since the epoch."""
    family: str | None = None
    """The sign-in (refresh token family) that issued it; revoking the family refuses it."""


@dataclass(frozen=True, slots=True)
class HandshakeCredentials:
    """What the 0.2.1 client puts in its handshake JWT."""

    user: str
    """User name."""
    password: str
    """Password, in clear (a JWT is signed, not encrypted)."""


def load_signing_key(configured: str | None, state_dir: Path) -> tuple[bytes, str]:
    """Return the access-token signing key and where it came from.

    ``FLUX_TOKEN_SIGNING_KEY`` wins; otherwise a random key is generated once into
    ``state_dir/token-signing.key`` (mode 0600) so restarts and workers agree.

    Returns:
        ``(key, source)``, the source being ``"FLUX_TOKEN_SIGNING_KEY"`` or the file path.

    Raises:
        TokenError: The key file cannot be created or read.
    """
    if configured:
        return configured.encode(), "FLUX_TOKEN_SIGNING_KEY"
    path = state_dir / SIGNING_KEY_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            # Written aside, then linked into place: server workers starting together never
            # read a half-written key, and the first link wins.
            fd, spare = tempfile.mkstemp(dir=state_dir, prefix=".signing-")
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48) + "\n")
                with contextlib.suppress(FileExistsError):
                    os.link(spare, path)
            finally:
                os.unlink(spare)
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        key = path.read_text().strip()
    except OSError as exc:
        raise TokenError(f"Cannot create or read the token signing key {path}: {exc}") from None
    if len(key) < 32:
        raise TokenError(f"The token signing key in {path} is too short; delete it to regenerate")
    return key.encode(), str(path)


def issue_access_token(
    key: bytes,
    *,
    user: str,
    scopes: frozenset[str],
    version: str,
    backend: str,
    expires_minutes: int,
    now: float | None = None,
    family: str | None = None,
) -> str:
    """Sign an access token for ``user`` (``family``: the sign-in it belongs to, if any)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": user,
        "iat": issued,
        "exp": issued + expires_minutes * 60,
        "scope": " ".join(s for s in SCOPES if s in scopes),
        "iss": ISSUER,
        "ver": version,
        "backend": backend,
        "jti": secrets.token_hex(8),  # two tokens issued in the same second still differ
    }
    if family is not None:
        claims["fam"] = family
    return jwt.encode(claims, key, algorithm="HS256")


def decode_access_token(key: bytes, token: str) -> AccessClaims:
    """Verify an access token and return its claims.

    Raises:
        TokenExpired: It has expired.
        InvalidToken: Anything else is wrong with it.
    """
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("Token expired") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("Invalid token") from None
    sub, scope, ver, backend = (claims.get(k) for k in ("sub", "scope", "ver", "backend"))
    if not all(isinstance(v, str) for v in (sub, scope, ver, backend)):
        raise InvalidToken("Invalid token")
    assert isinstance(sub, str) and isinstance(scope, str)
    assert isinstance(ver, str) and isinstance(backend, str)
    family = claims.get("fam")
    if family is not None and not isinstance(family, str):
        raise InvalidToken("Invalid token")
    return AccessClaims(
        sub=sub,
        scopes=frozenset(scope.split()) & frozenset(SCOPES),
        version=ver,
        backend=backend,
        exp=int(claims["exp"]),
        family=family,
    )


def decode_handshake(secret_key: str, authorization: str | None) -> HandshakeCredentials:
    """Decode the upstream handshake: ``Bearer <HS256 JWT {"user","pass","scope":"token"}>``.

    Like upstream, only the last word of the header is used.

    Raises:
        HandshakeError: With upstream 1.1.0's messages.
    """
    if not authorization or not authorization.strip():
        raise HandshakeError("Missing Authorization header")
    encoded = authorization.split()[-1]
    try:
        with warnings.catch_warnings():
            # Upstream deployments use short shared secrets (the container's default has 12
            # bytes); the operator is warned once at start-up instead of on every handshake.
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            payload = jwt.decode(
                encoded, secret_key, algorithms=ALGORITHMS, options={"verify_exp": True}
            )
    except jwt.InvalidTokenError:
        raise HandshakeError("Could not decode credentials") from None
    if not isinstance(payload, dict):
        raise HandshakeError("Could not decode credentials")
    for field in ("user", "pass", "scope"):
        value = payload.get(field)
        if not isinstance(value, str) or not value:
            raise HandshakeError(f"Credentials are missing '{field}'")
    if payload["scope"] != "token":
        raise HandshakeError("Invalid scope")
    return HandshakeCredentials(user=payload["user"], password=payload["pass"])
