"""Probable duplicate households on the server: scored as they are merged, kept for review.

Life of a pair:

    a household record is merged (records.rebuild_record)
      -> `on_record_merged`: index its blocking keys, score it against the households that
         share a key (sync_core.dedup.score_new), store pairs above the threshold with the
         fields that agree                                   status 'open'
    a coordinator decides (`decide`):
      confirm  -> both records linked under one household id    status 'confirmed'
      dismiss  -> never shown again for that pair               status 'dismissed'
      reopen   -> the decision undone, the link removed         status 'open'

Tables (created by `migrate`, kept apart from the sync tables):

    dedup_households  one row per household record: blocking keys + the Household as JSON
    duplicate_pairs   one row per probable pair (record_id_1 < record_id_2)
    household_links   record -> household id, for confirmed pairs (exports carry it)

Every decision goes to the server's one `audit_log` (action `duplicate.confirm`,
`duplicate.dismiss` or `duplicate.reopen`, the pair id as target: ids only, no personal
data). Servers that kept a `duplicate_audit` table had it moved there by migration 6.

Everything here runs inside the caller's transaction (the server's single writer), so a
pair never refers to a household that was not stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import uuid
from functools import lru_cache
from typing import Any

from sync_core.dedup import (
    COMPARISONS,
    THRESHOLD,
    Household,
    Member,
    Model,
    household_from_answers,
)
from sync_core.dedup.compare import RULE_FIELDS
from sync_core.dedup.engine import score_new
from sync_core.dedup.normalise import name_tokens, normalise_phone, phonetic
from sync_server.problems import Problem

HOUSEHOLD_FIELD = "hh_head_given_name"  # a form with this field registers households
SCHEMA_VERSION_KEY = "duplicates_schema"
NAMESPACE = uuid.UUID("0c7f1e7e-43a5-4d55-8c3b-7f1f3e0a2d14")
AUDIT_PREFIX = "duplicate."  # audit_log actions: duplicate.confirm, .dismiss, .reopen
MAX_CANDIDATES = 2000  # per arriving household: a very common key is cut, not the server

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS dedup_households (
        record_id TEXT PRIMARY KEY,
        district TEXT,
        site_id TEXT,
        household TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS dedup_keys (
        rule TEXT NOT NULL,
        key TEXT NOT NULL,
        record_id TEXT NOT NULL,
        PRIMARY KEY (rule, key, record_id)
    )""",
    "CREATE INDEX IF NOT EXISTS dedup_keys_record ON dedup_keys (record_id)",
    """CREATE TABLE IF NOT EXISTS duplicate_pairs (
        pair_id TEXT PRIMARY KEY,
        record_id_1 TEXT NOT NULL,
        record_id_2 TEXT NOT NULL,
        score REAL NOT NULL,
        agreements TEXT NOT NULL,
        levels TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open'
            CHECK (status IN ('open', 'confirmed', 'dismissed')),
        district TEXT,
        site_id TEXT,
        detected_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        UNIQUE (record_id_1, record_id_2)
    )""",
    "CREATE INDEX IF NOT EXISTS duplicate_pairs_scope ON duplicate_pairs (district, status)",
    """CREATE TABLE IF NOT EXISTS household_links (
        record_id TEXT PRIMARY KEY,
        household_id TEXT NOT NULL,
        pair_id TEXT NOT NULL
    )""",
]


def migrate(conn: sqlite3.Connection) -> None:
    """Create the tables if missing (inside the caller's transaction)."""
    for statement in SCHEMA:
        conn.execute(statement)


@lru_cache(maxsize=1)
def model() -> Model:
    return Model.default()


