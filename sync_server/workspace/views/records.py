"""The records list (filters, search, paging) and one record's page."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sync_server import media
from sync_server.workspace import index, present, queries
from sync_server.workspace.maps import record_map
from sync_server.workspace.web import Workspace, language


def add_routes(router: APIRouter, ws: Workspace) -> None:
    @router.get("/records", include_in_schema=False)
    async def record_list(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        forms = ws.current_forms(language(request))
        try:
            filters = index.parse_filters(dict(request.query_params), [f for f, _ in forms])
        except index.FilterError as error:
            return ws.render(
                request, who, "error.html", status=400, message_key=error.key,
                value=error.value, choices=error.choices,
            )  # fmt: skip
        await ws.refresh_index()
        principal = who.principal
        with ws.db.read() as conn:
            page = index.list_records(conn, principal, filters)
            enumerators = [e["name"] for e in queries.enumerators(conn, principal)]
        districts = sorted({s["district_pcode"] for s in ws.sites if s.get("district_pcode")})
        if not who.national:
            districts = [who.district]
        sites = [s for s in ws.sites if who.national or s.get("district_pcode") == who.district]
        return ws.render(
            request,
            who,
            "records.html",
            filters=filters,
            page=page,
            forms=forms,
            titles=dict(forms),
            districts=districts,
            sites=sites,
            site_names={s["site_id"]: s["name"] for s in ws.sites},
            enumerators=enumerators,
            statuses=index.STATUSES,
        )

    @router.get("/records/{record_id}", include_in_schema=False)
    def record_page(record_id: str, request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        lang = language(request)
        with ws.db.read() as conn:
            row = queries.record_row(conn, who.principal, record_id[:64])
            if row is None:
                return ws.not_found(request, who)
            revisions = queries.revisions_of(conn, record_id)
            decisions = queries.decisions_of(conn, record_id)
            rejected = queries.record_rejections(conn, record_id)
            names = queries.account_names(conn)
            files = media.media_for_record(conn, record_id)
            conflicts = conn.execute(
                "SELECT conflict_id, kind, status FROM conflicts WHERE record_id = ? "
                "AND kind = 'hard'",
                (record_id,),
            ).fetchall()
        form = ws.form(row["form_id"], row["form_version"])
        answers = json.loads(row["answers"])
        by_id = {r["revision_id"]: r for r in revisions}
        timeline = []
        for revision in revisions:
            parent = by_id.get(revision["parent_revision_id"] or "")
            timeline.append(
                {
                    **revision,
                    "who": names.get(revision["device_id"], revision["device_id"]),
                    "changes": present.changes(
                        form, parent["answers"] if parent else None, revision["answers"], lang
                    ),
                    "decision": decisions.get(revision["revision_id"]),
                }
            )
        timeline.reverse()  # newest first
        return ws.render(
            request,
            who,
            "record.html",
            record=row,
            form=form,
            sections=present.sections(form, answers, lang),
            map_svg=record_map(present.position(form, answers), row["district"]),
            timeline=timeline,
            rejected=rejected,
            conflicts=conflicts,
            site_names={s["site_id"]: s["name"] for s in ws.sites},
            max_changes=present.MAX_CHANGES_SHOWN,
            decided=request.query_params.get("decided") == "1",
            moved=request.query_params.get("moved") == "1",
            # Moving a record (views/transfer.py): to any other site this account covers.
            transfer_sites=[
                s for s in ws.sites
                if s.get("district_pcode")
                and who.principal.covers(s["district_pcode"], s["site_id"])
                and s["site_id"] != row["site_id"]
            ],
            files=files,
        )  # fmt: skip
