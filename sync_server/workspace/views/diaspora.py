"""Diaspora interviews: counts by country and city, skills, sectors, interest; as tables
and bar charts. Legal status is never shown, not even as a count."""

from __future__ import annotations

import functools
import gettext
import json
from collections import Counter
from typing import Any

import pycountry
from fastapi import APIRouter, Request
from fastapi.responses import Response

from sync_server.workspace import present, queries
from sync_server.workspace.web import Workspace, language

FORM = "diaspora_mapping"
# (question, catalogue key of the table's title); selects are counted by choice label.
TABLES = [
    ("residence_country", "dia-country"),
    ("residence_city", "dia-city"),
    ("skills", "dia-skills"),
    ("sector_isic", "dia-sector"),
    ("interest_invest", "dia-invest"),
    ("invest_sectors", "dia-invest-sectors"),
    ("return_intention", "dia-return"),
    ("engagement_interests", "dia-engagement"),
]


def country_name(code: str, lang: str) -> str:
    """An ISO 3166 alpha-3 code as a country name in the page's language."""
    found = pycountry.countries.get(alpha_3=code) if len(code) == 3 else None
    if found is None:
        return code
    return _countries(lang).gettext(found.name)


@functools.lru_cache(maxsize=4)
def _countries(lang: str) -> gettext.NullTranslations:
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)


def add_routes(router: APIRouter, ws: Workspace) -> None:
    @router.get("/diaspora", include_in_schema=False)
    def diaspora(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        lang = language(request)
        with ws.db.read() as conn:
            rows = queries.records_of_form(conn, who.principal, FORM)
            versions = conn.execute(
                "SELECT DISTINCT form_version FROM records WHERE form_id = ?", (FORM,)
            ).fetchall()
        form = None
        for version in versions:
            form = ws.form(FORM, version[0]) or form
        counters: dict[str, Counter[str]] = {name: Counter() for name, _ in TABLES}
        for row in rows:
            answers: dict[str, Any] = json.loads(row["answers"])
            for name, _ in TABLES:
                value = answers.get(name)
                if value in (None, "", []):
                    continue
                values = value if isinstance(value, list) else [value]
                for item in values:
                    if name == "residence_country":
                        text = country_name(str(item), lang)
                    else:
                        text = present.shown(form, name, item, lang)
                    counters[name][text] += 1
        tables = [
            {"key": key, "rows": counters[name].most_common(15),
             "max": max(counters[name].values(), default=1)}
            for name, key in TABLES
        ]  # fmt: skip
        return ws.render(request, who, "diaspora.html", tables=tables, interviews=len(rows))
