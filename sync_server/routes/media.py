"""Record media: resumable chunked uploads and downloads of the files records name.

    GET /api/v1/media/{record_id}/{name}/status   what the server holds (the resume offset)
    PUT /api/v1/media/{record_id}/{name}          one chunk (application/octet-stream)
    GET /api/v1/media/{record_id}/{name}          the complete file, within your scope

The logic is in `sync_server.media`; the protocol in `sync_core.media`.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from sync_core.media import MAX_CHUNK_BYTES, MAX_MEDIA_BYTES, content_type, is_media_name
from sync_core.protocol import API_PREFIX, ID_PATTERN
from sync_server import media
from sync_server.problems import Problem
from sync_server.routes.deps import Caller, Context

router = APIRouter(prefix=API_PREFIX, tags=["media"])

MEDIA_PATH = f"{API_PREFIX}/media/"
OCTET_STREAM = "application/octet-stream"

RecordId = Annotated[str, Path(pattern=ID_PATTERN, description="the record's id")]
Name = Annotated[str, Path(max_length=120, description="the file name the answer holds")]
Sha256 = Annotated[str, Query(pattern=r"^[0-9a-f]{64}$")]


def _check_name(name: str) -> None:
    if not is_media_name(name):
        raise Problem(
            "media-type",
            f"{name!r} is not a record file the server accepts: a name of letters, digits, "
            "'-' and '_' with an image, audio, video, PDF, CSV or text extension.",
        )


@router.get("/media/{record_id}/{name}/status")
def media_status(record_id: RecordId, name: Name, ctx: Context, who: Caller) -> dict:
    """How many bytes of the file the server holds: send the next chunk from there."""
    _check_name(name)
    return media.status(ctx.db, ctx.data_dir, who, record_id, name).as_dict()


@router.put(
    "/media/{record_id}/{name}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"One chunk of the file, at most {MAX_CHUNK_BYTES} bytes.",
            "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def media_chunk(
    request: Request,
    record_id: RecordId,
    name: Name,
    ctx: Context,
    who: Caller,
    offset: Annotated[int, Query(ge=0, le=MAX_MEDIA_BYTES)],
    size: Annotated[int, Query(ge=1, description="the whole file's size in bytes")],
    sha256: Sha256,
    chunk_sha256: Sha256,
) -> dict:
    """Store one chunk at `offset`; the answer is the file's status after it."""
    if who.role == "coordinator":
        raise Problem("forbidden", "Coordinator accounts read; they can't upload files.")
    _check_name(name)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != OCTET_STREAM:
        raise Problem(
            "content-type",
            f"A file chunk is sent as {OCTET_STREAM!r}, not {media_type or 'none'!r}. "
            "Nothing was stored.",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CHUNK_BYTES:
        raise Problem("too-large", f"A chunk is at most {MAX_CHUNK_BYTES} bytes; nothing stored.")
    data = bytearray()
    try:
        async for part in request.stream():
            data += part
            if len(data) > MAX_CHUNK_BYTES:
                raise Problem(
                    "too-large", f"A chunk is at most {MAX_CHUNK_BYTES} bytes; nothing stored."
                )
    except ClientDisconnect:
        raise Problem("disconnected", "The chunk was cut off; nothing was stored.") from None
    result = await run_in_threadpool(
        media.receive_chunk,
        ctx.db,
        ctx.data_dir,
        who,
        record_id,
        name,
        offset=offset,
        size=size,
        sha256=sha256,
        chunk_sha256=chunk_sha256,
        data=bytes(data),
    )
    return result.as_dict()


@router.get("/media/{record_id}/{name}", response_class=FileResponse)
def media_file(record_id: RecordId, name: Name, ctx: Context, who: Caller) -> FileResponse:
    """The complete file, for an account whose scope covers the record."""
    _check_name(name)
    path = media.complete_path(ctx.db, ctx.data_dir, who, record_id, name)
    return FileResponse(path, media_type=content_type(name), filename=name)
