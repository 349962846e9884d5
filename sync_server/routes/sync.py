"""The sync calls a tablet makes: push, push status, pull and the state check."""

import asyncio
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from sync_core.protocol import (
    API_PREFIX,
    MAX_CURSOR,
    PullResponse,
    PushRequest,
    PushResponse,
    PushStatusRequest,
    PushStatusResponse,
    Site,
    StateRequest,
    StateResponse,
)
from sync_server import auth, ingest, records, sites
from sync_server.catalog import form_info, published_forms
from sync_server.problems import Problem, problems_from_pydantic
from sync_server.routes.deps import Caller, Context

log = logging.getLogger("sync_server")

PULL_PAGE_BYTES = 96 * 1024  # of revision JSON per page (about 20 KB gzipped)

router = APIRouter(prefix=API_PREFIX, tags=["sync"])


@router.post(
    "/push",
    response_model=PushResponse,
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
async def push(request: Request, ctx: Context, who: Caller) -> Response:
    """Store a batch of revisions in one transaction; answer after the durable commit.

    Status 200 when at least one revision is stored or was already held (or the batch
    is empty), 422 when every revision was rejected: both carry one result per
    revision. Retrying a batch is always safe.
    """
    if who.role == "coordinator":
        raise Problem("forbidden", "Coordinator accounts read; they can't push.")
    raw = await ingest.read_body(request, ctx.max_body_bytes, ctx.max_json_bytes)
    data = ingest.parse_json(raw)
    try:
        batch = PushRequest.model_validate(data)
    except ValidationError as error:
        raise Problem(
            "invalid",
            "The push does not match the protocol; nothing was stored.",
            problems_from_pydantic(error.errors()),
        ) from None
    if batch.device_id != who.account_id:
        raise Problem(
            "wrong-device",
            f"The batch says device {batch.device_id!r} but the token belongs to "
            f"{who.account_id!r}. Each tablet pushes with its own token.",
        )
    revisions_raw: list[dict[str, Any]] = data["revisions"]
    language = ingest.language(request.headers.get("accept-language"))
    async with ctx.validation_slots:
        items, forbidden = await run_in_threadpool(
            ingest.check_batch, ctx, who, batch, revisions_raw, language
        )
    if forbidden:
        raise Problem(
            "out-of-scope",
            f"{len(forbidden)} revision(s) are outside what this account may send "
            f"(district {who.district}"
            + (f", sites {', '.join(who.sites)}" if who.sites else "")
            + "); nothing was stored. Fix the district or site of these records, or ask "
            "the coordinator to enroll the device for the right place.",
            forbidden,
        )

    def store(conn: Any) -> list[records.StoredResult]:
        stored = records.store_batch(
            conn, who, batch.batch_id, items, max_drift_ms=ctx.max_clock_drift_ms
        )
        # A "new site" found in the field waits for a coordinator (same transaction).
        sites.record_proposals(conn, who.account_id, items)
        return stored

    results = await asyncio.wrap_future(ctx.db.submit(store))
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


@router.post("/push/status", response_model=PushStatusResponse)
def push_status(body: PushStatusRequest, ctx: Context, who: Caller) -> PushStatusResponse:
    """Which of these revisions the server durably holds: ask before re-sending."""
    with ctx.db.read() as conn:
        held = records.revisions_held(conn, body.revision_ids)
    have = [rid for rid in body.revision_ids if rid in held]
    return PushStatusResponse(
        have=have, missing=[rid for rid in body.revision_ids if rid not in held]
    )


@router.get("/pull", response_model=PullResponse)
def pull(
    ctx: Context,
    who: Caller,
    cursor: Annotated[int, Query(ge=0, le=MAX_CURSOR, description="0 for everything")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    own: Annotated[
        bool,
        Query(
            description="also your own revisions: a tablet restored from a backup pulls "
            "with own=true from cursor 0 to get its later work back"
        ),
    ] = False,
) -> Response:
    """Revisions after `cursor` in your scope that others made (and yours, with
    `own=true`); forms and sites with the last page (`more` false)."""
    with ctx.db.read() as conn:
        page = records.pull_page(conn, who, cursor, limit, PULL_PAGE_BYTES, own=own)
        forms = []
        if not page.more:
            live = sites.live_attachments(conn)
            forms = [form_info(f, ctx.data_dir, live) for f in published_forms(conn)]
    head = {
        "cursor": page.cursor,
        "more": page.more,
        "server_id": ctx.db.server_id,
        "decisions": page.decisions,
    }
    if not page.more:
        head["forms"] = [f for f in forms if f["current"]]
        head["sites"] = [
            {key: site[key] for key in Site.model_fields}
            for site in ctx.sites
            if site.get("district_pcode") in (None, who.district)
        ]
    # The stored revisions are spliced in as they are: canonical JSON, never rewritten.
    text = (
        json.dumps(head, separators=(",", ":"), ensure_ascii=False)[:-1]
        + ',"revisions":['
        + ",".join(page.bodies)
        + "]}"
    )
    return Response(text, media_type="application/json")


@router.post("/state", response_model=StateResponse)
def state(body: StateRequest, ctx: Context, who: Caller) -> StateResponse:
    """Compare what the device believes it has with the server; `resync` means pull
    again from cursor 0."""
    with ctx.db.read() as conn:
        latest = records.latest_seq(conn)
        digest = records.scope_digest(conn, who) if body.digest else None
    server_id = ctx.db.server_id
    if body.server_id and body.server_id != server_id:
        reason = "this is a different server (or its database was replaced)"
    elif body.cursor > latest:
        reason = "your cursor is ahead of this server (was it restored from a backup?)"
    elif digest is not None and digest != body.digest:
        reason = "the records you hold differ from the server's"
    else:
        return StateResponse(status="in-sync", reason="", server_id=server_id, max_cursor=latest)
    log.info("state check from %s: resync", who.account_id)
    return StateResponse(status="resync", reason=reason, server_id=server_id, max_cursor=latest)
