"""`GET /api/v1/exports/{form_id}`: a coordinator downloads an export of a form.

The export streams (sync_server/exports/stream.py): its first bytes leave while later
rows are still being read from one consistent snapshot, and memory does not grow with
the number of records. Its length is unknown until the end, so there is no
Content-Length: a browser shows the bytes received. A request that can't be exported
gets a JSON problem before any byte of the file: 404 unknown form, 403 out of scope,
422 bad options or format. Only repeat tables wait in `<data dir>/exports/` while the
main table streams; they are removed when the download ends, finished or not.

The workspace's Exports page (sync_server/workspace/views/exports.py) streams the same
way for a signed-in coordinator.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at import time.
import contextlib
import shutil
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from sync_core.protocol import API_PREFIX
from sync_server.exports import (
    MEDIA_TYPE,
    ExportError,
    ExportOptions,
    default_file_name,
    parse_date,
    prepare,
)
from sync_server.exports.stream import stream
from sync_server.problems import Problem
from sync_server.routes.deps import Caller, Context

router = APIRouter(prefix=API_PREFIX, tags=["exports"])

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
    streams as it is written (no Content-Length)."""
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
        prepared = await run_in_threadpool(prepare, ctx.db, options, principal=who)
    except ExportError as error:
        where = _PARAMETER.get(error.where, error.where)
        raise Problem(
            error.code,
            error.message,
            [{"where": where, "message": error.message}] if where else [],
            status=error.status,
        ) from None
    return streamed_response(prepared, folder)


def streamed_response(prepared, folder: Path) -> StreamingResponse:
    """The download of a prepared export: its headers, then its bytes as they come."""
    options = prepared.options
    headers = {
        "Content-Disposition": f'attachment; filename="{default_file_name(options)}"',
        # Counted in the snapshot the export reads: the number of records in the file.
        "X-Export-Records": str(prepared.total),
        "Cache-Control": "no-store",
    }
    if options.format in _COMPRESSED:
        headers["Content-Encoding"] = "identity"
    return StreamingResponse(
        stream(prepared, folder), media_type=MEDIA_TYPE[options.format], headers=headers
    )


def _remove_stale(folder: Path, age_s: float = 3600) -> None:
    """Spooled tables of downloads that were cut off (if their clean-up did not run)."""
    limit = time.time() - age_s
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink()
