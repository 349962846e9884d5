"""Merged records and the conflicts coordinators review."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from sync_core.protocol import API_PREFIX, ConflictList, RecordState, ResolveRequest
from sync_server import records
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
