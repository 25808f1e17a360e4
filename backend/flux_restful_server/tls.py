"""HTTPS: check the certificate and key once at start-up, so a bad pair is one clear line."""

from __future__ import annotations

import ssl
from pathlib import Path

from .settings import SettingsError

__all__ = ["server_ssl_context"]


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SettingsError(f"{flag} {path}: no such file") from None
    except IsADirectoryError:
        raise SettingsError(f"{flag} {path}: is a directory, not a PEM file") from None
    except OSError as exc:
        raise SettingsError(f"{flag} {path}: cannot read it ({exc.strerror})") from None


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's password.
    raise SettingsError("--tls-key is encrypted: give the server an unencrypted key file")


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later) serving ``cert`` with ``key``.

    Raises:
        SettingsError: A file is missing or unreadable, is not PEM, or the key does not belong
            to the certificate.
    """
    if b"-----BEGIN CERTIFICATE-----" not in _read(cert, "--tls-cert"):
        raise SettingsError(f"--tls-cert {cert}: not a PEM certificate (no BEGIN CERTIFICATE)")
    key_pem = _read(key, "--tls-key")
    if b"PRIVATE KEY-----" not in key_pem:
        raise SettingsError(f"--tls-key {key}: not a PEM private key (no BEGIN ... PRIVATE KEY)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise SettingsError(
                f"--tls-key {key} is not the private key of --tls-cert {cert} (they do not match)"
            ) from None
        raise SettingsError(
            f"cannot load --tls-cert {cert} with --tls-key {key}: {exc.reason or exc}"
        ) from None
    return context
