"""The Exports page: choose a form, a format and the options the export API has, and
download it as a stream; the recent exports from the audit log.

The download is a form POST (with the session's CSRF token, since a full export hands
out personal data and is audited) answered by the same streamed response as
GET /api/v1/exports/{form}: the browser saves it and shows the bytes received. A request
that can't be exported is answered with this page again, its values kept and the errors
said in the page's language, before any byte of a file.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sync_server.exports import FORMATS, STATUSES, ExportError, ExportOptions, parse_date, prepare
from sync_server.routes.exports import streamed_response
from sync_server.workspace.i18n import LANGUAGES
from sync_server.workspace.web import Workspace, language

RECENT = 20
MAX_PURPOSE = 300
# ExportError (code, where) -> the page's message key; anything else: exp-err-other.
ERROR_KEYS = {
    ("unknown-form", "form"): "exp-err-form",
    ("unknown-format", "format"): "exp-err-format",
    ("bad-options", "from"): "exp-err-date",
    ("bad-options", "to"): "exp-err-date",
    ("bad-options", "date_to"): "exp-err-date-order",
    ("bad-options", "purpose"): "exp-err-purpose",
    ("bad-options", "status"): "exp-err-status",
    ("out-of-scope", "district"): "exp-err-district",
    ("out-of-scope", "site"): "exp-err-site",
}
# The audit entry's filter names -> the page's labels.
FILTER_KEYS = {"date_from": "from", "date_to": "to", "district": "district", "site_id": "site",
               "status": "status", "enumerator": "enumerator"}  # fmt: skip
DEFAULTS = {"form": "", "format": "csvzip", "from": "", "to": "", "district": "", "site": "",
            "status": "", "answers": "labels", "language": "", "conflicts": "include",
            "rows": "merged", "kind": "shareable", "purpose": ""}  # fmt: skip


def options_from(form: dict[str, str]) -> ExportOptions:
    """The page's fields as ExportOptions; an ExportError names the bad field."""
    return ExportOptions(
        form_id=form["form"],
        format=form["format"],
        date_from=parse_date(form["from"], "from"),
        date_to=parse_date(form["to"], "to"),
        district=form["district"] or None,
        site_id=form["site"] or None,
        status=form["status"] or None,
        labels=form["answers"] != "codes",
        language=form["language"] or None,
        include_open_conflicts=form["conflicts"] != "exclude",
        every_revision=form["rows"] == "every",
        shareable=form["kind"] != "full",
        purpose=form["purpose"][:MAX_PURPOSE],
    ).check()


def recent_exports(conn: Any, principal: Any, limit: int = RECENT) -> list[dict[str, Any]]:
    """The last exports in the coordinator's scope from audit_log: when, which account,
    kind, format, form, filters and records. No purpose (free text) and no names."""
    sql = (
        "SELECT l.at, l.action, l.target, l.outcome, a.name, a.district FROM audit_log l "
        "LEFT JOIN accounts a ON a.account_id = l.account_id "
        "WHERE l.action IN ('export.shareable', 'export.full')"
    )
    params: list[Any] = []
    if not principal.is_national:
        sql += " AND a.district = ?"
        params.append(principal.district)
    rows = conn.execute(sql + " ORDER BY l.id DESC LIMIT ?", [*params, limit]).fetchall()
    out = []
    for row in rows:
        try:
            details = json.loads(row["target"] or "{}")
        except ValueError:
            details = {}
        filters = {key: details[key] for key in FILTER_KEYS if key in details}
        out.append({
            "at": row["at"], "full": row["action"] == "export.full", "outcome": row["outcome"],
            "who": row["name"] or "—", "form": details.get("form_id", ""),
            "format": details.get("format", ""), "records": details.get("records"),
            "filters": filters,
        })  # fmt: skip
    return out


def add_routes(router: APIRouter, ws: Workspace) -> None:
    def page(request: Request, who: Any, values: dict[str, str], *, status: int = 200,
             errors: list[str] | None = None) -> Response:  # fmt: skip
        lang = language(request)
        with ws.db.read() as conn:
            recent = recent_exports(conn, who.principal)
        districts = sorted({s["district_pcode"] for s in ws.sites if s.get("district_pcode")})
        sites = [s for s in ws.sites if who.national or s.get("district_pcode") == who.district]
        forms = ws.current_forms(lang)
        return ws.render(
            request, who, "exports.html", status=status, values=values, errors=errors or [],
            forms=forms, titles=dict(forms), filter_keys=FILTER_KEYS, formats=FORMATS,
            statuses=STATUSES,
            districts=districts if who.national else [who.district], sites=sites,
            form_languages=LANGUAGES, recent=recent,
        )  # fmt: skip

    @router.get("/exports", include_in_schema=False)
    def exports_page(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        values = dict(DEFAULTS)
        forms = ws.current_forms()
        values["form"] = next((f for f, _ in forms if f == "household_registration"),
                              forms[0][0] if forms else "")  # fmt: skip
        return page(request, who, values)

    @router.post("/exports", include_in_schema=False)
    async def download(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        form = await request.form()
        if refused := ws.refused_post(request, who, form):
            return refused
        values = {key: str(form.get(key, default))[:MAX_PURPOSE].strip()
                  for key, default in DEFAULTS.items()}  # fmt: skip
        try:
            options = options_from(values)
            folder = ws.data_dir / "exports"
            folder.mkdir(parents=True, exist_ok=True)
            prepared = await run_in_threadpool(prepare, ws.db, options, principal=who.principal)
        except ExportError as error:
            key = ERROR_KEYS.get((error.code, error.where), "exp-err-other")
            value = values.get(error.where, "") if key == "exp-err-date" else error.message
            return page(request, who, values, status=error.status, errors=[(key, value)])
        return streamed_response(prepared, folder)