def _keys(household: Household) -> dict[str, str]:
    """The household's blocking keys as stable text (the batch engine numbers its keys per
    run): the rules of `sync_core.dedup.compare.blocking_keys`, where they apply."""
    given = [phonetic(t) for t in name_tokens(household.head_given_name)]
    family = " ".join(sorted(phonetic(t) for t in name_tokens(household.head_family_name)))
    phone = normalise_phone(household.phone)
    first = given[0] if given else ""
    site, size, sex = household.site_id, household.household_size, household.sex
    ages = [m.age for m in household.members if m.age is not None]
    youngest, eldest = (min(ages), max(ages)) if ages else (None, None)
    parts = {
        "phone": [phone],
        "site+family": [site, family],
        "site+given": [site, first],
        "site+size+youngest": [site, size, youngest],
        "site+size+eldest": [site, size, eldest],
        "family+initial+sex": [family, first[:2], sex],
        "phone start": [phone[:6]],
        "phone end": [phone[4:]],
        "members": [size if size and size >= 3 else None, youngest, eldest],
    }
    assert set(parts) == set(RULE_FIELDS), "a blocking rule without a server key"
    return {
        rule: "|".join(str(p) for p in values)
        for rule, values in parts.items()
        if all(p not in (None, "") for p in values)
    }


def _to_json(household: Household) -> str:
    data = dataclasses.asdict(household)
    data["registration_date"] = (
        household.registration_date.isoformat() if household.registration_date else None
    )
    return json.dumps(data, separators=(",", ":"))


def _from_json(text: str) -> Household:
    data = json.loads(text)
    data["members"] = tuple(Member(**m) for m in data["members"])
    if data["registration_date"]:
        data["registration_date"] = dt.date.fromisoformat(data["registration_date"])
    return Household(**data)


def on_record_merged(
    conn: sqlite3.Connection,
    record_id: str,
    answers: dict[str, Any],
    *,
    district: str | None,
    site_id: str | None,
    now: str,
) -> list[str]:
    """Index a merged household and store its probable duplicates; the pair ids found.

    Not a household registration (no head's name field): nothing to do.
    """
    if HOUSEHOLD_FIELD not in answers:
        return []
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'duplicate_pairs'"
    ).fetchone():
        migrate(conn)
    household = household_from_answers(record_id, answers)
    keys = _keys(household)
    conn.execute("DELETE FROM dedup_keys WHERE record_id = ?", (record_id,))
    conn.executemany(
        "INSERT INTO dedup_keys (rule, key, record_id) VALUES (?, ?, ?)",
        [(rule, key, record_id) for rule, key in keys.items()],
    )
    conn.execute(
        "INSERT INTO dedup_households (record_id, district, site_id, household) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (record_id) DO UPDATE SET district = excluded.district, "
        "site_id = excluded.site_id, household = excluded.household",
        (record_id, district, site_id, _to_json(household)),
    )
    candidate_ids = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT other.record_id FROM dedup_keys AS mine "
            "JOIN dedup_keys AS other ON other.rule = mine.rule AND other.key = mine.key "
            "WHERE mine.record_id = ? AND other.record_id != ? LIMIT ?",
            (record_id, record_id, MAX_CANDIDATES),
        )
    ]
    candidates = [
        _from_json(row[0])
        for row in conn.execute(
            f"SELECT household FROM dedup_households WHERE record_id IN "
            f"({','.join('?' * len(candidate_ids))})",
            candidate_ids,
        )
    ]
    population = conn.execute("SELECT count(*) FROM dedup_households").fetchone()[0]
    matches = score_new(household, candidates, model(), population=population)
    # An update or re-registration carries the household id of its card: it is the same
    # household by decision of the enumerator who scanned the card, not a probable duplicate.
    same_card = _same_card(conn, answers.get("household_id"), candidate_ids)
    matches = [m for m in matches if not {m.record_id_1, m.record_id_2} & same_card]
    found_ids = []
    for match in matches:
        first, second = sorted((match.record_id_1, match.record_id_2))
        pair_id = str(uuid.uuid5(NAMESPACE, f"{first}|{second}"))
        found_ids.append(pair_id)
        # A decided pair keeps its decision: a dismissed pair is never shown again.
        conn.execute(
            "INSERT INTO duplicate_pairs (pair_id, record_id_1, record_id_2, score, agreements, "
            "levels, district, site_id, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (pair_id) DO UPDATE SET score = excluded.score, "
            "agreements = excluded.agreements, levels = excluded.levels "
            "WHERE duplicate_pairs.status = 'open'",
            (pair_id, first, second, match.score, json.dumps(match.agreements),
             json.dumps(match.levels), district, site_id, now),
        )  # fmt: skip
    # An open pair that this record's new answers no longer support is withdrawn.
    placeholders = ",".join("?" * len(found_ids)) or "''"
    conn.execute(
        "DELETE FROM duplicate_pairs WHERE status = 'open' AND "
        f"(record_id_1 = ? OR record_id_2 = ?) AND pair_id NOT IN ({placeholders})",
        (record_id, record_id, *found_ids),
    )
    return found_ids


