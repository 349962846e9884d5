"""The SQL behind the workspace pages (read-only connections), scoped to the coordinator.

Every query takes the coordinator's `Principal` and restricts rows to its district (a
national coordinator sees every district), so a page can't show what is outside it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from sync_server.auth import Principal, now_utc


def scope(principal: Principal, column: str = "district") -> tuple[str, list[Any]]:
    if principal.is_national:
        return "1 = 1", []
    return f"{column} = ?", [principal.district]


def today() -> str:
    return now_utc().date().isoformat()


def overview_counts(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
    """Records today and in total, per form, district, site and enumerator, from ONE pass
    over the records in scope (four GROUP BYs would read 100,000 rows four times)."""
    where, params = scope(principal)
    groups: dict[str, dict[Any, dict[str, int]]] = {
        key: {} for key in ("form_id", "district", "site_id", "enumerator")
    }
    totals = {"total": 0, "today": 0}
    day = today()
    for row in conn.execute(
        "SELECT form_id, district, site_id, enumerator, received_on, count(*) "
        f"FROM record_index WHERE {where} "
        "GROUP BY district, form_id, site_id, enumerator, received_on",
        params,
    ):
        count, is_today = row[5], row[4] == day
        totals["total"] += count
        totals["today"] += count if is_today else 0
        for position, key in enumerate(groups):
            entry = groups[key].setdefault(row[position], {"total": 0, "today": 0})
            entry["total"] += count
            entry["today"] += count if is_today else 0
    result: dict[str, Any] = {"totals": totals}
    for key, found in groups.items():
        rows = [{"key": value, **counts} for value, counts in found.items()]
        rows.sort(key=lambda item: (-item["total"], str(item["key"])))
        result[f"by_{key.removesuffix('_id')}"] = rows[:200]
    return result


def open_conflicts(conn: sqlite3.Connection, principal: Principal) -> int:
    where, params = scope(principal)
    return conn.execute(
        f"SELECT count(*) FROM conflicts WHERE kind = 'hard' AND status = 'open' AND {where}",
        params,
    ).fetchone()[0]


def devices(conn: sqlite3.Connection, principal: Principal) -> list[dict[str, Any]]:
    """Tablets in scope with what they last reported, most recently seen first."""
    where, params = scope(principal, "a.district")
    rows = conn.execute(
        "SELECT a.account_id, a.name, a.district, a.sites, a.created_at, a.revoked_at, "
        "a.last_seen_at, r.app_version, r.outbox, r.clock_offset_s, r.reported_at "
        "FROM accounts a LEFT JOIN device_reports r ON r.account_id = a.account_id "
        f"WHERE a.role = 'device' AND {where} "
        "ORDER BY a.revoked_at IS NOT NULL, coalesce(r.reported_at, a.last_seen_at) DESC",
        params,
    ).fetchall()
    result = []
    for row in rows:
        item = dict(row)
        item["sites"] = json.loads(row["sites"] or "[]")
        item["last_sync"] = max(filter(None, [row["last_seen_at"], row["reported_at"]]),
                                default=None)  # fmt: skip
        result.append(item)
    return result


def enumerators(conn: sqlite3.Connection, principal: Principal) -> list[dict[str, Any]]:
    """Enumerators (the names tablets were enrolled for) with their records in scope."""
    where, params = scope(principal, "a.district")
    return [
        dict(row)
        for row in conn.execute(
            "SELECT a.name, count(DISTINCT a.account_id) AS tablets, "
            "sum(a.revoked_at IS NULL) AS active, max(a.last_seen_at) AS last_seen, "
            "(SELECT count(*) FROM record_index i WHERE i.enumerator = a.name) AS records "
            f"FROM accounts a WHERE a.role = 'device' AND {where} GROUP BY a.name ORDER BY a.name",
            params,
        )
    ]


def pending_codes(conn: sqlite3.Connection, principal: Principal) -> list[dict[str, Any]]:
    where, params = scope(principal)
    return [
        dict(row)
        for row in conn.execute(
            "SELECT name, district, sites, created_at, expires_at FROM enrollment_codes "
            f"WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > ? AND {where} "
            "AND role = 'device' ORDER BY created_at DESC LIMIT 50",
            [dt.datetime.now(dt.UTC).isoformat(), *params],
        )
    ]


def rejections(
    conn: sqlite3.Connection, principal: Principal, limit: int = 20
) -> list[dict[str, Any]]:
    where, params = scope(principal, "j.district")
    rows = conn.execute(
        "SELECT j.received_at, j.device_id, j.record_id, j.form_id, j.form_version, j.reasons, "
        "a.name AS enumerator FROM rejections j LEFT JOIN accounts a "
        f"ON a.account_id = j.device_id WHERE {where} ORDER BY j.id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [{**dict(row), "reasons": json.loads(row["reasons"])} for row in rows]


def rejection_count(conn: sqlite3.Connection, principal: Principal) -> int:
    where, params = scope(principal)
    return conn.execute(f"SELECT count(*) FROM rejections WHERE {where}", params).fetchone()[0]


def account_names(conn: sqlite3.Connection) -> dict[str, str]:
    return {row[0]: row[1] for row in conn.execute("SELECT account_id, name FROM accounts")}


def record_row(conn: sqlite3.Connection, principal: Principal, record_id: str) -> Any:
    """The merged record if it exists AND is in scope; None otherwise (same for both)."""
    row = conn.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone()
    if row is None or not principal.covers(row["district"], row["site_id"]):
        return None
    return row


def revisions_of(conn: sqlite3.Connection, record_id: str) -> list[dict[str, Any]]:
    return [
        {**dict(row), "answers": json.loads(row["body"])["answers"]}
        for row in conn.execute(
            "SELECT seq, revision_id, parent_revision_id, merged_from, device_id, uploaded_by, "
            "hlc, created_at, received_at, origin, body FROM revisions WHERE record_id = ? "
            "ORDER BY seq",
            (record_id,),
        )
    ]


def decisions_of(conn: sqlite3.Connection, record_id: str) -> dict[str, dict[str, Any]]:
    return {
        row["revision_id"]: dict(row)
        for row in conn.execute(
            "SELECT revision_id, conflict_id, chosen_revision_id, decided_by, note "
            "FROM decisions WHERE record_id = ?",
            (record_id,),
        )
    }


def record_rejections(conn: sqlite3.Connection, record_id: str) -> list[dict[str, Any]]:
    return [
        {**dict(row), "reasons": json.loads(row["reasons"])}
        for row in conn.execute(
            "SELECT received_at, device_id, revision_id, reasons FROM rejections "
            "WHERE record_id = ? ORDER BY id",
            (record_id,),
        )
    ]


def records_of_form(
    conn: sqlite3.Connection, principal: Principal, form_id: str
) -> list[sqlite3.Row]:
    where, params = scope(principal)
    return conn.execute(
        "SELECT record_id, district, site_id, head_revision_id, answers, updated_at "
        f"FROM records WHERE form_id = ? AND {where}",
        [form_id, *params],
    ).fetchall()


def households_per_site(conn: sqlite3.Connection, principal: Principal) -> dict[str, int]:
    where, params = scope(principal)
    return {
        row[0]: row[1]
        for row in conn.execute(
            "SELECT site_id, count(*) FROM record_index WHERE form_id = 'household_registration' "
            f"AND site_id IS NOT NULL AND {where} GROUP BY site_id",
            params,
        )
    }
