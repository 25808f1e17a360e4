"""``python -m flux_restful_client.cli``."""

from __future__ import annotations

from . import main

main()
