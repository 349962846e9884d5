"""Static files (the workspace's CSS and small JS, Swagger UI's bundle) and /docs.

Everything is served from the installed packages: the district office has no internet.
Swagger UI's JS and CSS come from the `fastapi-offline` package (Swagger UI is
Apache-2.0, fastapi-offline MIT); the page that starts it is ours.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

HERE = Path(__file__).resolve().parent.parent
STATIC = HERE / "static"
SWAGGER = Path(fastapi_offline.__file__).resolve().parent / "static"
TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png",
         ".svg": "image/svg+xml"}  # fmt: skip

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Displacement Field Kit sync server: API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css">
<link rel="icon" href="/static/swagger/favicon.png">
</head><body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/docs-init.js"></script>
</body></html>"""


def _file(folder: Path, name: str) -> Response:
    path = (folder / name).resolve()
    if path.parent != folder.resolve() or not path.is_file() or path.suffix not in TYPES:
        return Response(status_code=404)
    return FileResponse(
        path, media_type=TYPES[path.suffix], headers={"Cache-Control": "max-age=3600"}
    )


def add_routes(router: APIRouter) -> None:
    @router.get("/static/swagger/{name}", include_in_schema=False)
    def swagger_file(name: str) -> Response:
        return _file(SWAGGER, name)

    @router.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        return _file(STATIC, name)

    @router.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)
