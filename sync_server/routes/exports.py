"""`GET /api/v1/exports/{form_id}`: a coordinator downloads an export of a form.

The export is written to a temporary file in `<data dir>/exports/` from one consistent
snapshot (see sync_server/exports), then streamed in 64 KiB chunks with its
Content-Length, so a browser shows real progress; the file is removed when the download
ends, finished or not. A request that can't be exported gets a JSON problem before any
byte of the file: 404 unknown form, 403 out of scope, 422 bad options or format.

For the coordinator's web pages: a page can fetch it with the Authorization header and
save the body (the Content-Length gives the progress), or link to it once the page's own
sign-in is accepted by the `Caller` dependency.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at import time.
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from sync_core.protocol import API_PREFIX
from sync_server.exports import (
    MEDIA_TYPE,
    ExportError,
    ExportOptions,
    default_file_name,
    export,
    parse_date,
)
from sync_server.problems import Problem
from sync_server.routes.deps import Caller, Context

router = APIRouter(prefix=API_PREFIX, tags=["exports"])

CHUNK_BYTES = 64 * 1024
# Already compressed: the server's gzip would only cost CPU and hide the length.
_COMPRESSED = {"csvzip", "xlsx"}
# ExportOptions' names for what the query string calls otherwise.
_PARAMETER = {"date_from": "from", "date_to": "to", "site_id": "site", "shareable": "full"}


@router.get(
    "/exports/{form_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media in MEDIA_TYPE.values()}}},
)
async def download_export(
    form_id: str,
    ctx: Context,
    who: Caller,
    format: Annotated[str, Query(description="csvzip, xlsx, geojson or hxl")] = "csvzip",
    date_from: Annotated[
        str | None, Query(alias="from", description="YYYY-MM-DD, record created on/after")
    ] = None,
    date_to: Annotated[str | None, Query(alias="to", description="YYYY-MM-DD, inclusive")] = None,
    district: Annotated[str | None, Query(description="your district (default)")] = None,
    site: str | None = None,
    enumerator: str | None = None,
    status: Annotated[
        str | None, Query(description="clean, soft-conflict or open-conflict")
    ] = None,
    codes: Annotated[bool, Query(description="choice names instead of labels")] = False,
    language: Annotated[str | None, Query(description="labels' language: pt, en")] = None,
    open_conflicts: Annotated[
        str, Query(pattern="^(include|exclude)$", description="records in open conflict")
    ] = "include",
    every_revision: bool = False,
    full: Annotated[bool, Query(description="personal data too: needs `purpose`; audited")] = False,
    purpose: str = "",
    threshold: Annotated[int, Query(ge=1, le=1000)] = 5,
) -> Response:
    """Export a form's records in your district: a shareable file by default (no personal
    or sensitive data, untraceable ids, GPS at the site, small counts suppressed);
    `full=true` with a `purpose` for everything, recorded in the audit log. The body
    streams with its Content-Length."""
    folder = ctx.data_dir / "exports"
    try:
        options = ExportOptions(
            form_id=form_id,
            format=format,
            date_from=parse_date(date_from, "from"),
            date_to=parse_date(date_to, "to"),
            district=district,
            site_id=site,
            enumerator=enumerator,
            status=status,
            labels=not codes,
            language=language,
            include_open_conflicts=open_conflicts == "include",
            every_revision=every_revision,
            shareable=not full,
            threshold=threshold,
            purpose=purpose,
        ).check()
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(folder)
        name = default_file_name(options)
        path = folder / f"{uuid.uuid4().hex}-{name}"
        summary = await run_in_threadpool(export, ctx.db, options, path, principal=who)
    except ExportError as error:
        where = _PARAMETER.get(error.where, error.where)
        raise Problem(
            error.code,
            error.message,
            [{"where": where, "message": error.message}] if where else [],
            status=error.status,
        ) from None
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(path.stat().st_size),
        "X-Export-Records": str(summary.records),
        "Cache-Control": "no-store",
    }
    if options.format in _COMPRESSED:
        headers["Content-Encoding"] = "identity"
    return StreamingResponse(
        _chunks(path),
        media_type=MEDIA_TYPE[options.format],
        headers=headers,
        background=BackgroundTask(_remove, path),
    )


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _remove_stale(folder: Path, age_s: float = 3600) -> None:
    """Files of downloads that were cut off (their clean-up may not have run)."""
    limit = time.time() - age_s
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                path.unlink()
