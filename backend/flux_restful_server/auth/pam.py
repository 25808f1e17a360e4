"""The ``pam`` backend: check system passwords through the optional ``python-pam`` package."""

from __future__ import annotations

from typing import Any

MISSING_MESSAGE = (
    "FLUX_AUTH_BACKEND=pam needs the python-pam package: install it with "
    "pip install 'flux-restful[pam]' (or pip install python-pam)."
)


class PamUnavailable(RuntimeError):
    """``python-pam`` is not installed."""


def load_pam() -> Any:
    """Return the ``pam`` module.

    Raises:
        PamUnavailable: ``python-pam`` is missing.
    """
    try:
        import pam
    except ImportError:
        raise PamUnavailable(MISSING_MESSAGE) from None
    return pam


def pam_check(module: Any, service: str, user: str, password: str) -> bool:
    """Return whether PAM ``service`` accepts ``password`` for ``user`` (blocking; run in a thread).

    A fresh ``pam.pam()`` per call: the object keeps per-attempt state and is not thread-safe.
    """
    try:
        return bool(module.pam().authenticate(user, password, service=service))
    except Exception:  # a broken PAM stack must read as "refused", never as a 500
        return False
