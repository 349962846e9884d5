"""The coordinator's workspace: web pages served by the sync server at `/`.

    app.include_router(workspace.router(db, data_dir=data_dir, sites=sites))

Server-rendered pages (Jinja2, Portuguese by default, English on request), static files
from the package, no CDN and almost no JavaScript, so it works at a district office with
no internet. Modules:

    accounts    coordinator passwords (argon2), sessions, lockout, audit log
    index       the record list's index table, filters and accent-tolerant search
    queries     the SQL behind the pages, scoped to the coordinator's district
    present     answers with the form's labels, repeats as tables, revision changes
    sites       transit sites rated against the minimum standards
    maps        outline maps as inline SVG from the local GeoJSON
    i18n        the pages' text in Portuguese and English
    web         templates, the signed-in coordinator, CSRF, security headers
    views/      one module per page

The "Exports" page streams sync_server/exports; the "Duplicates" page reviews the pairs
sync_server/duplicates finds (views/exports.py, views/duplicates.py, pairs.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from sync_server.db import Database
from sync_server.workspace import index

log = logging.getLogger("sync_server.workspace")


def router(db: Database, *, data_dir: Path, sites: list[dict[str, Any]]) -> APIRouter:
    """Every workspace route for one server."""
    from sync_server.workspace.views import (
        admin,
        assets,
        conflicts,
        diaspora,
        duplicates,
        exports,
        media,
        overview,
        places,
        records,
        session,
        site_list,
        tablets,
        transfer,
    )
    from sync_server.workspace.web import Workspace

    ws = Workspace(db, Path(data_dir), sites)
    # Bring the record index up to date now, in the writer's queue, rather than on the
    # first page view (after an upgrade of a server holding 100,000 records: ~20 s).
    db.submit(index.refresh).add_done_callback(_log_failure)
    routes = APIRouter()
    assets.add_routes(routes)
    views = (session, overview, records, media, transfer, conflicts, tablets, site_list, places,
             diaspora, exports, duplicates, admin)  # fmt: skip
    for view in views:
        view.add_routes(routes, ws)
    return routes


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("record index refresh failed: %s", type(future.exception()).__name__)
