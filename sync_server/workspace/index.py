"""The workspace's record list: an index table kept up to date from the revisions.

`records` holds each record's merged answers as JSON; filtering 100,000 of those by
enumerator, date or a name typed without accents would parse every one on every page. So
`record_index` keeps, per record, the columns the list filters on and a `search` text:
the names and phone numbers in its answers, folded (no accents, lower case, phones as
digits). `refresh` brings it up to date from the revisions (and rejections) received
since it last ran; every page that reads the index calls it first, so the list is never
behind the database, and a server that was busy receiving pays for the index once, on the
next page view, in one write transaction per 2,000 records.

The search matches every word typed as a substring of `search`. A word of three characters
or more is looked up in `record_search`, an FTS5 trigram index of `search` kept equal to it
by triggers (migration 7), so a rare name or a phone number is found without reading every
row; a shorter word is matched with `LIKE` (the user's `%` and `_` escaped). Values are
always bound as parameters, and a word goes to FTS5 as a quoted string, never as a query.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from forms.text import fold
from sync_server.auth import Principal

CHUNK = 2000
PAGE_SIZE = 50
MAX_PAGE = 1_000_000
STATUSES = ("new", "edited", "conflict", "rejected")

# Answers whose names end like this are people's names or phone numbers: searchable.
_NAME_FIELD = re.compile(r"(^|_)(name|given_name|family_name|surname)$")
_PHONE_FIELD = re.compile(r"(phone|whatsapp|mobile)")


@functools.lru_cache(maxsize=4096)
def _kind(key: str) -> int:
    """0: not searchable; 1: a person's name; 2: a phone number (answer names repeat, so
    each is classified once: 100,000 households have 2.5 million answers)."""
    if _NAME_FIELD.search(key):
        return 1
    return 2 if _PHONE_FIELD.search(key) else 0


def searchable(answers: dict[str, Any]) -> tuple[str, str]:
    """(title, search text) of a record's answers: its names and phones, folded."""
    names: list[str] = []
    phones: list[str] = []
    top: list[tuple[int, str]] = []  # (order, name): given names before family names

    def walk(node: dict[str, Any], depth: int) -> None:
        for key, value in node.items():
            if isinstance(value, str):
                kind = _kind(key) if value else 0
                if kind == 1:
                    names.append(value)
                    if depth == 0:
                        top.append((0 if "given" in key else 2 if "family" in key else 1, value))
                elif kind == 2:
                    phones.append(re.sub(r"\D", "", value))
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for item in value:
                    if isinstance(item, dict):
                        walk(item, depth + 1)

    walk(answers, 0)
    title = " ".join(name for _, name in sorted(top)) or (names[0] if names else "")
    return title[:200], fold(" ".join(dict.fromkeys(names))) + " " + " ".join(phones)


def refresh(conn: sqlite3.Connection) -> int:
    """Re-index records changed since the last refresh (inside a write transaction);
    returns how many. Runs in chunks so that the first run on a large database keeps
    each statement's memory small."""
    seen_seq = int(_meta(conn, "index_seq") or 0)
    seen_rejection = int(_meta(conn, "index_rejection") or 0)
    latest_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM revisions").fetchone()[0]
    latest_rejection = conn.execute("SELECT coalesce(max(id), 0) FROM rejections").fetchone()[0]
    if latest_seq == seen_seq and latest_rejection == seen_rejection:
        return 0
    changed = [
        row[0]
        for row in conn.execute(
            "SELECT record_id FROM revisions WHERE seq > ? AND seq <= ? "
            "UNION SELECT record_id FROM rejections WHERE id > ? AND id <= ?",
            (seen_seq, latest_seq, seen_rejection, latest_rejection),
        )
    ]
    names = {row[0]: row[1] for row in conn.execute("SELECT account_id, name FROM accounts")}
    for start in range(0, len(changed), CHUNK):
        _index_records(conn, changed[start : start + CHUNK], names)
    _set_meta(conn, "index_seq", str(latest_seq))
    _set_meta(conn, "index_rejection", str(latest_rejection))
    return len(changed)


