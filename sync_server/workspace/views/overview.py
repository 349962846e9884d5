"""The overview: what arrived today and in total, tablets, refused uploads, conflicts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sync_server.workspace import queries
from sync_server.workspace.web import Workspace, language


def add_routes(router: APIRouter, ws: Workspace) -> None:
    @router.get("/", include_in_schema=False)
    async def overview(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        await ws.refresh_index()
        principal = who.principal
        with ws.db.read() as conn:
            context = {
                **queries.overview_counts(conn, principal),
                "devices": queries.devices(conn, principal)[:20],
                "rejections": queries.rejections(conn, principal, 15),
                "rejection_total": queries.rejection_count(conn, principal),
                "open_conflicts": queries.open_conflicts(conn, principal),
            }
        titles = dict(ws.current_forms(language(request)))
        site_names = {s["site_id"]: s["name"] for s in ws.sites}
        return ws.render(
            request, who, "overview.html", titles=titles, site_names=site_names, **context
        )
