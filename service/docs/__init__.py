"""The API explorer at /docs: Swagger UI (vendored from the npm registry, see README) rendering
openapi.yaml, served by the service itself with a Content-Security-Policy of 'self' only."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory
from werkzeug.exceptions import NotFound

blueprint = Blueprint("docs", __name__)

_HERE = Path(__file__).resolve().parent
_STATIC = _HERE / "static"
# the only files served from static/ (the licences sit beside them, for the checkout)
_ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css", "explorer.js"}
_ASSET_MAX_AGE = 3600
# Everything from this origin, nothing else: no CDN, no inline script or style, no framing
# by others. Swagger UI's few data: icons in its CSS are left out with the rest.
CSP = "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>agegate API explorer</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="explorer"></div>
<noscript>The explorer needs JavaScript; the API description itself is <a href="/openapi.yaml">openapi.yaml</a>.</noscript>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/explorer.js"></script>
</body>
</html>
"""


def _strict(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    return response


@blueprint.get("/docs")
def explorer() -> Response:
    return _strict(Response(_PAGE, mimetype="text/html"))


@blueprint.get("/docs/assets/<name>")
def asset(name: str) -> Response:
    if name not in _ASSETS:
        raise NotFound("no such explorer asset")
    return _strict(send_from_directory(_STATIC, name, max_age=_ASSET_MAX_AGE))


@blueprint.get("/openapi.yaml")
def openapi() -> Response:
    """The API description the explorer renders (the repository's openapi.yaml, shipped in the package)."""
    response = send_from_directory(_HERE, "openapi.yaml", mimetype="application/yaml", max_age=_ASSET_MAX_AGE)
    return _strict(response)