def needs_refresh(conn: sqlite3.Connection) -> bool:
    """Cheap check on a read connection: has anything arrived since the last refresh?"""
    seen = conn.execute(
        "SELECT (SELECT value FROM meta WHERE key = 'index_seq'), "
        "(SELECT value FROM meta WHERE key = 'index_rejection'), "
        "(SELECT coalesce(max(seq), 0) FROM revisions), "
        "(SELECT coalesce(max(id), 0) FROM rejections)"
    ).fetchone()
    return int(seen[0] or 0) != seen[2] or int(seen[1] or 0) != seen[3]


def _index_records(conn: sqlite3.Connection, ids: list[str], names: dict[str, str]) -> None:
    marks = ",".join("?" * len(ids))
    first = {
        row["record_id"]: row
        for row in conn.execute(
            "SELECT r.record_id, r.device_id, r.received_at FROM revisions r "
            f"JOIN (SELECT record_id, min(seq) AS seq FROM revisions WHERE record_id IN ({marks}) "
            "GROUP BY record_id) f ON f.seq = r.seq",
            ids,
        )
    }
    edits = {
        row[0]: row[1]
        for row in conn.execute(
            "SELECT record_id, count(*) FROM revisions WHERE origin != 'merge' "
            f"AND record_id IN ({marks}) GROUP BY record_id",
            ids,
        )
    }
    rejected = {
        row[0]: row[1]
        for row in conn.execute(
            f"SELECT record_id, max(received_at) FROM rejections WHERE record_id IN ({marks}) "
            "GROUP BY record_id",
            ids,
        )
    }
    rows = []
    for record in conn.execute(
        "SELECT record_id, form_id, district, site_id, answers, conflict, updated_at "
        f"FROM records WHERE record_id IN ({marks})",
        ids,
    ):
        origin = first.get(record["record_id"])
        if origin is None:
            continue
        last_rejected = rejected.get(record["record_id"])
        if record["conflict"] == "hard":
            status = "conflict"
        elif last_rejected and last_rejected >= record["updated_at"]:
            status = "rejected"
        else:
            status = "edited" if edits.get(record["record_id"], 1) > 1 else "new"
        title, search = searchable(json.loads(record["answers"]))
        rows.append(
            (record["record_id"], record["form_id"], record["district"], record["site_id"],
             names.get(origin["device_id"], origin["device_id"]), origin["received_at"][:10],
             record["updated_at"], status, title, search)
        )  # fmt: skip
    # An upsert, not INSERT OR REPLACE: the row keeps its rowid and the update fires the
    # trigger that keeps the search index (record_search, migration 7) equal to it.
    conn.executemany(
        "INSERT INTO record_index (record_id, form_id, district, site_id, "
        "enumerator, received_on, updated_at, status, title, search) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO UPDATE SET "
        "form_id = excluded.form_id, district = excluded.district, site_id = excluded.site_id, "
        "enumerator = excluded.enumerator, received_on = excluded.received_on, "
        "updated_at = excluded.updated_at, status = excluded.status, title = excluded.title, "
        "search = excluded.search",
        rows,
    )


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (f"workspace_{key}",)).fetchone()
    return row[0] if row else None


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (f"workspace_{key}", value),
    )


# --- the list ----------------------------------------------------------------------------


class FilterError(ValueError):
    """A filter value the list can't use; `key` names the message, `value` is shown."""

    def __init__(self, key: str, value: str, choices: list[str] | None = None):
        super().__init__(f"{key}: {value!r}")
        self.key, self.value, self.choices = key, value, choices or []


@dataclass
class Filters:
    form: str = ""
    district: str = ""
    site: str = ""
    enumerator: str = ""
    date_from: str = ""
    date_to: str = ""
    status: str = ""
    q: str = ""
    page: int = 1

    def query(self, **changes: Any) -> dict[str, str]:
        """The filters as URL query parameters (empty ones and page 1 left out)."""
        values = {**self.__dict__, **changes}
        return {
            key: str(value)
            for key, value in values.items()
            if value not in ("", None) and not (key == "page" and value == 1)
        }


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    beyond: bool = False  # the page asked for was past the last one
    notes: list[str] = field(default_factory=list)


