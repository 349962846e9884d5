"""Tablets and enumerators: enroll one from the page (code + QR), revoke, last sync."""

from __future__ import annotations

import asyncio
import base64
import io

import qrcode
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sync_core.protocol import enrollment_uri
from sync_server import auth
from sync_server.workspace import queries
from sync_server.workspace.web import Workspace

MAX_NAME = 100


def qr_data_uri(text: str) -> str:
    """A QR code as a PNG data: URI (allowed by the page's img-src; no file written)."""
    buffer = io.BytesIO()
    qrcode.make(text, box_size=6, border=2).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def add_routes(router: APIRouter, ws: Workspace) -> None:
    def page(request: Request, who, *, status: int = 200, **extra) -> Response:
        with ws.db.read() as conn:
            devices = queries.devices(conn, who.principal)
            enumerators = queries.enumerators(conn, who.principal)
            codes = queries.pending_codes(conn, who.principal)
        districts = (
            sorted({s["district_pcode"] for s in ws.sites if s.get("district_pcode")})
            if who.national else [who.district]
        )  # fmt: skip
        sites = [s for s in ws.sites if who.national or s.get("district_pcode") == who.district]
        return ws.render(
            request, who, "tablets.html", status=status, devices=devices,
            enumerators=enumerators, codes=codes, districts=districts, sites=sites, **extra,
        )  # fmt: skip

    @router.get("/tablets", include_in_schema=False)
    def tablets(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        return page(request, who)

    @router.post("/tablets/enroll", include_in_schema=False)
    async def enroll(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        form = await request.form()
        if refused := ws.refused_post(request, who, form):
            return refused
        name = " ".join(str(form.get("enumerator", "")).split())[:MAX_NAME]
        district = str(form.get("district", "")) if who.national else who.district
        site = str(form.get("site", ""))
        known_districts = {s["district_pcode"] for s in ws.sites} | {who.district}
        if not name:
            return page(request, who, status=400, error="enumerator-missing")
        if district not in known_districts or district == auth.NATIONAL:
            return page(request, who, status=400, error="district-unknown")
        if site and not any(
            s["site_id"] == site and s.get("district_pcode") == district for s in ws.sites
        ):
            return page(request, who, status=400, error="site-unknown")
        code, expires = await asyncio.wrap_future(
            ws.db.submit(
                lambda conn: auth.create_code(
                    conn, name=name, district=district, sites=[site] if site else []
                )
            )
        )
        ws.audit(who.account_id, "tablet.code", auth.sha256(auth.normalise_code(code))[:12])
        server_url = str(request.base_url).rstrip("/")
        uri = enrollment_uri(code, server_url)
        return page(
            request, who, new_code=code, expires=auth.iso(expires), qr=qr_data_uri(uri),
            enroll_uri=uri, enrolled_name=name,
        )  # fmt: skip

    @router.post("/tablets/{device_id}/revoke", include_in_schema=False)
    async def revoke(device_id: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        form = await request.form()
        if refused := ws.refused_post(request, who, form):
            return refused
        with ws.db.read() as conn:
            row = conn.execute(
                "SELECT district FROM accounts WHERE account_id = ? AND role = 'device'",
                (device_id[:64],),
            ).fetchone()
        if row is None or not who.principal.covers(row["district"], None):
            return ws.not_found(request, who)
        await asyncio.wrap_future(ws.db.submit(lambda conn: auth.revoke(conn, device_id=device_id)))
        ws.audit(who.account_id, "tablet.revoke", device_id)
        return RedirectResponse("/tablets?revoked=1", status_code=303)