def _same_card(conn: sqlite3.Connection, card: Any, candidate_ids: list[str]) -> set[str]:
    """The candidates registered under the same household id (card) as the new record."""
    if not isinstance(card, str) or not card or not candidate_ids:
        return set()
    return {
        row[0]
        for row in conn.execute(
            f"SELECT record_id FROM records WHERE record_id IN "
            f"({','.join('?' * len(candidate_ids))}) "
            "AND json_extract(answers, '$.household_id') = ?",
            (*candidate_ids, card),
        )
    }


# Review ───────────────────────────────────────────────────────────────────────────────


class DecisionError(Problem):
    """A pair decision can't be applied (`not-found`, `already-decided`, `not-decided`);
    the statuses are the catalogue's (`sync_server.problems`)."""


def _reasons(agreements: list[str]) -> list[str]:
    by_name = {c.name: c.reason for c in COMPARISONS}
    return [by_name[name] for name in agreements if name in by_name]


def household_id_of(conn: sqlite3.Connection, record_id: str) -> str:
    """The household a record belongs to: its confirmed link; else the household id the
    tablet gave it (the registration's `household_id` answer, printed on the card); else
    the record id (records from before household ids)."""
    row = conn.execute(
        "SELECT household_id FROM household_links WHERE record_id = ?", (record_id,)
    ).fetchone()
    if row:
        return row[0]
    own = conn.execute(
        "SELECT json_extract(answers, '$.household_id') FROM records WHERE record_id = ?",
        (record_id,),
    ).fetchone()
    return own[0] if own and isinstance(own[0], str) and own[0] else record_id


def _registered_first(conn: sqlite3.Connection, record_ids: tuple[str, str]) -> str:
    """Of two records, the one whose first revision was made first (ties: received first):
    a confirmed pair keeps the older registration's household id, the one on its card."""

    def first_made(record_id: str) -> tuple[str, int]:
        # Made first on its tablet; made in the same second: received first here.
        row = conn.execute(
            "SELECT MIN(created_at), MIN(rowid) FROM revisions WHERE record_id = ?", (record_id,)
        ).fetchone()
        return (row[0] or "", row[1] or 0)

    return min(record_ids, key=first_made)


