"""Coordinator accounts: a national administrator lists and creates them."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sync_server.auth import NATIONAL
from sync_server.workspace import accounts
from sync_server.workspace.web import Workspace


def add_routes(router: APIRouter, ws: Workspace) -> None:
    def page(request: Request, who, *, status: int = 200, **extra) -> Response:
        with ws.db.read() as conn:
            logins = accounts.list_logins(conn)
        districts = sorted({s["district_pcode"] for s in ws.sites if s.get("district_pcode")})
        return ws.render(
            request, who, "accounts.html", status=status, logins=logins,
            districts=districts, national=NATIONAL, **extra,
        )  # fmt: skip

    @router.get("/accounts", include_in_schema=False)
    def account_list(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        if not who.national:
            return ws.not_found(request, who)
        return page(request, who, created=request.query_params.get("created", ""))

    @router.post("/accounts", include_in_schema=False)
    async def create(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        if not who.national:
            return ws.not_found(request, who)
        form = await request.form()
        if refused := ws.refused_post(request, who, form):
            return refused
        district = str(form.get("district", ""))
        known = {s["district_pcode"] for s in ws.sites if s.get("district_pcode")} | {NATIONAL}
        if district not in known:
            return page(request, who, status=400, error="district-unknown")
        try:
            await asyncio.wrap_future(
                ws.db.submit(
                    lambda conn: accounts.create_login(
                        conn,
                        name=str(form.get("name", ""))[:100],
                        username=str(form.get("username", ""))[:60],
                        password=str(form.get("password", ""))[:1000],
                        district=district,
                        created_by=who.account_id,
                    )
                )
            )
        except accounts.AccountError as error:
            return page(request, who, status=400, error=error.key, detail=error.detail)
        return RedirectResponse("/accounts?created=1", status_code=303)
