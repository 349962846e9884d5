"""A record's files (photos, recordings, documents) for the signed-in coordinator.

    GET /records/{record_id}/media/{name}    the file, within the coordinator's scope

The same scope rule as the API (`sync_server.media`): a record outside the coordinator's
district, or a name no revision of the record holds, is the same 404 as a missing file.
Each download is audited (ids only): these files are personal data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from sync_core.media import content_type
from sync_server import media
from sync_server.problems import Problem
from sync_server.workspace import accounts
from sync_server.workspace.web import Workspace


def add_routes(router: APIRouter, ws: Workspace) -> None:
    @router.get("/records/{record_id}/media/{name}", include_in_schema=False)
    def record_file(record_id: str, name: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        try:
            path = media.complete_path(ws.db, ws.data_dir, who.principal, record_id[:64], name)
        except Problem:
            return ws.not_found(request, who)
        ws.db.write(
            lambda conn: accounts.audit(
                conn, who.principal.account_id, "media.download", f"{record_id}/{name}"
            )
        )
        kind = content_type(name)
        # Pictures open in the browser; anything else is saved, never rendered as a page.
        disposition = "inline" if kind.startswith("image/") else "attachment"
        return FileResponse(
            path,
            media_type=kind,
            headers={
                "Content-Disposition": f'{disposition}; filename="{name}"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )
