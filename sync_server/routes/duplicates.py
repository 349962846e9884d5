"""Probable duplicate households for a coordinator's review (sync_server.duplicates).

GET  /api/v1/duplicates?status=open&limit=&offset=   pairs, most probable first, with
                                                     both records' answers and reasons
POST /api/v1/duplicates/{pair_id}/confirm            both records under one household id
POST /api/v1/duplicates/{pair_id}/dismiss            never shown again for that pair
POST /api/v1/duplicates/{pair_id}/reopen             undo either decision
GET  /api/v1/duplicates/{pair_id}/audit              who decided what, when (ids only)
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from sync_core.protocol import API_PREFIX
from sync_server import duplicates
from sync_server.auth import iso, now_utc
from sync_server.problems import Problem
from sync_server.routes.deps import Context, Coordinator

router = APIRouter(prefix=f"{API_PREFIX}/duplicates", tags=["review"])


def _has_tables(conn) -> bool:
    # The tables appear with the first household merged (duplicates.migrate).
    return bool(
        conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'duplicate_pairs'").fetchone()
    )


@router.get("")
def list_duplicates(
    ctx: Context,
    who: Coordinator,
    status: Annotated[str, Query(pattern="^(open|confirmed|dismissed)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Probable duplicate households in your district, most probable first."""
    with ctx.db.read() as conn:
        if not _has_tables(conn):
            return {"pairs": []}
        return {
            "pairs": duplicates.list_pairs(conn, who.district, who.sites, status, limit, offset)
        }


async def _decide(ctx, who, pair_id: str, action: str) -> dict[str, Any]:
    def task(conn):
        duplicates.migrate(conn)
        return duplicates.decide(
            conn,
            pair_id,
            action,
            account_id=who.account_id,
            district=who.district,
            sites=who.sites,
            now=iso(now_utc()),
        )

    return await asyncio.wrap_future(ctx.db.submit(task))


@router.post("/{pair_id}/confirm")
async def confirm(pair_id: str, ctx: Context, who: Coordinator) -> dict[str, Any]:
    """One family: link both records under one household id (reversible with reopen)."""
    return await _decide(ctx, who, pair_id, "confirm")


@router.post("/{pair_id}/dismiss")
async def dismiss(pair_id: str, ctx: Context, who: Coordinator) -> dict[str, Any]:
    """Two families: the pair is never shown again."""
    return await _decide(ctx, who, pair_id, "dismiss")


@router.post("/{pair_id}/reopen")
async def reopen(pair_id: str, ctx: Context, who: Coordinator) -> dict[str, Any]:
    """Undo a confirm or a dismiss; the pair is open again and its links are removed."""
    return await _decide(ctx, who, pair_id, "reopen")


@router.get("/{pair_id}/audit")
def audit(pair_id: str, ctx: Context, who: Coordinator) -> dict[str, Any]:
    """The decisions on a pair: action, account id and time (no personal data)."""
    with ctx.db.read() as conn:
        row = None
        if _has_tables(conn):
            row = conn.execute(
                "SELECT district FROM duplicate_pairs WHERE pair_id = ?", (pair_id,)
            ).fetchone()
        if row is None or row["district"] != who.district:
            raise Problem("not-found", f"No duplicate pair {pair_id} in your scope.")
        return {"audit": duplicates.audit_log(conn, pair_id)}
