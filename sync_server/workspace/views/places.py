"""Sites (latest check, every indicator rated, trend) and the outline map."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sync_server.workspace import queries, sites
from sync_server.workspace.maps import Dot, outline_map
from sync_server.workspace.web import Workspace


def add_routes(router: APIRouter, ws: Workspace) -> None:
    async def statuses(who) -> list[sites.SiteStatus]:
        await ws.refresh_index()
        with ws.db.read() as conn:
            rows = conn.execute(
                "SELECT record_id, site_id, head_revision_id, answers, form_id, form_version, "
                "updated_at FROM records WHERE form_id = ? AND " + queries.scope(who.principal)[0],
                [sites.SITE_FORM, *queries.scope(who.principal)[1]],
            ).fetchall()
            households = queries.households_per_site(conn, who.principal)
        in_scope = [s for s in ws.sites
                    if who.national or s.get("district_pcode") == who.district]  # fmt: skip
        return sites.site_statuses(in_scope, rows, ws.form, households)

    @router.get("/sites", include_in_schema=False)
    async def site_list(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        found = await statuses(who)
        return ws.render(request, who, "sites.html", statuses=found, thresholds=sites.thresholds())

    @router.get("/map", include_in_schema=False)
    async def site_map(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        found = await statuses(who)
        outline = outline_map(highlight=None if who.national else {who.district})
        if outline is not None:
            projection = outline.projection  # type: ignore[attr-defined]
            for status in found:
                centre = status.site.get("centre")
                if not centre:
                    continue
                x, y = projection.xy(centre[0], centre[1])
                outline.dots.append(
                    Dot(x, y, status.colour or "none", status.site["name"], status.households,
                        f"/sites#{status.site['site_id']}")
                )  # fmt: skip
        return ws.render(request, who, "map.html", outline=outline, statuses=found)
