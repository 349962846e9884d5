"""The living site list on the workspace: open a site, close one with its date, confirm or
merge a site an enumerator found in the field. Each change is a `sync_server.sites` call
(audited there); tablets get the new list at their next sync."""

from __future__ import annotations

import asyncio
import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from forms.geo import SITE_TYPES
from sync_server import sites
from sync_server.workspace.web import Workspace

STATUSES = ("open", "closed", "proposed", "merged")


def _number(text: object) -> float | None:
    try:
        return float(str(text).replace(",", ".").strip())
    except ValueError:
        return None


def add_routes(router: APIRouter, ws: Workspace) -> None:
    def page(request: Request, who, *, status: int = 200, **extra) -> Response:
        with ws.db.read() as conn:
            rows = sites.list_sites(
                conn, district=None if who.national else who.district, statuses=STATUSES
            )
        districts = (
            sorted({s["district_pcode"] for s in rows if s.get("district_pcode")})
            if who.national else [who.district]
        )  # fmt: skip
        return ws.render(
            request, who, "site_list.html", status=status, sites=rows, districts=districts,
            site_types=sorted(SITE_TYPES), today=dt.date.today().isoformat(),
            listed=[s for s in rows if s["status"] in sites.LISTED], **extra,
        )  # fmt: skip

    async def change(request: Request, who, task, done: str) -> Response:
        """Run one change in the writer; the page again with the reason when refused."""
        try:
            await asyncio.wrap_future(ws.db.submit(task))
        except sites.SiteError as error:
            return page(request, who, status=400, error=f"site-error-{error.code}")
        return RedirectResponse(f"/sites/list?done={done}", status_code=303)

    @router.get("/sites/list", include_in_schema=False)
    def site_list(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        done = request.query_params.get("done")
        return page(request, who, done=done if done in ("added", "closed", "confirmed",
                                                        "merged") else None)  # fmt: skip

    @router.post("/sites/add", include_in_schema=False)
    async def add(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        form = await request.form()
        if refused := ws.refused_post(request, who, form):
            return refused
        district = str(form.get("district", "")) if who.national else who.district
        return await change(
            request,
            who,
            lambda conn: sites.add_site(
                conn,
                name=str(form.get("name", "")),
                site_type=str(form.get("site_type", "")),
                district=district,
                lat=_number(form.get("lat", "")),
                lon=_number(form.get("lon", "")),
                opened=str(form.get("opened", "")),
                account_id=who.account_id,
                scope=who.district,
            ),
            "added",
        )

    @router.post("/sites/{site_id}/{action}", include_in_schema=False)
    async def act(site_id: str, action: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        form = await request.form()
        if refused := ws.refused_post(request, who, form):
            return refused
        site_id = site_id[:64]
        if action == "close":
            closed = str(form.get("closed", ""))
            task = lambda conn: sites.close_site(  # noqa: E731
                conn, site_id, closed=closed, account_id=who.account_id, scope=who.district
            )
            return await change(request, who, task, "closed")
        if action == "confirm":
            task = lambda conn: sites.confirm_site(  # noqa: E731
                conn, site_id, account_id=who.account_id, scope=who.district
            )
            return await change(request, who, task, "confirmed")
        if action == "merge":
            into = str(form.get("into", ""))[:64]
            task = lambda conn: sites.merge_site(  # noqa: E731
                conn, site_id, into, account_id=who.account_id, scope=who.district
            )
            return await change(request, who, task, "merged")
        return ws.not_found(request, who)
