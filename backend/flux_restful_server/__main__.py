"""``python -m flux_restful_server`` runs the ``flux-restful`` command."""

from __future__ import annotations

from .cli import main

main()
