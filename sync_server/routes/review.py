"""Merged records and the conflicts coordinators review."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from sync_core.protocol import (
    API_PREFIX,
    ConflictList,
    RecordState,
    ResolveRequest,
    TransferRequest,
)
from sync_server import records, transfer
from sync_server.problems import Problem
from sync_server.routes.deps import Caller, Context, Coordinator

router = APIRouter(prefix=API_PREFIX)


@router.get("/records/{record_id}", response_model=RecordState, tags=["records"])
def get_record(record_id: str, ctx: Context, who: Caller) -> dict[str, Any]:
    """The merged state of one record in your scope."""
    with ctx.db.read() as conn:
        found = records.record_state(conn, record_id)
    if found is None or not who.covers(found["district"], found["site_id"]):
        raise Problem("not-found", f"No record {record_id} in your scope.")
    return found


@router.get("/conflicts", response_model=ConflictList, tags=["review"])
def list_conflicts(
    ctx: Context,
    who: Coordinator,
    status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """Conflicts in your district, oldest first: hard ones need a decision."""
    with ctx.db.read() as conn:
        return {"conflicts": records.list_conflicts(conn, who, status, limit)}


@router.post("/conflicts/{conflict_id}/resolve", tags=["review"])
async def resolve(
    conflict_id: str, body: ResolveRequest, ctx: Context, who: Coordinator
) -> dict[str, Any]:
    """Choose the revision whose answers win a conflict; devices get the result by pull."""
    return await asyncio.wrap_future(
        ctx.db.submit(
            lambda conn: records.resolve_conflict(
                conn, who, conflict_id, body.chosen_revision_id, body.note
            )
        )
    )


@router.post("/records/{record_id}/transfer", tags=["records"])
async def transfer_record(
    record_id: str, body: TransferRequest, ctx: Context, who: Coordinator
) -> dict[str, Any]:
    """Move a record to another district or site (a coordinator covering both); tablets of
    the new place get it by pull, those of the old one no longer can edit it."""
    try:
        return await asyncio.wrap_future(
            ctx.db.submit(
                lambda conn: transfer.transfer_record(
                    conn, who, record_id, body.district, body.site_id
                )
            )
        )
    except Problem as refused:
        if refused.code == "out-of-scope":
            await asyncio.wrap_future(
                ctx.db.submit(lambda conn: transfer.audit_refusal(conn, who, record_id))
            )
        raise
