"""sanic-ext's OpenAPI models keep the fields they kept when they inspected themselves per key."""

from __future__ import annotations

from typing import Any

import pytest
from sanic_ext.extensions.openapi.definitions import Parameter, RequestBody, Response
from sanic_ext.extensions.openapi.types import Definition, Integer, Object, String

from flux_restful_server.http.startup import inspect_openapi_models_once


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (
            Parameter("job_id", Integer(), "path"),
            {"name": "job_id", "description": "A job id", "x-example": "f58"},
        ),
        (Response({"application/json": {}}, "found"), {"description": "found", "status": 200}),
        (RequestBody({"application/json": Object({"command": String()})}), {"required": True}),
        (Object({"command": String()}), {"title": "a job", "additionalProperties": False}),
    ],
    ids=["parameter", "response", "body", "object"],
)
def test_the_faster_filter_keeps_what_sanic_ext_kept(model: Any, fields: dict[str, Any]) -> None:
    inspect_openapi_models_once()
    guard = Definition.guard
    assert getattr(guard, "inspects_once", False)  # in use, as create_app leaves it
    given = {**fields, "bogus": 1, "x-note": "kept", "_private": 2}
    kept = guard(model, given)
    assert kept == guard.replaces(model, given)  # type: ignore[attr-defined]
    assert kept == {**fields, "x-note": "kept"}  # its own fields and extensions, nothing else
