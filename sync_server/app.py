"""The HTTP API: `create_app(data_dir)` builds the FastAPI application.

Endpoints (all under /api/v1 except /health and /openapi.json; every one except /health,
/openapi.json and /api/v1/enroll needs `Authorization: Bearer <token>`):

    GET  /health                              liveness, server id
    POST /api/v1/enroll                       one-time code + device id -> token
    POST /api/v1/push                         a gzip batch of revisions -> status of each
    POST /api/v1/push/status                  which of these revision ids do you hold?
    GET  /api/v1/pull?cursor=&limit=          others' revisions in my scope, forms, sites
    POST /api/v1/state                        is my copy in sync, or must I resync?
    GET  /api/v1/forms                        published forms and versions
    GET  /api/v1/forms/{form_id}/{version}    the form file
    GET  /api/v1/records/{record_id}          a record's merged state
    GET  /api/v1/conflicts                    conflicts for review (coordinators)
    POST /api/v1/conflicts/{id}/resolve       a coordinator's decision (coordinators)

Every error is JSON `{"error": code, "message": ..., "problems": [...]}` with a 4xx status
that says what was wrong, where, and what to do. Logs name revision ids and counts, never
answers, names or phone numbers.
"""

# No `from __future__ import annotations`: FastAPI must see the dependency types defined
# inside create_app at definition time.
import asyncio
import datetime as dt
import json
import logging
import zlib
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from forms import FORMS_DIR, FormLoadError, bundled_form_paths
from forms.paths import format_path
from forms.validation import rejection_reason
from sync_core.protocol import (
    API_PREFIX,
    MAX_CURSOR,
    PROTOCOL_VERSION,
    ConflictList,
    EnrollRequest,
    EnrollResponse,
    ErrorBody,
    FormInfo,
    Health,
    PullResponse,
    PushRequest,
    PushResponse,
    PushStatusRequest,
    PushStatusResponse,
    RecordState,
    ResolveRequest,
    StateRequest,
    StateResponse,
)
from sync_server import auth, records, validation
from sync_server.auth import Principal
from sync_server.catalog import PublishError, load_sites, publish_form, published_forms
from sync_server.db import Database

log = logging.getLogger("sync_server")

MAX_BODY_BYTES = 1024 * 1024  # compressed, as it crosses the wire
MAX_JSON_BYTES = 8 * 1024 * 1024  # after decompression: a gzip bomb stops here
PULL_PAGE_BYTES = 96 * 1024  # of revision JSON per page (about 20 KB gzipped)


