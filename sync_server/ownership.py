"""Who owns a record, and which revisions may join its history.

A record's scope is what the server has stored for it (its district and site), not what a
new revision claims: a device may add a revision to an existing record only when its
account covers the stored scope AND the scope of the new answers. So a tablet can't move
another district's record into its own by editing it, or by sending a parentless revision
that reuses its id.

A revision's lineage must be sound before it is stored:

- its parent is a revision of the SAME record that the server already holds (stored
  earlier, or earlier in the same batch: a tablet sends a parent before its child), so a
  revision can't be its own parent and no parent cycle can form, in one batch or over two;
- it keeps the record's form (an edit may change answers and the form *version*, never the
  form: a site check can't become a household).

These functions read the writer's connection; each returns a reason dict (the same shape as
the form engine's field-level reasons) or None when the revision may be stored.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from forms.validation import rejection_reason
from sync_server.auth import Principal

Reason = dict[str, str]


def _reason(field: str, code: str, message: str) -> Reason:
    return rejection_reason(code, message, field=field)


def stored_scope(conn: sqlite3.Connection, record_id: str) -> tuple[str | None, str | None] | None:
    """(district, site_id) the server holds for a record; None for a record it doesn't know."""
    row = conn.execute(
        "SELECT district, site_id FROM records WHERE record_id = ?", (record_id,)
    ).fetchone()
    return None if row is None else (row[0], row[1])


def scope_problem(conn: sqlite3.Connection, who: Principal, record_id: str) -> str | None:
    """Why `who` may not add to this record's history, or None (unknown records are free)."""
    scope = stored_scope(conn, record_id)
    if scope is None or who.covers(*scope):
        return None
    district, site_id = scope
    return (
        f"record {record_id} belongs to district {district}"
        + (f", site {site_id}" if site_id else "")
        + "; only an account covering it may change it"
    )


def lineage_problem(conn: sqlite3.Connection, raw: dict[str, Any]) -> Reason | None:
    """A parent that is missing, the revision itself, or a revision of another record."""
    parent = raw.get("parent_revision_id")
    if parent is None:
        return None
    if parent == raw["revision_id"]:
        return _reason(
            "parent_revision_id",
            "parent",
            "This revision names itself as its parent. A new record has no parent; an edit "
            "names the revision it started from. Report this tablet to the administrator.",
        )
    row = conn.execute(
        "SELECT record_id FROM revisions WHERE revision_id = ?", (parent,)
    ).fetchone()
    if row is None:
        return _reason(
            "parent_revision_id",
            "parent",
            f"The parent revision {parent} is not on this server. Send the parent first (or "
            "earlier in the same batch); a parent that was refused must be fixed first.",
        )
    if row[0] != raw["record_id"]:
        return _reason(
            "parent_revision_id",
            "parent",
            f"The parent revision {parent} belongs to another record ({row[0]}); an edit's "
            "parent must be a revision of the same record.",
        )
    return None


def form_problem(conn: sqlite3.Connection, raw: dict[str, Any]) -> Reason | None:
    """An edit that changes the record's form (answered `conflicting-id`)."""
    row = conn.execute(
        "SELECT form_id FROM records WHERE record_id = ?", (raw["record_id"],)
    ).fetchone()
    if row is None or row[0] == raw["form_id"]:
        return None
    return _reason(
        "form_id",
        "conflicting-id",
        f"Record {raw['record_id']} was filled with form {row[0]!r}; an edit can't change "
        f"it to form {raw['form_id']!r}. It was not stored: register a new record instead.",
    )
