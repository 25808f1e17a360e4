"""The request layer under the blueprints: typed app and requests, parameters, access, JSON.

Blueprints (``jobs``, ``streams``, ``web``, ``service``, auth's views) import from here and never
from each other or from ``app.py``, which only assembles them.
"""

from __future__ import annotations

from .access import (
    MAX_GUEST_URGENCY,
    caller_filter,
    check_dependencies,
    check_urgency,
    visible_job,
)
from .context import App, AppContext, AppRequest
from .params import check_search_regex, job_id_arg, query_bool, query_int
from .responses import dumps, encode, raw_json
from .submit import submit_job, submit_policy, validate_submit

__all__ = [
    "MAX_GUEST_URGENCY",
    "App",
    "AppContext",
    "AppRequest",
    "caller_filter",
    "check_dependencies",
    "check_search_regex",
    "check_urgency",
    "dumps",
    "encode",
    "job_id_arg",
    "query_bool",
    "query_int",
    "raw_json",
    "submit_job",
    "submit_policy",
    "validate_submit",
    "visible_job",
]
