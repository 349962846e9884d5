"""The Duplicates review: probable duplicate households, most likely first; one pair side
by side (members aligned by sex and age, agreements and differences marked); confirm,
dismiss, or undo either.

Pairs are found by the server as households are merged (sync_server.duplicates); a
decision goes through `duplicates.decide` in the single writer, the same path as the API's
POST /api/v1/duplicates/{pair}/confirm, and is written to audit_log there (ids only).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sync_server import duplicates
from sync_server.auth import iso, now_utc
from sync_server.workspace import pairs, queries
from sync_server.workspace.web import Workspace

PAGE_SIZE = 50
MAX_PAGE = 10_000
STATUSES = ("open", "confirmed", "dismissed")
ACTIONS = ("confirm", "dismiss", "reopen")


def _has_pairs(conn: sqlite3.Connection) -> bool:
    # The dedup tables appear with the first household merged (duplicates.migrate).
    return bool(
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'duplicate_pairs'"
        ).fetchone()
    )


def percent(score: float) -> int:
    """A pair's probability as a person reads it: never 100%, since it is never certain
    (0.996 would round to 100 and read as proof)."""
    return min(round(score * 100), 99)


def _int(text: str | None, default: int, top: int) -> int:
    try:
        return min(max(int(text or default), 1), top)
    except ValueError:
        return default


def add_routes(router: APIRouter, ws: Workspace) -> None:
    site_names = {s["site_id"]: s["name"] for s in ws.sites}

    @router.get("/duplicates", include_in_schema=False)
    def pair_list(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        params = request.query_params
        status = params.get("status") if params.get("status") in STATUSES else "open"
        district = params.get("district") or ""
        page = _int(params.get("page"), 1, MAX_PAGE)
        where, args = queries.scope(who.principal, "p.district")
        sql_where = f"p.status = ? AND {where}"
        args = [status, *args]
        if district:
            sql_where += " AND p.district = ?"
            args.append(district)
        rows: list[Any] = []
        total = 0
        with ws.db.read() as conn:
            if _has_pairs(conn):
                total = conn.execute(
                    f"SELECT count(*) FROM duplicate_pairs p WHERE {sql_where}", args
                ).fetchone()[0]
                rows = conn.execute(
                    "SELECT p.pair_id, p.score, p.agreements, p.district, p.site_id, "
                    "p.detected_at, p.decided_at, p.record_id_1, p.record_id_2, "
                    "a.title AS title_1, b.title AS title_2 FROM duplicate_pairs p "
                    "LEFT JOIN record_index a ON a.record_id = p.record_id_1 "
                    "LEFT JOIN record_index b ON b.record_id = p.record_id_2 "
                    f"WHERE {sql_where} ORDER BY p.score DESC, p.pair_id LIMIT ? OFFSET ?",
                    [*args, PAGE_SIZE, (page - 1) * PAGE_SIZE],
                ).fetchall()
        items = [
            {**dict(r), "percent": percent(r["score"]),
             "reasons": json.loads(r["agreements"])}
            for r in rows
        ]  # fmt: skip
        districts = sorted({s["district_pcode"] for s in ws.sites if s.get("district_pcode")})
        pages = max(1, -(-total // PAGE_SIZE))
        return ws.render(
            request, who, "duplicates.html", items=items, tab=status, total=total,
            district=district, districts=districts if who.national else [], page=page,
            pages=pages, site_names=site_names,
        )  # fmt: skip

    def load(who: Any, pair_id: str) -> dict[str, Any] | None:
        with ws.db.read() as conn:
            if not _has_pairs(conn):
                return None
            row = conn.execute(
                "SELECT * FROM duplicate_pairs WHERE pair_id = ?", (pair_id[:64],)
            ).fetchone()
            if row is None or not who.principal.covers(row["district"], row["site_id"]):
                return None
            records = []
            for record_id in (row["record_id_1"], row["record_id_2"]):
                found = conn.execute(
                    "SELECT r.answers, r.district, r.site_id, i.title, i.enumerator, "
                    "i.received_on FROM records r "
                    "LEFT JOIN record_index i ON i.record_id = r.record_id "
                    "WHERE r.record_id = ?",
                    (record_id,),
                ).fetchone()
                records.append(
                    {
                        "record_id": record_id,
                        "household_id": duplicates.household_id_of(conn, record_id),
                        "answers": json.loads(found["answers"]) if found else {},
                        "title": found["title"] if found else "",
                        "enumerator": found["enumerator"] if found else "",
                        "received_on": found["received_on"] if found else "",
                    }
                )
        return {"row": row, "records": records}

    @router.get("/duplicates/{pair_id}", include_in_schema=False)
    def pair_page(pair_id: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        found = load(who, pair_id)
        if found is None:
            return ws.not_found(request, who)
        row, (one, two) = found["row"], found["records"]
        levels = json.loads(row["levels"])
        done = request.query_params.get("done", "")
        return ws.render(
            request, who, "duplicate.html", pair=row, one=one, two=two,
            percent=percent(row["score"]), reasons=json.loads(row["agreements"]),
            fields=pairs.compare_fields(one["answers"], two["answers"], levels),
            members=pairs.align_members(one["answers"], two["answers"]),
            done=done if done in ACTIONS else "", site_names=site_names,
        )  # fmt: skip

    @router.post("/duplicates/{pair_id}", include_in_schema=False)
    async def decide(pair_id: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        form = await request.form()
        if refused := ws.refused_post(request, who, form):
            return refused
        found = load(who, pair_id)
        if found is None:
            return ws.not_found(request, who)
        action = str(form.get("action", ""))
        if action not in ACTIONS:
            return ws.render(request, who, "error.html", status=400, message_key="not-found")
        row = found["row"]

        def task(conn: sqlite3.Connection) -> dict[str, Any]:
            # The scope was checked above (a national coordinator decides in any district).
            return duplicates.decide(
                conn, row["pair_id"], action, account_id=who.account_id,
                district=row["district"], sites=(), now=iso(now_utc()),
            )  # fmt: skip

        try:
            await asyncio.wrap_future(ws.db.submit(task))
        except duplicates.DecisionError as error:
            return ws.render(request, who, "error.html", status=error.status,
                             message_key=error.code)  # fmt: skip
        return RedirectResponse(f"/duplicates/{row['pair_id']}?done={action}", status_code=303)
