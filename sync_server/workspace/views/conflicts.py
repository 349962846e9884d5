"""The conflicts review queue: base, side A and side B per field; decide with a note.

A decision goes through `records.resolve_conflict_fields`, the same path as the API's
resolve: a new revision on top of the record's head, which tablets receive by pull.
A typed value is converted to the question's type and the resulting record is checked by
the form engine first; a value the form refuses is shown back and nothing is stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from forms.validation import validate_record
from sync_core import merge
from sync_server import records
from sync_server.workspace import present, queries
from sync_server.workspace.web import Workspace, language

MAX_NOTE = 1000


def add_routes(router: APIRouter, ws: Workspace) -> None:
    @router.get("/conflicts", include_in_schema=False)
    def queue(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        status = "resolved" if request.query_params.get("status") == "resolved" else "open"
        with ws.db.read() as conn:
            where, params = queries.scope(who.principal, "c.district")
            rows = conn.execute(
                "SELECT c.conflict_id, c.record_id, c.district, c.site_id, c.detected_at, "
                "c.resolved_at, c.fields, i.title, i.form_id FROM conflicts c "
                "LEFT JOIN record_index i ON i.record_id = c.record_id "
                f"WHERE c.kind = 'hard' AND c.status = ? AND {where} "
                "ORDER BY c.detected_at LIMIT 500",
                [status, *params],
            ).fetchall()
        items = [{**dict(r), "field_count": len(json.loads(r["fields"]))} for r in rows]
        return ws.render(
            request, who, "conflicts.html", items=items, tab=status,
            site_names={s["site_id"]: s["name"] for s in ws.sites},
        )  # fmt: skip

    def load(who: Any, conflict_id: str) -> dict[str, Any] | None:
        with ws.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM conflicts WHERE conflict_id = ? AND kind = 'hard'",
                (conflict_id[:64],),
            ).fetchone()
            if row is None or not who.principal.covers(row["district"], row["site_id"]):
                return None
            sides = json.loads(row["revision_ids"])
            meta = {
                r["revision_id"]: dict(r)
                for r in conn.execute(
                    "SELECT revision_id, device_id, received_at, form_id, form_version "
                    "FROM revisions WHERE revision_id IN (?, ?)",
                    sides,
                )
            }
            names = queries.account_names(conn)
            record = conn.execute(
                "SELECT answers, form_id, form_version FROM records WHERE record_id = ?",
                (row["record_id"],),
            ).fetchone()
        return {
            "row": row,
            "sides": sides,
            "meta": meta,
            "names": names,
            "fields": json.loads(row["fields"]),
            "record": record,
        }

    def page(request: Request, who: Any, found: dict[str, Any], *, status: int = 200,
             errors: dict[str, str] | None = None, typed: dict[str, str] | None = None,
             note: str = "") -> Response:  # fmt: skip
        lang = language(request)
        record = found["record"]
        form = ws.form(record["form_id"], record["form_version"])
        rows = []
        answers = json.loads(record["answers"])
        for number, item in enumerate(found["fields"]):
            name = item["path"].rsplit(".", 1)[-1].split("[")[0]
            rows.append(
                {
                    "number": number,
                    # members by position, as a person counts them (the key is for machines)
                    "path": merge.position_text(records.parse_path(item["path"]), answers),
                    "label": present.field_label(form, name, lang),
                    "base": present.shown(form, name, item.get("base"), lang),
                    "a": present.shown(form, name, item["values"].get(found["sides"][0]), lang),
                    "b": present.shown(form, name, item["values"].get(found["sides"][1]), lang),
                    "winner": "a" if item.get("winner") == item["values"].get(found["sides"][0])
                    else "b",
                    "error": (errors or {}).get(item["path"], ""),
                    "typed": (typed or {}).get(item["path"], ""),
                }
            )  # fmt: skip
        sides = [
            {**found["meta"].get(side, {}), "who": found["names"].get(
                found["meta"].get(side, {}).get("device_id", ""), "?")}
            for side in found["sides"]
        ]  # fmt: skip
        return ws.render(
            request, who, "conflict.html", status=status, conflict=found["row"], rows=rows,
            sides=sides, note=note,
        )  # fmt: skip

    @router.get("/conflicts/{conflict_id}", include_in_schema=False)
    def review(conflict_id: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        found = load(who, conflict_id)
        if found is None:
            return ws.not_found(request, who)
        return page(request, who, found)

    @router.post("/conflicts/{conflict_id}", include_in_schema=False)
    async def decide(conflict_id: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        form_data = await request.form()
        if refused := ws.refused_post(request, who, form_data):
            return refused
        found = load(who, conflict_id)
        if found is None:
            return ws.not_found(request, who)
        if found["row"]["status"] != "open":
            return ws.render(request, who, "error.html", status=409,
                             message_key="already-resolved")  # fmt: skip
        record = found["record"]
        form = ws.form(record["form_id"], record["form_version"])
        note = str(form_data.get("note", ""))[:MAX_NOTE]
        values: dict[str, Any] = {}
        typed: dict[str, str] = {}
        errors: dict[str, str] = {}
        for number, item in enumerate(found["fields"]):
            choice = str(form_data.get(f"choice-{number}", ""))
            path = item["path"]
            if choice in ("a", "b"):
                side = found["sides"][0 if choice == "a" else 1]
                values[path] = item["values"].get(side, merge.DELETED)
                if values[path] is None:
                    values[path] = merge.DELETED
            elif choice == "typed":
                text = str(form_data.get(f"typed-{number}", "")).strip()[:500]
                typed[path] = text
                values[path] = _typed(form, path, text)
            else:
                errors[path] = "choose-side"
        if not errors:
            errors = _check(form, record, values)
        if errors:
            return page(request, who, found, status=400, errors=errors, typed=typed, note=note)
        try:
            result = await asyncio.wrap_future(
                ws.db.submit(
                    lambda conn: records.resolve_conflict_fields(
                        conn, who.principal, found["row"]["conflict_id"], values, note
                    )
                )
            )
        except records.ResolveError as error:
            return ws.render(request, who, "error.html", status=error.status,
                             message_key=error.code)  # fmt: skip
        ws.audit(who.account_id, "conflict.resolve", result["conflict_id"])
        return RedirectResponse(f"/records/{found['row']['record_id']}?decided=1", status_code=303)


def _typed(form: Any, path: str, text: str) -> Any:
    """A typed value as the question's type wants it ("" removes the answer)."""
    if text == "":
        return merge.DELETED
    name = path.rsplit(".", 1)[-1].split("[")[0]
    question = None
    if form is not None:
        try:
            question = form.question(name)
        except KeyError:
            question = None
    kind = question.type if question is not None else "text"
    try:
        if kind == "integer":
            return int(text)
        if kind == "decimal":
            return float(text.replace(",", "."))
    except ValueError:
        return text  # the form check below names the problem
    if kind == "select_multiple":
        return text.split()
    return text


def _check(form: Any, record: Any, values: dict[str, Any]) -> dict[str, str]:
    """Errors the form engine finds at the decided paths ({} when it accepts them)."""
    if form is None:
        return {}
    answers = records.with_values(json.loads(record["answers"]), values)
    result = validate_record(form, answers, now=dt.datetime.now())
    # The form engine names members by position, a conflict by key: compare positions.
    shown = {merge.position_text(records.parse_path(text), answers): text for text in values}
    return {shown[i.path]: i.message for i in result.errors if i.path in shown}
