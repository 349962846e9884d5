"""A coordinator moves a record to another district (or another site).

A device can never move a record out of its scope (sync_server.ownership). A coordinator
whose scope covers the record where it is AND where it goes (in practice a national one,
or a district coordinator between two sites of the district) may: the move is a revision
in the record's history, written by the server on the coordinator's behalf like a
conflict decision, with the new `district` and `site_id` answers, and filed under the new
place. So tablets of the new district receive it by pull (a complete record: its answers
are the merged state), and tablets of the old district no longer receive the record's
revisions, and are refused (403 out-of-scope) when they push an edit of it: the stored
scope is the new one. Each transfer is audited (`record.transfer`; ids and P-codes only).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from forms.geo import default_gazetteer
from forms.scope import DISTRICT_QUESTION, SITE_QUESTION
from sync_server import records
from sync_server.auth import Principal, now_utc
from sync_server.problems import Problem
from sync_server.workspace.accounts import audit

__all__ = ["audit_refusal", "transfer_record"]


def transfer_record(
    conn: sqlite3.Connection,
    principal: Principal,
    record_id: str,
    district: str,
    site_id: str | None,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Move `record_id` to `district` (and `site_id`, a site of that district); returns the
    transfer revision's id and seq. Raises Problem: `not-found` (no such record where you
    can see it), `out-of-scope` (the destination is outside your scope), `invalid` (an
    unknown district or site, a site of another district, the place it already is, or a
    form without a district question)."""
    now = now or now_utc()
    record = conn.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone()
    if record is None or not principal.covers(record["district"], record["site_id"]):
        raise Problem("not-found", f"No record {record_id} in your scope.")
    if not principal.covers(district, site_id):
        raise Problem(
            "out-of-scope",
            f"Moving record {record_id} to {district} needs an account covering both "
            f"{record['district']} and {district} (a national coordinator).",
        )
    _check_place(district, site_id)
    if (district, site_id) == (record["district"], record["site_id"]):
        raise _invalid("district", f"Record {record_id} is already in {district}.")
    answers = json.loads(record["answers"])
    if DISTRICT_QUESTION not in answers:
        raise _invalid("district", f"Record {record_id}'s form has no district to change.")
    answers[DISTRICT_QUESTION] = district
    if site_id is not None:
        answers[SITE_QUESTION] = site_id
    else:
        answers.pop(SITE_QUESTION, None)
    revision, seq, _head = records.add_revision_on_head(
        conn, principal, record, answers, now=now, scope=(district, site_id)
    )
    records.rebuild_record(conn, record_id, now=now)
    outcome = f"{record['district']}->{district}"
    audit(conn, principal.account_id, "record.transfer", record_id, outcome=outcome, now=now)
    return {
        "record_id": record_id,
        "revision_id": revision["revision_id"],
        "seq": seq,
        "district": district,
        "site_id": site_id,
    }


def audit_refusal(conn: sqlite3.Connection, principal: Principal, record_id: str) -> None:
    """A refused transfer is audited too (in its own transaction: the refused one is rolled
    back)."""
    audit(conn, principal.account_id, "record.transfer", record_id, outcome="out-of-scope")


def _check_place(district: str, site_id: str | None) -> None:
    gazetteer = default_gazetteer()
    if gazetteer.district(district) is None:
        raise _invalid("district", f"There is no district {district}.")
    if site_id is None:
        return
    site = gazetteer.sites.get(site_id)
    if site is None:
        raise _invalid("site_id", f"There is no site {site_id}.")
    if site.district_pcode != district:
        raise _invalid(
            "site_id", f"Site {site_id} is in district {site.district_pcode}, not {district}."
        )


def _invalid(where: str, message: str) -> Problem:
    return Problem("invalid", message, [{"where": where, "message": message}])