def parse_filters(params: dict[str, str], forms: list[str]) -> Filters:
    """Read and check the list's query parameters; raises FilterError on bad input."""
    filters = Filters()
    for key in ("form", "district", "site", "enumerator", "status", "q"):
        value = (params.get(key) or "").strip()
        if len(value) > 200:
            raise FilterError("filter-too-long", key)
        setattr(filters, key, value)
    if filters.form and filters.form not in forms:
        raise FilterError("unknown-form", filters.form, forms)
    if filters.status and filters.status not in STATUSES:
        raise FilterError("unknown-status", filters.status, list(STATUSES))
    for key in ("date_from", "date_to"):
        value = (params.get(key) or "").strip()
        if value:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise FilterError("bad-date", value) from None
        setattr(filters, key, value)
    page = (params.get("page") or "1").strip()
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise FilterError("bad-page", page[:20])
    filters.page = int(page)
    return filters


TRIGRAM = 3  # FTS5's trigram tokenizer indexes runs of three characters


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_records(
    conn: sqlite3.Connection, principal: Principal, filters: Filters, page_size: int = PAGE_SIZE
) -> Page:
    """One page of the records in the principal's scope matching the filters, newest first."""
    where: list[str] = []
    params: list[Any] = []
    # With a search every row is read anyway; a `+` keeps SQLite from choosing an index
    # (a random read per row) over one sequential scan (see the order below).
    plus = "+" if filters.q.strip() else ""
    if not principal.is_national:
        where.append(f"{plus}district = ?")
        params.append(principal.district)
    for column, value in (
        ("form_id", filters.form),
        ("district", filters.district),
        ("site_id", filters.site),
        ("enumerator", filters.enumerator),
        ("status", filters.status),
    ):
        if value:
            where.append(f"{plus}{column} = ?")
            params.append(value)
    if filters.date_from:
        where.append(f"{plus}received_on >= ?")
        params.append(filters.date_from)
    if filters.date_to:
        where.append(f"{plus}received_on <= ?")
        params.append(filters.date_to)
    for word in fold(filters.q).split()[:8]:
        digits = re.sub(r"\D", "", word)
        # "84 123 4567" and "841234567" find the same phone: digits are matched as digits.
        term = digits if digits and len(digits) >= 3 and not re.search(r"[a-z]", word) else word
        if len(term) >= TRIGRAM:
            # The trigram index finds the rows holding the word anywhere in their text, as
            # LIKE '%word%' would, without reading every row (a quoted FTS5 string: no
            # operators, whatever was typed).
            where.append("rowid IN (SELECT rowid FROM record_search WHERE record_search MATCH ?)")
            params.append('"' + term.replace('"', '""') + '"')
        else:  # one or two letters: no trigram to look up
            where.append("search LIKE ? ESCAPE '\\'")
            params.append(f"%{_escape_like(term)}%")
    sql_where = " WHERE " + " AND ".join(where) if where else ""
    columns = (
        "record_id, form_id, district, site_id, enumerator, received_on, updated_at, status, title"
    )
    # Without a search, a page walks an index in list order and stops at its last row.
    # With one, every row in scope is read anyway (LIKE '%..%'): a sequential scan keeping
    # the newest matches beats walking an index with a random read per row. 100,000
    # households, a phone number: 50 ms instead of 450 ms.
    key = f"{plus}received_on"
    order = f"ORDER BY {key} DESC, record_id DESC LIMIT ? OFFSET ?"

    def page_rows(number: int) -> list[Any]:
        return conn.execute(
            f"SELECT {columns} FROM record_index{sql_where} {order}",
            [*params, page_size, (number - 1) * page_size],
        ).fetchall()

    found = page_rows(filters.page)
    if filters.page == 1 and len(found) < page_size:
        # A rare match (a phone number) was a full scan already: no second one to count.
        total = len(found)
    else:
        total = conn.execute(f"SELECT count(*) FROM record_index{sql_where}", params).fetchone()[0]
    pages = max(1, -(-total // page_size))
    page = filters.page
    beyond = page > pages
    if beyond:
        page = pages
        found = page_rows(page)
    rows = [{key: row[key] for key in columns.replace(" ", "").split(",")} for row in found]
    return Page(rows=rows, total=total, page=page, pages=pages, beyond=beyond)