def list_pairs(
    conn: sqlite3.Connection,
    district: str,
    sites: tuple[str, ...] = (),
    status: str = "open",
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Pairs in a coordinator's scope, most probable first, with both records' answers."""
    sql = "SELECT * FROM duplicate_pairs WHERE district = ? AND status = ?"
    params: list[Any] = [district, status]
    if sites:
        sql += f" AND site_id IN ({','.join('?' * len(sites))})"
        params.extend(sites)
    sql += " ORDER BY score DESC, pair_id LIMIT ? OFFSET ?"
    params.extend([limit, offset])
    out = []
    for row in conn.execute(sql, params).fetchall():
        records = []
        for record_id in (row["record_id_1"], row["record_id_2"]):
            found = conn.execute(
                "SELECT answers, site_id FROM records WHERE record_id = ?", (record_id,)
            ).fetchone()
            records.append(
                {
                    "record_id": record_id,
                    "household_id": household_id_of(conn, record_id),
                    "site_id": found["site_id"] if found else None,
                    "answers": json.loads(found["answers"]) if found else None,
                }
            )
        agreements = json.loads(row["agreements"])
        out.append(
            {
                "pair_id": row["pair_id"],
                "score": row["score"],
                "status": row["status"],
                "agreements": agreements,
                "reasons": _reasons(agreements),
                "levels": json.loads(row["levels"]),
                "detected_at": row["detected_at"],
                "decided_at": row["decided_at"],
                "records": records,
            }
        )
    return out


def decide(
    conn: sqlite3.Connection,
    pair_id: str,
    action: str,
    *,
    account_id: str,
    district: str,
    sites: tuple[str, ...],
    now: str,
) -> dict[str, Any]:
    """Confirm, dismiss or reopen a pair (inside the writer's transaction)."""
    row = conn.execute("SELECT * FROM duplicate_pairs WHERE pair_id = ?", (pair_id,)).fetchone()
    if row is None or row["district"] != district or (sites and row["site_id"] not in sites):
        raise DecisionError("not-found", f"No duplicate pair {pair_id} in your scope.")
    wanted = {"confirm": "confirmed", "dismiss": "dismissed", "reopen": "open"}[action]
    if action != "reopen" and row["status"] != "open":
        raise DecisionError(
            "already-decided",
            f"Pair {pair_id} was already {row['status']}; reopen it first to change that.",
        )
    if action == "reopen" and row["status"] == "open":
        raise DecisionError("not-decided", f"Pair {pair_id} is open already.")
    first, second = row["record_id_1"], row["record_id_2"]
    household_id = None
    if action == "confirm":
        # Join the households both records already belong to, under the older one's id.
        household_id = household_id_of(conn, _registered_first(conn, (first, second)))
        members = {first, second}
        for record_id in (first, second):
            members.update(
                r[0]
                for r in conn.execute(
                    "SELECT record_id FROM household_links WHERE household_id = ?",
                    (household_id_of(conn, record_id),),
                )
            )
        for record_id in members:
            conn.execute(
                "INSERT INTO household_links (record_id, household_id, pair_id) VALUES (?, ?, ?) "
                "ON CONFLICT (record_id) DO UPDATE SET household_id = excluded.household_id",
                (record_id, household_id, pair_id),
            )
    elif action == "reopen" and row["status"] == "confirmed":
        conn.execute("DELETE FROM household_links WHERE pair_id = ?", (pair_id,))
    conn.execute(
        "UPDATE duplicate_pairs SET status = ?, decided_by = ?, decided_at = ? WHERE pair_id = ?",
        (wanted, None if action == "reopen" else account_id,
         None if action == "reopen" else now, pair_id),
    )  # fmt: skip
    conn.execute(
        "INSERT INTO audit_log (at, account_id, action, target, outcome) VALUES (?, ?, ?, ?, 'ok')",
        (now, account_id, AUDIT_PREFIX + action, pair_id),
    )
    return {
        "pair_id": pair_id,
        "status": wanted,
        "household_id": household_id,
        "record_ids": [first, second],
    }


def audit_log(conn: sqlite3.Connection, pair_id: str | None = None) -> list[dict[str, Any]]:
    """The decisions on pairs (or on one pair), oldest first, from audit_log."""
    sql = (
        "SELECT target AS pair_id, substr(action, ?) AS action, account_id, at FROM audit_log "
        "WHERE action IN ('duplicate.confirm', 'duplicate.dismiss', 'duplicate.reopen')"
    )
    params: list[Any] = [len(AUDIT_PREFIX) + 1]
    if pair_id:
        sql += " AND target = ?"
        params.append(pair_id)
    return [dict(row) for row in conn.execute(sql + " ORDER BY id", params)]


__all__ = ["THRESHOLD", "decide", "household_id_of", "list_pairs", "migrate", "on_record_merged"]
