"""The HTTP API: `create_app(data_dir)` builds the FastAPI application.

The app is small on purpose: it opens the database, publishes the forms, starts the
validation workers, and includes one thin router per area (`sync_server.routes`, where the
endpoints are listed). Every error becomes JSON `{"error": code, "message": ...,
"problems": [...]}` in one place (`sync_server.problems`), with a 4xx status that says what
was wrong, where, and what to do. Upload checks live in `sync_server.ingest`. Logs name
revision ids and counts, never answers, names or phone numbers. The coordinator's web
pages (`/`, `/records`, ..., `/docs`) are `sync_server.workspace`, included by one line.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from forms import FORMS_DIR, FormLoadError, bundled_form_paths
from sync_core.hlc import MAX_DRIFT_MS
from sync_core.protocol import API_PREFIX, PROTOCOL_VERSION, ErrorBody, PushRequest
from sync_server import problems, sites, validation, workspace
from sync_server.catalog import PublishError, form_files, publish_form
from sync_server.context import ServerContext
from sync_server.db import Database
from sync_server.guards import EnrollThrottle, JsonBodiesOnly
from sync_server.routes import ROUTERS

log = logging.getLogger("sync_server")

MAX_BODY_BYTES = 1024 * 1024  # compressed, as it crosses the wire
MAX_JSON_BYTES = 8 * 1024 * 1024  # after decompression: a gzip bomb stops here

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 500)
}


def create_app(
    data_dir: Path | str,
    forms_dir: Path | str | None = None,
    *,
    sites_path: Path | str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_json_bytes: int = MAX_JSON_BYTES,
    validation_workers: int | None = None,
    max_clock_drift_ms: int = MAX_DRIFT_MS,
    enroll_throttle: EnrollThrottle | None = None,
) -> FastAPI:
    """The sync server for one data directory (its SQLite file and published forms).

    The forms in `forms_dir` (default: the bundled ones) are published at start; forms
    published earlier stay available. The living site list (`sync_server.sites`) is seeded
    once, at the first start, from `sites_path`, default
    `<forms_dir>/data/transit_sites.geojson`. Uploads are validated in
    `validation_workers` processes (None: one per core; 0: in the server process).
    A revision whose HLC is more than `max_clock_drift_ms` ahead of the server's clock is
    ordered as if it arrived now. Failed enrollments are throttled by `enroll_throttle`.
    """
    data_dir = Path(data_dir)
    db = Database(data_dir)
    _publish_dir(db, data_dir, Path(forms_dir) if forms_dir else None)
    if sites_path is None:
        sites_path = Path(forms_dir or FORMS_DIR) / "data" / "transit_sites.geojson"
        if not sites_path.is_file():
            sites_path = FORMS_DIR / "data" / "transit_sites.geojson"
    seeded = db.write(lambda conn: sites.seed(conn, Path(sites_path)))
    if seeded:
        log.info("site list seeded with %d sites from %s", seeded, sites_path)
    context = ServerContext(
        data_dir=data_dir,
        db=db,
        sites=sites.SiteList(db),
        validator=validation.make_executor(validation_workers),
        validation_workers=validation_workers,
        max_body_bytes=max_body_bytes,
        max_json_bytes=max_json_bytes,
        max_clock_drift_ms=max_clock_drift_ms,
        enroll_throttle=enroll_throttle or EnrollThrottle(),
        audit_secret=_audit_secret(db),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        with db.read() as conn:
            paths = [str(path) for path in form_files(conn, data_dir).values()]
        if not isinstance(context.validator, validation.InlineExecutor):
            for _ in range(validation.worker_count(validation_workers)):
                context.validator.submit(validation.warm, paths)  # start the workers now
        yield
        context.validator.shutdown(wait=True, cancel_futures=True)
        db.close()

    app = FastAPI(
        title="Displacement Field Kit sync server",
        version=f"{PROTOCOL_VERSION}.0",
        description="Merges uploads from offline tablets without losing or duplicating a "
        "record. See docs/sync-protocol.md.",
        lifespan=lifespan,
        responses=_ERROR_RESPONSES,
        # /docs is served by the workspace from local files (FastAPI's loads a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.db = db
    app.state.context = context
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(JsonBodiesOnly, prefix=f"{API_PREFIX}/")
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            # /push reads its (gzip) body itself, so FastAPI doesn't list its model.
            _, definitions = models_json_schema(
                [(PushRequest, "validation")], ref_template="#/components/schemas/{model}"
            )
            schema["components"]["schemas"].update(definitions.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    app.include_router(workspace.router(db, data_dir=data_dir, sites=context.sites))
    return app


def _publish_dir(db: Database, data_dir: Path, forms_dir: Path | None) -> None:
    # .md: pyxform's markdown XLSForm, handy for small test forms.
    paths = (
        sorted([*forms_dir.glob("*.xlsx"), *forms_dir.glob("*.md")])
        if forms_dir
        else bundled_form_paths()
    )
    for path in paths:
        try:
            form, new = db.write(lambda conn, path=path: publish_form(conn, data_dir, path))
        except FormLoadError as error:
            log.error(
                "not publishing %s: %d problem(s) in the form", path.name, len(error.problems)
            )
        except PublishError as error:
            log.error("not publishing %s: %s", path.name, error)
        else:
            if new:
                log.info("published form %s version %s", form.form_id, form.version)


def _audit_secret(db: Database) -> str:
    """The key that hashes client addresses in the audit log (made by migration 2)."""
    with db.read() as conn:
        return conn.execute("SELECT value FROM meta WHERE key = 'audit_secret'").fetchone()[0]
