"""``/docs``: Swagger UI over ``/openapi.json``, its assets served by the platform itself.

The scripts and styles come from the ``fastapi-swagger`` package (its resources: Swagger UI 5,
which reads OpenAPI 3.1; mounted at ``/docs/assets``) and ``api/static`` (the page's start-up
script), never from a CDN: the docs work offline and no third-party script runs on the
platform's origin. The page carries a
Content-Security-Policy that allows scripts from this origin only (no inline script).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_swagger.resources
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
SWAGGER_UI = Path(fastapi_swagger.resources.__file__).parent  # swagger-ui-bundle.js and css
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tiffin API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
"""


def add_docs(app: FastAPI) -> None:
    """Serves the interactive docs (the app is built with FastAPI's CDN-backed ones off)."""
    app.mount("/docs/assets", StaticFiles(directory=str(SWAGGER_UI)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})

    @app.get("/docs/start.js", include_in_schema=False)
    async def start_script() -> HTMLResponse:
        script = (STATIC / "docs-init.js").read_text()
        return HTMLResponse(script, media_type="text/javascript")