class ApiError(Exception):
    """An error a client can act on: becomes a JSON ErrorBody with this status."""

    def __init__(
        self, status: int, code: str, message: str, problems: list[dict[str, Any]] | None = None
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.problems = problems or []


def _error_response(error: ApiError) -> JSONResponse:
    body = ErrorBody(error=error.code, message=error.message, problems=error.problems)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(body.model_dump(), status_code=error.status, headers=headers)


def _problems(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as {where, message}; never the input value (it may be personal)."""
    problems = []
    for error in errors:
        where = format_path(part for part in error.get("loc", ()) if part != "body")
        problems.append({"where": where, "message": error.get("msg", "invalid")})
    return problems


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422)
}


def create_app(
    data_dir: Path | str,
    forms_dir: Path | str | None = None,
    *,
    sites_path: Path | str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_json_bytes: int = MAX_JSON_BYTES,
    validation_workers: int | None = None,
) -> FastAPI:
    """The sync server for one data directory (its SQLite file and published forms).

    The forms in `forms_dir` (default: the bundled ones) are published at start; forms
    published earlier stay available. The site list is read from `sites_path`, default
    `<forms_dir>/data/transit_sites.geojson`. Uploads are validated in
    `validation_workers` processes (None: one per core; 0: in the server process).
    """
    data_dir = Path(data_dir)
    db = Database(data_dir)
    _publish_dir(db, data_dir, Path(forms_dir) if forms_dir else None)
    if sites_path is None:
        sites_path = Path(forms_dir or FORMS_DIR) / "data" / "transit_sites.geojson"
        if not sites_path.is_file():
            sites_path = FORMS_DIR / "data" / "transit_sites.geojson"
    sites = load_sites(Path(sites_path))
    validator = validation.make_executor(validation_workers)
    # Batches are validated one at a time, each spread over the worker processes' cores
    # when large enough: the first tablets in a rush get their answer first.
    validation_slots = asyncio.Semaphore(1)
    bearer = HTTPBearer(
        auto_error=False,
        description="The token from POST /api/v1/enroll (devices) or `sync-server "
        "coordinator` (coordinators).",
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        with db.read() as conn:
            paths = [str(path) for path in form_files(conn).values()]
        if not isinstance(validator, validation.InlineExecutor):
            for _ in range(validation.worker_count(validation_workers)):
                validator.submit(validation.warm, paths)  # start the workers now
        yield
        validator.shutdown(wait=True, cancel_futures=True)
        db.close()

    app = FastAPI(
        title="Displacement Field Kit sync server",
        version=f"{PROTOCOL_VERSION}.0",
        description="Merges uploads from offline tablets without losing or duplicating a "
        "record. See docs/sync-protocol.md.",
        lifespan=lifespan,
        responses=_ERROR_RESPONSES,
    )
    app.state.db = db
    app.add_middleware(GZipMiddleware, minimum_size=1000)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return _error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error_response(
                ApiError(400, "bad-json", "The request body is not valid JSON.", _problems(errors))
            )
        return _error_response(
            ApiError(422, "invalid", "The request does not match the protocol.", _problems(errors))
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http")
        return _error_response(ApiError(error.status_code, code, str(error.detail)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # The type only: an exception's text can quote data.
        log.error("unexpected %s on %s %s", type(error).__name__, request.method, request.url.path)
        return JSONResponse(
            ErrorBody(
                error="internal",
                message="The server failed on this request; nothing was stored from it. "
                "Try again later; if it persists, give the server log to the administrator.",
            ).model_dump(),
            status_code=500,
        )

    # --- authentication ------------------------------------------------------------------

    def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        if credentials is None or not credentials.credentials:
            raise ApiError(
                401,
                "auth",
                "Missing 'Authorization: Bearer <token>' header. Enroll this device with a "
                "code from your supervisor first.",
            )
        with db.read() as conn:
            found = auth.principal_for_token(conn, credentials.credentials)
        if found == "revoked":
            raise ApiError(
                401,
                "revoked",
                "This device's access was revoked. Ask your supervisor for a new enrollment "
                "code; records saved on the tablet are kept.",
            )
        if not isinstance(found, Principal):
            raise ApiError(
                401,
                "auth",
                "Unknown token. Enroll this device again with a new code from your supervisor.",
            )
        return found

    Caller = Annotated[Principal, Depends(principal)]

    def coordinator(who: Caller) -> Principal:
        if who.role != "coordinator":
            raise ApiError(403, "forbidden", "Only coordinator accounts can review conflicts.")
        return who

    # --- endpoints -----------------------------------------------------------------------

    @app.get("/health", response_model=Health, tags=["server"])
    def health() -> Health:
        """Liveness; no token needed."""
        return Health(status="ok", server_id=db.server_id, protocol=PROTOCOL_VERSION)

    @app.post(f"{API_PREFIX}/enroll", response_model=EnrollResponse, tags=["enrollment"])
    async def enroll(body: EnrollRequest) -> EnrollResponse:
        """Trade a one-time enrollment code for a long-lived token bound to this device."""
        try:
            token, who = await asyncio.wrap_future(
                db.submit(lambda conn: auth.redeem_code(conn, body.code, body.device_id))
            )
        except auth.EnrollmentError as error:
            status = 409 if error.code in ("used", "device-id-taken") else 403
            raise ApiError(status, error.code, error.message) from None
        log.info("enrolled %s account %s", who.role, who.account_id)
        return EnrollResponse(
            token=token,
            device_id=who.account_id,
            role=who.role,
            district=who.district,
            sites=list(who.sites),
            server_id=db.server_id,
        )

    @app.post(
        f"{API_PREFIX}/push",
        response_model=PushResponse,
        tags=["sync"],
        responses={422: {"model": PushResponse, "description": "every revision rejected"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "PushRequest as JSON, normally with `Content-Encoding: gzip`.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PushRequest"}}
                },
            }
        },
    )
    async def push(request: Request, who: Caller) -> Response:
        """Store a batch of revisions in one transaction; answer after the durable commit.

        Status 200 when at least one revision is stored or was already held (or the batch
        is empty), 422 when every revision was rejected: both carry one result per
        revision. Retrying a batch is always safe.
        """
        if who.role == "coordinator":
            raise ApiError(403, "forbidden", "Coordinator accounts read; they can't push.")
        raw = await _read_body(request, max_body_bytes, max_json_bytes)
        data = _parse_json(raw)
        try:
            batch = PushRequest.model_validate(data)
        except ValidationError as error:
            raise ApiError(
                422,
                "invalid",
                "The push does not match the protocol; nothing was stored.",
                _problems(error.errors()),
            ) from None
        if batch.device_id != who.account_id:
            raise ApiError(
                403,
                "wrong-device",
                f"The batch says device {batch.device_id!r} but the token belongs to "
                f"{who.account_id!r}. Each tablet pushes with its own token.",
            )
        revisions_raw: list[dict[str, Any]] = data["revisions"]
        language = _language(request.headers.get("accept-language"))
        async with validation_slots:
            items, forbidden = await run_in_threadpool(
                _check_batch, who, batch, revisions_raw, language
            )
        if forbidden:
            raise ApiError(
                403,
                "out-of-scope",
                f"{len(forbidden)} revision(s) are outside what this account may send "
                f"(district {who.district}"
                + (f", sites {', '.join(who.sites)}" if who.sites else "")
                + "); nothing was stored. Fix the district or site of these records, or ask "
                "the coordinator to enroll the device for the right place.",
                forbidden,
            )
        results = await asyncio.wrap_future(
            db.submit(lambda conn: records.store_batch(conn, who, batch.batch_id, items))
        )
        counts = dict.fromkeys(("accepted", "already-had", "rejected", "conflicting-id"), 0)
        for result in results:
            counts[result.status] += 1
        log.info(
            "push from %s batch %s: %d accepted, %d already-had, %d rejected, %d conflicting-id",
            who.account_id,
            batch.batch_id,
            *counts.values(),
        )
        log.debug("push batch %s revisions %s", batch.batch_id, [r.revision_id for r in results])
        body = {
            "batch_id": batch.batch_id,
            "results": [
                {
                    "revision_id": r.revision_id,
                    "record_id": r.record_id,
                    "status": r.status,
                    "reasons": r.reasons,
                    "conflict": r.conflict,
                    "hlc_clamped": r.hlc_clamped,
                }
                for r in results
            ],
            "counts": counts,
            "server_time": auth.iso(auth.now_utc()),
        }
        stored = counts["accepted"] + counts["already-had"]
        return JSONResponse(body, status_code=200 if stored or not results else 422)

    def _check_batch(
        who: Principal,
        batch: PushRequest,
        revisions_raw: list[dict[str, Any]],
        language: str | None,
    ) -> tuple[list[records.Incoming], list[dict[str, Any]]]:
        """Validate each revision against its exact form version and check its scope.

        Runs before the writer gets the batch, so the writer only does SQL. Revisions the
        server already holds skip validation: their status is decided by their hash.
        """
        items: list[records.Incoming] = []
        forbidden: list[dict[str, Any]] = []
        jobs: list[validation.Job] = []
        to_check: list[tuple[records.Incoming, dict[str, str]]] = []
        with db.read() as conn:
            held = records.revisions_held(conn, (r.revision_id for r in batch.revisions))
            files = form_files(conn)
            for revision, raw in zip(batch.revisions, revisions_raw, strict=True):
                item = records.incoming(raw)
                items.append(item)
                where = {"revision_id": revision.revision_id, "record_id": revision.record_id}
                if revision.merged_from is not None:
                    forbidden.append({**where, "message": "only a server makes merge revisions"})
                    continue
                if who.role == "device" and revision.device_id != who.account_id:
                    forbidden.append(
                        {**where, "message": f"made by device {revision.device_id}, not by you"}
                    )
                    continue
                if revision.revision_id in held:
                    continue
                form_path = files.get((revision.form_id, revision.form_version))
                if form_path is None:
                    item.reasons = [_unknown_form(conn, revision.form_id, revision.form_version)]
                    continue
                created = _parse_time(revision.created_at)
                if created is None:
                    item.reasons = [_reason("created_at", "created_at is not an ISO 8601 time.")]
                    continue
                jobs.append((str(form_path), revision.answers, language, created))
                to_check.append((item, where))
        # Spread one batch over the workers: all cores help the tablet waiting for it.
        size = max(8, -(-len(jobs) // max(1, validation.worker_count(validation_workers))))
        parts = [validator.submit(validation.check, jobs[i : i + size])
                 for i in range(0, len(jobs), size)]  # fmt: skip
        outcomes = [outcome for part in parts for outcome in part.result()]
        for (item, where), (errors, district, site_id) in zip(to_check, outcomes, strict=True):
            if errors is None:
                item.reasons = [_reason("form_version", "This form version can't be loaded.")]
                continue
            item.reasons = errors
            item.district = district or who.district
            item.site_id = site_id
            if not errors and not who.covers(item.district, item.site_id):
                forbidden.append(
                    {
                        **where,
                        "message": f"record is for district {item.district}"
                        + (f", site {item.site_id}" if item.site_id else ""),
                    }
                )
        return items, forbidden

    def form_files(conn: Any) -> dict[tuple[str, str], Path]:
        return {
            (f.form_id, f.version): data_dir / "forms" / f.file_name for f in published_forms(conn)
        }

    @app.post(f"{API_PREFIX}/push/status", response_model=PushStatusResponse, tags=["sync"])
    def push_status(body: PushStatusRequest, who: Caller) -> PushStatusResponse:
        """Which of these revisions the server durably holds: ask before re-sending."""
        with db.read() as conn:
            held = records.revisions_held(conn, body.revision_ids)
        have = [rid for rid in body.revision_ids if rid in held]
        return PushStatusResponse(
            have=have, missing=[rid for rid in body.revision_ids if rid not in held]
        )

    @app.get(f"{API_PREFIX}/pull", response_model=PullResponse, tags=["sync"])
    def pull(
        who: Caller,
        cursor: Annotated[int, Query(ge=0, le=MAX_CURSOR, description="0 for everything")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> Response:
        """Revisions after `cursor` in your scope that others made; forms and sites with
        the last page (`more` false)."""
        with db.read() as conn:
            page = records.pull_page(conn, who, cursor, limit, PULL_PAGE_BYTES)
            forms = [] if page.more else [_form_info(f) for f in published_forms(conn)]
        head = {
            "cursor": page.cursor,
            "more": page.more,
            "server_id": db.server_id,
            "decisions": page.decisions,
        }
        if not page.more:
            head["forms"] = [f for f in forms if f["current"]]
            head["sites"] = [s for s in sites if s.get("district_pcode") in (None, who.district)]
        # The stored revisions are spliced in as they are: canonical JSON, never rewritten.
        text = (
            json.dumps(head, separators=(",", ":"), ensure_ascii=False)[:-1]
            + ',"revisions":['
            + ",".join(page.bodies)
            + "]}"
        )
        return Response(text, media_type="application/json")

    @app.post(f"{API_PREFIX}/state", response_model=StateResponse, tags=["sync"])
    def state(body: StateRequest, who: Caller) -> StateResponse:
        """Compare what the device believes it has with the server; `resync` means pull
        again from cursor 0."""
        with db.read() as conn:
            latest = records.latest_seq(conn)
            digest = records.scope_digest(conn, who) if body.digest else None
        if body.server_id and body.server_id != db.server_id:
            reason = "this is a different server (or its database was replaced)"
        elif body.cursor > latest:
            reason = "your cursor is ahead of this server (was it restored from a backup?)"
        elif digest is not None and digest != body.digest:
            reason = "the records you hold differ from the server's"
        else:
            return StateResponse(
                status="in-sync", reason="", server_id=db.server_id, max_cursor=latest
            )
        log.info("state check from %s: resync", who.account_id)
        return StateResponse(
            status="resync", reason=reason, server_id=db.server_id, max_cursor=latest
        )

    @app.get(f"{API_PREFIX}/forms", response_model=list[FormInfo], tags=["forms"])
    def list_forms(who: Caller) -> list[dict[str, Any]]:
        """Every published form version; `current` marks the one to use for new records."""
        with db.read() as conn:
            return [_form_info(f) for f in published_forms(conn)]

    @app.get(
        f"{API_PREFIX}/forms/{{form_id}}/{{version}}",
        tags=["forms"],
        response_class=FileResponse,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def download_form(form_id: str, version: str, who: Caller) -> FileResponse:
        """The form file exactly as published (an XLSForm); its sha256 is in the list."""
        with db.read() as conn:
            found = [
                f for f in published_forms(conn) if (f.form_id, f.version) == (form_id, version)
            ]
        if not found:
            raise ApiError(
                404, "unknown-form", f"Form {form_id!r} version {version!r} is not published here."
            )
        form = found[0]
        return FileResponse(
            data_dir / "forms" / form.file_name,
            media_type="application/octet-stream",
            filename=f"{form.form_id}-{form.version}{Path(form.file_name).suffix}",
            headers={"X-Content-SHA256": form.sha256},
        )

    @app.get(f"{API_PREFIX}/records/{{record_id}}", response_model=RecordState, tags=["records"])
    def get_record(record_id: str, who: Caller) -> dict[str, Any]:
        """The merged state of one record in your scope."""
        with db.read() as conn:
            found = records.record_state(conn, record_id)
        if found is None or not who.covers(found["district"], found["site_id"]):
            raise ApiError(404, "not-found", f"No record {record_id} in your scope.")
        return found

    @app.get(f"{API_PREFIX}/conflicts", response_model=ConflictList, tags=["review"])
    def list_conflicts(
        who: Annotated[Principal, Depends(coordinator)],
        status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> dict[str, Any]:
        """Conflicts in your district, oldest first: hard ones need a decision."""
        with db.read() as conn:
            return {"conflicts": records.list_conflicts(conn, who, status, limit)}

    @app.post(f"{API_PREFIX}/conflicts/{{conflict_id}}/resolve", tags=["review"])
    async def resolve(
        conflict_id: str, body: ResolveRequest, who: Annotated[Principal, Depends(coordinator)]
    ) -> dict[str, Any]:
        """Choose the revision whose answers win a conflict; devices get the result by pull."""
        try:
            return await asyncio.wrap_future(
                db.submit(
                    lambda conn: records.resolve_conflict(
                        conn, who, conflict_id, body.chosen_revision_id, body.note
                    )
                )
            )
        except records.ResolveError as error:
            raise ApiError(error.status, error.code, error.message) from None

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            # /push reads its (gzip) body itself, so FastAPI doesn't list its model.
            _, definitions = models_json_schema(
                [(PushRequest, "validation")], ref_template="#/components/schemas/{model}"
            )
            schema["components"]["schemas"].update(definitions.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app


def _publish_dir(db: Database, data_dir: Path, forms_dir: Path | None) -> None:
    # .md: pyxform's markdown XLSForm, handy for small test forms.
    paths = (
        sorted([*forms_dir.glob("*.xlsx"), *forms_dir.glob("*.md")])
        if forms_dir
        else bundled_form_paths()
    )
    for path in paths:
        try:
            form, new = db.write(lambda conn, path=path: publish_form(conn, data_dir, path))
        except FormLoadError as error:
            log.error(
                "not publishing %s: %d problem(s) in the form", path.name, len(error.problems)
            )
        except PublishError as error:
            log.error("not publishing %s: %s", path.name, error)
        else:
            if new:
                log.info("published form %s version %s", form.form_id, form.version)


def _form_info(form: Any) -> dict[str, Any]:
    return {
        "form_id": form.form_id,
        "version": form.version,
        "title": form.title,
        "sha256": form.sha256,
        "size": form.size,
        "current": form.current,
    }


def _unknown_form(conn: Any, form_id: str, version: str) -> dict[str, str]:
    versions = [f.version for f in published_forms(conn) if f.form_id == form_id]
    if versions:
        message = (
            f"Form {form_id!r} version {version!r} is not published on this server "
            f"(published: {', '.join(versions)}). Ask the coordinator to publish that version "
            "(sync-server publish-form)."
        )
    else:
        message = (
            f"Form {form_id!r} is not published on this server. Ask the coordinator to "
            "publish it (sync-server publish-form)."
        )
    return rejection_reason("unknown-form", message, field="form_version")


def _language(header: str | None) -> str | None:
    """The first language of an Accept-Language header ("pt-MZ,pt;q=0.9" -> "pt"), for
    the messages of rejection reasons; None: the form's default language."""
    if not header:
        return None
    code = header.split(",")[0].split(";")[0].split("-")[0].strip().lower()
    return code if code.isalpha() and len(code) <= 3 else None


def _reason(field: str, message: str) -> dict[str, str]:
    return rejection_reason(field, message, field=field)


def _parse_time(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    # The form engine compares with naive local times, as the tablet did.
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


async def _read_body(request: Request, max_body: int, max_json: int) -> bytes:
    """The request body, decompressed, refusing anything too big before reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
        raise _too_large(f"The body is {int(declared)} bytes; the limit is {max_body}.")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("gzip", "identity", ""):
        raise ApiError(
            415, "encoding", f"Content-Encoding {encoding!r} is not supported; use gzip."
        )
    inflater = zlib.decompressobj(wbits=31) if encoding == "gzip" else None
    received = 0
    out = bytearray()
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body:
                raise _too_large(f"The body is over the limit of {max_body} bytes.")
            if inflater is None:
                out += chunk
            else:
                # max_length bounds the memory a small bomb can claim in one step.
                out += inflater.decompress(chunk, max_json - len(out) + 1)
                if len(out) > max_json or inflater.unconsumed_tail:
                    raise _too_large(
                        f"The body decompresses to more than {max_json} bytes; send smaller "
                        "batches."
                    )
    except zlib.error:
        raise ApiError(400, "bad-gzip", "The body is not valid gzip data.") from None
    except ClientDisconnect:
        raise ApiError(400, "disconnected", "The upload was cut off; nothing was stored.") from None
    if inflater is not None:
        try:
            out += inflater.flush()
        except zlib.error:
            raise ApiError(400, "bad-gzip", "The gzip data is truncated.") from None
        if not inflater.eof:
            raise ApiError(400, "bad-gzip", "The gzip data is truncated; nothing was stored.")
    if len(out) > max_json:
        raise _too_large(f"The body is over the limit of {max_json} bytes.")
    return bytes(out)


def _too_large(message: str) -> ApiError:
    return ApiError(413, "too-large", message + " Nothing was stored.")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _parse_json(raw: bytes) -> Any:
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(
            400, "bad-json", f"The request body is not valid JSON ({error}); nothing was stored."
        ) from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad-json", "The request body must be a JSON object.")
    return data
