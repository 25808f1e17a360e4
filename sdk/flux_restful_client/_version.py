"""The SDK's version."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.3.0"
"""Above upstream's last ``flux-restful-client`` (0.2.1): this distribution takes its name and
place, so ``pip install --upgrade`` moves an upstream user onto it."""
