"""The API reference at ``/docs``: Swagger UI from an installed package, nothing from a CDN.

sanic-ext's own page loads Swagger UI from a CDN, so every visitor's browser would ask a third
party for code that then runs with the visitor's credentials for this server; it also fetches
its OAuth2 redirect page from jsdelivr on the server. app.py turns that page off; this module
serves the ``swagger-ui-bundle`` package's copy of Swagger UI in the site's layout instead, under
a policy that lets the page load nothing from elsewhere. The OpenAPI document stays at
``/docs/openapi.json`` (sanic-ext) and ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from sanic import Sanic
from sanic.response import HTTPResponse
from sanic_ext import openapi

from ..http import AppRequest
from .assets import swagger_response
from .render import SECURITY_HEADERS, Safe, page

DOCS_HEADERS = {
    **SECURITY_HEADERS,
    # Swagger UI sets inline styles (never scripts); fonts and images are data: URLs at most.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
"""The web pages' headers, with the inline styles Swagger UI needs."""

SWAGGER_UI = Safe(
    '<link rel="stylesheet" href="/docs/assets/swagger-ui.css">\n'
    '<div id="swagger-ui"></div>\n'
    '<script src="/docs/assets/swagger-ui-bundle.js"></script>\n'
    '<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>\n'
    '<script src="/static/apidocs.js"></script>'
)


@openapi.exclude()
async def api_docs(request: AppRequest) -> HTTPResponse:
    return page("API", SWAGGER_UI, headers=DOCS_HEADERS, active="docs")


@openapi.exclude()
async def api_docs_asset(request: AppRequest, name: str) -> HTTPResponse:
    response = swagger_response(name, request.headers.get("if-none-match"))
    if response is None:
        return HTTPResponse(
            f"There is no Swagger UI file {name!r}.",
            status=404,
            content_type="text/plain; charset=utf-8",
        )
    return response


def install(app: Sanic[Any, Any]) -> None:
    """Serve ``/docs`` and its files on ``app``."""
    # sanic-ext's start-up banner links to the route named "openapi.index", its own page's name.
    app.add_route(api_docs, "/docs", name="openapi.index")
    app.add_route(api_docs_asset, "/docs/assets/<name:str>", name="apidocs_asset")
