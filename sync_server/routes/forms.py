"""The published forms: the list and the files, for tablets to download."""

import hashlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from sync_core.protocol import API_PREFIX, FormInfo
from sync_server import sites
from sync_server.catalog import form_attachments, form_info, published_forms
from sync_server.problems import Problem
from sync_server.routes.deps import Caller, Context

router = APIRouter(prefix=API_PREFIX, tags=["forms"])


@router.get("/forms", response_model=list[FormInfo])
def list_forms(ctx: Context, who: Caller) -> list[dict[str, Any]]:
    """Every published form version; `current` marks the one to use for new records."""
    with ctx.db.read() as conn:
        live = sites.live_attachments(conn)
        return [form_info(f, ctx.data_dir, live) for f in published_forms(conn)]


@router.get(
    "/forms/{form_id}/{version}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_form(form_id: str, version: str, ctx: Context, who: Caller) -> FileResponse:
    """The form file exactly as published (an XLSForm); its sha256 is in the list."""
    with ctx.db.read() as conn:
        found = [f for f in published_forms(conn) if (f.form_id, f.version) == (form_id, version)]
    if not found:
        raise Problem(
            "unknown-form", f"Form {form_id!r} version {version!r} is not published here."
        )
    form = found[0]
    return FileResponse(
        ctx.data_dir / "forms" / form.file_name,
        media_type="application/octet-stream",
        filename=f"{form.form_id}-{form.version}{Path(form.file_name).suffix}",
        headers={"X-Content-SHA256": form.sha256},
    )


@router.get(
    "/forms/{form_id}/{version}/attachments/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_attachment(
    form_id: str, version: str, name: str, ctx: Context, who: Caller
) -> FileResponse:
    """A file published with the form (CSV/GeoJSON for choices and lookups, media); its
    sha256 is in the form list."""
    with ctx.db.read() as conn:
        found = [f for f in published_forms(conn) if (f.form_id, f.version) == (form_id, version)]
    # Only a name the form lists: never a path a caller makes up.
    attachment = next(
        (a for f in found for a in form_attachments(ctx.data_dir, f) if a.name == name), None
    )
    if attachment is None:
        raise Problem(
            "unknown-attachment",
            f"Form {form_id!r} version {version!r} has no attachment {name!r}.",
        )
    if name in sites.LIVE_FILES:
        # The server's own current file (the site list), not the one published with it.
        with ctx.db.read() as conn:
            content = sites.live_attachments(conn)[name]
        return Response(
            content,
            media_type="application/octet-stream",
            headers={
                "X-Content-SHA256": hashlib.sha256(content).hexdigest(),
                "Content-Disposition": f'attachment; filename="{name}"',
            },
        )
    folder = Path(found[0].file_name).parent
    return FileResponse(
        ctx.data_dir / "forms" / folder / attachment.name,
        media_type="application/octet-stream",
        filename=attachment.name,
        headers={"X-Content-SHA256": attachment.sha256},
    )
