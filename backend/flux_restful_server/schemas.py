"""OpenAPI schemas of the API's bodies and parameters, so that ``/openapi.json`` says what we send.

The schema-driven fuzz test (tests/backend/test_fuzz.py) checks every response against these: a
route that documents its success body also documents ``default`` as the one error shape, so any
error that is not ``{"detail", "code"}`` (a traceback page, a Sanic text error) is a failure.
"""

# sanic-ext's schema types are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sanic_ext import openapi
from sanic_ext.extensions.openapi.types import (
    Array,
    Boolean,
    Integer,
    Long,
    Object,
    Schema,
    String,
)

from .limits import MAX_INT

F = TypeVar("F", bound=Callable[..., Any])

NUMBER = Schema(type="number")
JOB_ID = Long(minimum=0, description="The job id (a 64-bit FLUID).")
NULLABLE_STRING = Schema(anyOf=[String(), Schema(type="null")])

ERROR = Object(
    {
        "detail": String(description="What was wrong, for people."),
        "code": String(description="A stable machine code (`invalid_request`, `not_found`, ...)."),
    },
    required=["detail", "code"],
    description="Every error the server itself raises.",
)
SUBMIT_OK = Object({"Message": String(), "id": JOB_ID}, required=["Message", "id"])
SUBMIT_INVALID = Object(
    {"Message": String(), "Errors": Array(String()), "Error": String()},
    required=["Message"],
    description="Upstream's shape: `Errors` lists every problem, `Error` is a refusal's reason.",
)
SUBMIT_REFUSED = Schema(anyOf=[SUBMIT_INVALID, ERROR])
DRY_RUN = Object(
    {"Message": String(), "dry_run": Boolean(), "request": Object(), "jobspec": Object()},
    required=["Message", "dry_run", "request"],
    description="A dry run: the normalised request (and the flux executor's jobspec).",
)
SUBMIT_ANSWER = Schema(anyOf=[SUBMIT_OK, DRY_RUN])
BATCH_RESULT = Object(
    {
        "index": Integer(minimum=0),
        "id": JOB_ID,
        "status": Integer(),
        "code": String(),
        "detail": String(),
        "errors": Array(String()),
        "request": Object(),
        "jobspec": Object(),
    },
    required=["index"],
    description="One entry: `id` when accepted, `status`/`code`/`detail`/`errors` when not, "
    "`request` (and `jobspec`) in a dry run.",
)
BATCH_ANSWER = Object(
    {
        "Message": String(),
        "ids": Array(Schema(anyOf=[JOB_ID, Schema(type="null")])),
        "accepted": Integer(minimum=0),
        "failed": Integer(minimum=0),
        "dry_run": Boolean(),
        "results": Array(BATCH_RESULT),
        "detail": String(),
        "code": String(),
    },
    required=["Message", "ids", "accepted", "failed", "dry_run", "results"],
    description="One result per entry, in order; `detail` and `code` when no job was accepted.",
)
BATCH_REFUSED = Schema(anyOf=[BATCH_ANSWER, ERROR])
JOBSPEC_BODY = {
    "application/json": Object(description="A Flux jobspec, version 1 (RFC 25)."),
    "application/yaml": String(description="The same jobspec as YAML."),
}
JOB_SUMMARY = Object(
    {
        "id": JOB_ID,
        "state": String(),
        "result": String(),
        "name": String(),
        "user": NULLABLE_STRING,
        "t_submit": NUMBER,
    },
    required=["id", "state", "result", "name", "t_submit"],
)
JOB_INFO = Object(
    {"id": JOB_ID, "state": String(), "name": String(), "user": NULLABLE_STRING},
    required=["id", "state"],
    description="Flux's job-list fields plus returncode, runtime, exception and user.",
)
JOB_LIST = Schema(
    anyOf=[
        Object({"jobs": Array(JOB_SUMMARY)}, required=["jobs"]),
        Array(JOB_INFO),
        Object(additionalProperties=JOB_INFO),
    ]
)
SEARCH = Object(
    {
        "data": Array(JOB_INFO),
        "draw": Schema(anyOf=[String(), Integer()]),
        "recordsTotal": Integer(minimum=0),
        "recordsFiltered": Integer(minimum=0),
    },
    required=["data", "draw", "recordsTotal", "recordsFiltered"],
)
CANCELLED = Object({"Message": String(), "id": JOB_ID}, required=["Message", "id"])
CANCEL_REFUSED = Schema(anyOf=[CANCELLED, ERROR])
URGENCY_SET = Object(
    {"Message": String(), "id": JOB_ID, "urgency": Integer(), "old_urgency": Integer()},
    required=["Message", "id", "urgency", "old_urgency"],
)
URGENCY_BODY = Object(
    {"urgency": Schema(anyOf=[Integer(minimum=0, maximum=31), String()])},
    required=["urgency"],
    description="0-31, or Flux's words `hold` (0), `default` (16), `expedite` (31).",
)
SIGNALLED = Object(
    {"Message": String(), "id": JOB_ID, "signal": Integer(), "name": String()},
    required=["Message", "id", "signal", "name"],
)
SIGNAL_BODY = Object(
    {"signal": Schema(anyOf=[Integer(minimum=1), String()])},
    description="A signal name (`SIGUSR1`, `USR1`) or number; SIGTERM when absent.",
)
BULK_CANCEL_BODY = Object(
    {
        "ids": Schema(anyOf=[Array(Schema(anyOf=[String(), JOB_ID])), String()]),
        "state": Schema(anyOf=[Array(String()), String()]),
        "name": String(),
        "user": String(),
        "all": Boolean(),
    },
    description="At least one filter; they combine (a job must match all).",
)
BULK_CANCELLED = Object(
    {"Message": String(), "count": Integer(minimum=0), "ids": Array(JOB_ID)},
    required=["Message", "count", "ids"],
)
OUTPUT = Schema(
    anyOf=[
        Object({"Output": Array(Schema(anyOf=[String(), Object()]))}, required=["Output"]),
        Object({"Message": String()}, required=["Message"]),
    ]
)
EVENTLOG = Object(
    {
        "id": JOB_ID,
        "events": Array(
            Object(
                {"seq": Integer(), "name": String(), "timestamp": NUMBER, "context": Object()},
                required=["seq", "name", "timestamp", "context"],
            )
        ),
    },
    required=["id", "events"],
)
NODES = Object(
    {"nodes": Array(String()), "detail": Array(Object())},
    required=["nodes"],
)
SUBMIT_BODY = Object(
    {
        "command": Schema(anyOf=[String(), Array(String())]),
        "num_tasks": Integer(),
        "cores_per_task": Integer(),
        "gpus_per_task": Integer(),
        "num_nodes": Integer(),
        "exclusive": Boolean(),
        "option_flags": Schema(anyOf=[String(), Object(additionalProperties=String())]),
        "envars": Object(additionalProperties=String()),
        "workdir": String(),
        "runtime": NUMBER,
        "is_launcher": Boolean(),
        "name": String(),
        "urgency": Integer(),
        "webhook_url": String(),
        "queue": String(),
        "dry_run": Boolean(),
        "dependency": Schema(anyOf=[String(), Array(String())]),
    },
    description="The submit fields as JSON (any of them may come from the query string instead).",
)
BATCH_BODY = Schema(
    anyOf=[
        Array(SUBMIT_BODY),
        Object({"jobs": Array(SUBMIT_BODY), "cc": String(), "dry_run": Boolean()}),
        SUBMIT_BODY,
    ],
    description="Job objects: an array, `{jobs: [...]}`, or one job (with `cc`).",
)


SCOPE = String(enum=["read", "submit", "admin"])
TOKEN_FIELDS = {
    "id": String(description="Public id (16 hex digits): what revoking names."),
    "name": String(),
    "user": String(description="The owner."),
    "scopes": Array(SCOPE),
    "created": Integer(description="Seconds since the epoch."),
    "expires": Integer(description="Seconds since the epoch."),
    "last_used": Schema(anyOf=[Integer(), Schema(type="null")], description="To the minute."),
}
_TOKEN_REQUIRED = ["id", "name", "user", "scopes", "created", "expires", "last_used"]
TOKEN_INFO = Object(TOKEN_FIELDS, required=_TOKEN_REQUIRED)
TOKEN_CREATED = Object(
    {**TOKEN_FIELDS, "token": String(description="The secret: shown this once.")},
    required=[*_TOKEN_REQUIRED, "token"],
)
TOKEN_LIST = Object({"tokens": Array(TOKEN_INFO)}, required=["tokens"])
TOKEN_REVOKED = Object({"Message": String(), "id": String()}, required=["Message", "id"])
TOKEN_REQUEST = Object(
    {
        "name": String(minLength=1, maxLength=64, description="What the token is for (`ci`)."),
        "scope": Schema(
            anyOf=[SCOPE, Array(SCOPE)],
            description="`read` (GET only), `submit` (and read), `admin` (and both; superusers "
            "only); a list names scopes exactly. Default `read`.",
        ),
        "expires_in": Integer(
            minimum=60,
            description="Lifetime in seconds (default 30 days; at most "
            "FLUX_PERSONAL_TOKEN_MAX_DAYS).",
        ),
    },
    required=["name"],
)
ME = Object(
    {
        "user": NULLABLE_STRING,
        "superuser": Boolean(description="Sees and touches every job (needs the admin scope)."),
        "scopes": Array(SCOPE),
        "auth": String(
            enum=["anonymous", "password", "access_token", "personal_token"],
            description="How this request authenticated.",
        ),
        "backend": String(),
        "server_mode": String(),
        "token": Schema(
            anyOf=[
                Object({"id": String(), "name": String(), "expires": Integer()}),
                Schema(type="null"),
            ],
            description="The personal token used, if any.",
        ),
    },
    required=["user", "superuser", "scopes", "auth", "backend", "server_mode"],
)


def json_body(schema: Schema) -> dict[str, Any]:
    """A JSON content mapping for :func:`openapi.response` and :func:`openapi.body`."""
    return {"application/json": schema}


def answers(ok: Schema, *, status: int = 200, **more: Schema) -> Callable[[F], F]:
    """Document a JSON route: ``ok`` for ``status``, ``more`` (``s400=...``) for others.

    Any other status is documented as ERROR.
    """

    def decorate(handler: F) -> F:
        handler = openapi.response("default", json_body(ERROR), "An error")(handler)
        for key, schema in more.items():
            handler = openapi.response(int(key[1:]), json_body(schema), "See the schema")(handler)
        return openapi.response(status, json_body(ok), "OK")(handler)

    return decorate


def int_param(name: str, *, minimum: int = 0, description: str = "") -> Callable[[F], F]:
    """Document an integer query parameter with the range the server accepts."""
    schema = Long(
        minimum=minimum, maximum=MAX_INT, **({"description": description} if description else {})
    )
    return openapi.parameter(name, schema, "query")
