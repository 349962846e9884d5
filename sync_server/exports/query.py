"""What an export reads, all inside ONE read transaction (a consistent snapshot).

SQLite in WAL mode gives a reader the database as it was at its first SELECT until the
transaction ends; a push committed meanwhile is invisible to the whole export, never half
in it. Records stream through one cursor in pages (`fetchmany`), so memory holds a page.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_server.auth import Principal
from sync_server.catalog import published_forms
from sync_server.db import connect
from sync_server.exports.options import ExportOptions

PAGE_SIZE = 500
_STATUS_SQL = {"clean": "none", "soft-conflict": "soft", "open-conflict": "hard"}
_STATUS_NAME = {"none": "clean", "soft": "soft-conflict", "hard": "open-conflict"}


class Snapshot:
    """A read-only connection holding one transaction open until `close()`."""

    def __init__(self, database_path: Path):
        self.conn = connect(database_path, read_only=True)
        self.conn.execute("BEGIN")
        # The snapshot starts at the first read, not at BEGIN: read now.
        self.conn.execute("SELECT count(*) FROM meta").fetchone()

    def close(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        self.conn.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def secret(self) -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'export_secret'").fetchone()
        if row is None:  # a database from before migration 2 that was opened read-only
            raise RuntimeError("the database has no export secret; start the server once")
        return row[0]

    def form_files(self, form_id: str) -> list[tuple[str, str]]:
        """(version, file name) of every published version of the form, newest first."""
        return [
            (f.version, f.file_name)
            for f in reversed(published_forms(self.conn))
            if f.form_id == form_id
        ]

    def form_ids(self) -> list[str]:
        return sorted({f.form_id for f in published_forms(self.conn)})

    def count(self, options: ExportOptions, principal: Principal | None) -> int:
        where, params = _filters(options, principal)
        table = (
            "revisions v JOIN records r ON r.record_id = v.record_id"
            if (options.every_revision)
            else "records r"
        )
        return self.conn.execute(
            f"SELECT count(*) FROM {table} JOIN revisions f ON f.seq = "
            "(SELECT min(seq) FROM revisions WHERE record_id = r.record_id) "
            f"LEFT JOIN accounts a ON a.account_id = f.device_id WHERE {where}",
            params,
        ).fetchone()[0]

    def records(self, options: ExportOptions, principal: Principal | None) -> Iterator[Row]:
        """The records (or revisions) to export, oldest first, a page at a time."""
        where, params = _filters(options, principal)
        if options.every_revision:
            sql = (
                "SELECT v.revision_id, v.record_id, v.parent_revision_id, v.origin, "
                "v.created_at AS revision_created_at, v.form_version, v.body AS answers, "
                "v.device_id, r.site_id, r.district, r.conflict, r.revision_count, "
                "f.received_at, a.name AS submitter, {LINK} FROM revisions v "
                "JOIN records r ON r.record_id = v.record_id "
            )
            order = "v.seq"
        else:
            sql = (
                "SELECT r.record_id, r.form_version, r.answers, r.site_id, r.district, "
                "r.conflict, r.revision_count, f.received_at, f.device_id, "
                "a.name AS submitter, {LINK} FROM records r "
            )
            order = "r.rowid"
        sql += (
            "JOIN revisions f ON f.seq = (SELECT min(seq) FROM revisions "
            "WHERE record_id = r.record_id) "
            f"LEFT JOIN accounts a ON a.account_id = f.device_id WHERE {where} ORDER BY {order}"
        )
        cursor = self.conn.execute(sql.replace("{LINK}", self._link_join()), params)
        while True:
            page = cursor.fetchmany(PAGE_SIZE)
            if not page:
                return
            for row in page:
                yield Row(row, options.every_revision)

    def _link_join(self) -> str:
        """The household id a confirmed duplicate links the record under, or NULL. The
        links table appears with the first household merged (sync_server.duplicates)."""
        if self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'household_links'"
        ).fetchone():
            return (
                "(SELECT household_id FROM household_links l WHERE l.record_id = r.record_id)"
                " AS linked_household"
            )
        return "NULL AS linked_household"

    def site_checks(self, district: str | None, site_id: str | None) -> Iterator[dict[str, Any]]:
        """Merged answers of every site check (for the sites' latest Sphere ratings)."""
        sql = "SELECT answers FROM records WHERE form_id = 'site_check'"
        params: list[Any] = []
        if district:
            sql += " AND district = ?"
            params.append(district)
        if site_id:
            sql += " AND site_id = ?"
            params.append(site_id)
        for row in self.conn.execute(sql + " ORDER BY rowid", params):
            yield json.loads(row[0])


@dataclass
class Row:
    """One record (or revision) as the export needs it."""

    row: sqlite3.Row
    is_revision: bool

    def answers(self) -> dict[str, Any]:
        data = json.loads(self.row["answers"])
        return data["answers"] if self.is_revision else data

    def __getitem__(self, key: str) -> Any:
        return self.row[key]

    @property
    def status(self) -> str:
        return _STATUS_NAME.get(self.row["conflict"], self.row["conflict"])


def effective_district(options: ExportOptions, principal: Principal | None) -> str | None:
    """The district the export is limited to: the one asked for, else the caller's."""
    if options.district:
        return options.district
    if principal is None or principal.is_national:
        return None
    return principal.district


def _filters(options: ExportOptions, principal: Principal | None) -> tuple[str, list[Any]]:
    where = ["r.form_id = ?"]
    params: list[Any] = [options.form_id]
    district = effective_district(options, principal)
    if district:
        where.append("r.district = ?")
        params.append(district)
    if options.site_id:
        where.append("r.site_id = ?")
        params.append(options.site_id)
    elif principal is not None and principal.sites:
        where.append(f"r.site_id IN ({','.join('?' * len(principal.sites))})")
        params.extend(principal.sites)
    if options.date_from:
        where.append("substr(f.created_at, 1, 10) >= ?")
        params.append(options.date_from.isoformat())
    if options.date_to:
        where.append("substr(f.created_at, 1, 10) <= ?")
        params.append(options.date_to.isoformat())
    if options.enumerator:
        where.append("(a.name = ? OR f.device_id = ?)")
        params.extend([options.enumerator, options.enumerator])
    if options.status:
        where.append("r.conflict = ?")
        params.append(_STATUS_SQL[options.status])
    if not options.include_open_conflicts:
        where.append("r.conflict != 'hard'")
    return " AND ".join(where), params
