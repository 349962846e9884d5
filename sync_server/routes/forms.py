"""The published forms: the list and the files, for tablets to download."""

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from sync_core.protocol import API_PREFIX, FormInfo
from sync_server.catalog import form_info, published_forms
from sync_server.problems import Problem
from sync_server.routes.deps import Caller, Context

router = APIRouter(prefix=API_PREFIX, tags=["forms"])


@router.get("/forms", response_model=list[FormInfo])
def list_forms(ctx: Context, who: Caller) -> list[dict[str, Any]]:
    """Every published form version; `current` marks the one to use for new records."""
    with ctx.db.read() as conn:
        return [form_info(f) for f in published_forms(conn)]


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
