"""Moving a record to another district or site (sync_server.transfer): a choice on the
record's page, a confirmation page that says what the move does, then the move."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sync_server import transfer
from sync_server.problems import Problem
from sync_server.workspace import queries
from sync_server.workspace.web import Workspace


def add_routes(router: APIRouter, ws: Workspace) -> None:
    @router.get("/records/{record_id}/transfer", include_in_schema=False)
    def confirm_page(record_id: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        with ws.db.read() as conn:
            row = queries.record_row(conn, who.principal, record_id[:64])
        site = _site(ws, str(request.query_params.get("site_id", "")))
        if row is None:
            return ws.not_found(request, who)
        if site is None:
            return ws.render(request, who, "error.html", status=400, message_key="transfer-no-site")
        return ws.render(
            request, who, "transfer.html", record=row, site=site,
            site_names={s["site_id"]: s["name"] for s in ws.sites},
        )  # fmt: skip

    @router.post("/records/{record_id}/transfer", include_in_schema=False)
    async def move(record_id: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        form_data = await request.form()
        if refused := ws.refused_post(request, who, form_data):
            return refused
        site = _site(ws, str(form_data.get("site_id", "")))
        if site is None:
            return ws.render(request, who, "error.html", status=400, message_key="transfer-no-site")
        principal = who.principal
        try:
            await asyncio.wrap_future(
                ws.db.submit(
                    lambda conn: transfer.transfer_record(
                        conn, principal, record_id[:64], site["district_pcode"], site["site_id"]
                    )
                )
            )
        except Problem as problem:
            if problem.code == "out-of-scope":
                ws.db.write(lambda conn: transfer.audit_refusal(conn, principal, record_id[:64]))
            if problem.code == "not-found":
                return ws.not_found(request, who)
            key = "transfer-refused" if problem.code == "out-of-scope" else "transfer-invalid"
            return ws.render(request, who, "error.html", status=problem.status, message_key=key)
        return RedirectResponse(f"/records/{record_id[:64]}?moved=1", status_code=303)


def _site(ws: Workspace, site_id: str) -> dict | None:
    return next((s for s in ws.sites if s["site_id"] == site_id), None)
