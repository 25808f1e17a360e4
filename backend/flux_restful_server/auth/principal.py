"""Who is calling: the :class:`Principal` every route acts for."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.owner import Owner

__all__ = ["ANONYMOUS", "Principal"]


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

    @property
    def sees_all(self) -> bool:
        """Whether listings and job reads are unrestricted."""
        return self.superuser or self.name is None


ANONYMOUS = Principal(name=None, superuser=True)
"""The caller when auth is off: may do everything, owns nothing."""
