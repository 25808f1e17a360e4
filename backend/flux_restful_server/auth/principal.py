"""Who is calling: the :class:`Principal` every route acts for."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.owner import Owner

__all__ = ["ALL_SCOPES", "ANONYMOUS", "Principal"]

ALL_SCOPES = frozenset({"read", "submit", "admin"})
"""Every scope: what the anonymous caller (auth off) and a superuser's password have."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller (or the anonymous caller when auth is off)."""

    name: str | None
    """API user name; ``None`` when auth is off."""
    superuser: bool
    """Sees and touches every job; may stop the service."""
    owner: Owner = field(default_factory=Owner)
    """How jobs this caller submits are owned and run."""
    version: str = ""
    """The user's token version when authenticated (a change means removed or deactivated)."""
    scopes: frozenset[str] = ALL_SCOPES
    """What the credentials allow: ``read`` (GET), ``submit`` (changes), ``admin`` (superuser)."""
    via: str = "anonymous"
    """How the caller authenticated: ``anonymous`` (auth off), ``password`` (HTTP Basic),
    ``access_token`` (a login's JWT) or ``personal_token``."""
    token_id: str | None = None
    """The personal token's id when ``via`` is ``personal_token`` (for the audit log)."""
    family: str | None = None
    """The sign-in (refresh token family) of an ``access_token``: revoking it ends streams."""

    @property
    def sees_all(self) -> bool:
        """Whether listings and job reads are unrestricted."""
        return self.superuser or self.name is None


ANONYMOUS = Principal(name=None, superuser=True)
"""The caller when auth is off: may do everything, owns nothing."""
