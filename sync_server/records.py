"""What the server does with revisions: store a batch, rebuild merged records, answer pulls.

The write functions take a connection already inside the writer's transaction (see db.py);
the read functions take a read-only connection. The merge itself is in merge.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from forms.validation import rejection_reason
from sync_core import merge
from sync_core.hlc import MAX_COUNTER, MAX_DRIFT_MS, format_hlc, is_far_future, parse_hlc
from sync_core.protocol import body_hash, canonical_json
from sync_server import duplicates, ownership
from sync_server.auth import Principal, iso, now_utc
from sync_server.problems import Problem

# Ids of what the server derives (merge revisions, conflicts) are uuid5s of their inputs,
# so a national server fed the same revisions in the same order derives the same ids.
NAMESPACE = uuid.UUID("6b0f8a52-5c1e-4c55-9a0e-2d7a3e9c4f11")
SERVER_NODE = "server"

log = logging.getLogger("sync_server")


@dataclass
class Incoming:
    """One revision of a push, checked (reasons filled in) before it reaches the writer."""

    raw: dict[str, Any]  # the JSON object as received
    body: str  # canonical JSON of `raw`
    sha256: str
    district: str | None = None
    site_id: str | None = None
    reasons: list[dict[str, str]] = field(default_factory=list)

    @property
    def revision_id(self) -> str:
        return self.raw["revision_id"]

    @property
    def record_id(self) -> str:
        return self.raw["record_id"]


@dataclass
class StoredResult:
    revision_id: str
    record_id: str
    status: str
    reasons: list[dict[str, str]] = field(default_factory=list)
    conflict: str | None = None
    hlc_clamped: bool = False
    seq: int | None = None


def incoming(raw: dict[str, Any]) -> Incoming:
    """A received revision with its canonical body and hash. Text that can't be UTF-8
    (a lone surrogate such as "\\ud800" is valid JSON but no character) is refused here,
    for this revision only, before anything tries to store or echo it."""
    body = canonical_json(raw)
    try:
        return Incoming(raw=raw, body=body, sha256=body_hash(body))
    except UnicodeEncodeError:
        digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
        return Incoming(raw=raw, body=body, sha256=digest, reasons=[UNENCODABLE_TEXT])


UNENCODABLE_TEXT = rejection_reason(
    "text",
    "This revision holds text that is not valid Unicode (an unpaired surrogate). Retype the "
    "answers with odd characters, or report the tablet to the administrator.",
    field="answers",
)

INTERNAL = rejection_reason(
    "internal",
    "The server failed on this revision; it was not stored, the others were. The "
    "administrator has the details in the server log.",
)


def ordering_hlc(hlc: str, now_ms: int, max_drift_ms: int = MAX_DRIFT_MS) -> tuple[str, str | None]:
    """The HLC used for ordering, and a flag when it had to be clamped.

    A tablet whose clock jumped years ahead would otherwise win every conflict forever;
    its timestamp is ordered as if it arrived now. The original stays in the revision.
    """
    if is_far_future(hlc, now_ms, max_drift_ms):
        _, counter, node = parse_hlc(hlc)
        return format_hlc(now_ms, counter, node), "far-future"
    return hlc, None


def store_batch(
    conn: sqlite3.Connection,
    principal: Principal,
    batch_id: str,
    batch: list[Incoming],
    *,
    now: dt.datetime | None = None,
    max_drift_ms: int = MAX_DRIFT_MS,
) -> list[StoredResult]:
    """Store one pushed batch (inside the writer's transaction); one result per revision.

    Idempotent: a revision already held with the same content is `already-had`, with other
    content `conflicting-id` (never overwritten); both leave the database unchanged.

    Each revision is stored under its own savepoint: an unexpected error on one is rolled
    back and answered `rejected` with reason `internal` (logged by type, never by content),
    and the others are stored. One bad revision never blocks a tablet's outbox.
    """
    now = now or now_utc()
    now_ms = int(now.timestamp() * 1000)
    received_at = iso(now)
    results: list[StoredResult] = []
    accepted: dict[str, StoredResult] = {}
    for item in batch:
        result = StoredResult(item.revision_id, item.record_id, "accepted")
        conn.execute("SAVEPOINT revision")
        try:
            _store_one(conn, principal, batch_id, item, result, accepted,
                       now=now, now_ms=now_ms, received_at=received_at,
                       max_drift_ms=max_drift_ms)  # fmt: skip
        except Exception as error:  # isolation is the point: its failure stays its own
            conn.execute("ROLLBACK TO SAVEPOINT revision")
            log.error(
                "revision %s of batch %s failed: %s", item.revision_id, batch_id,
                type(error).__name__,
            )  # fmt: skip
            accepted.pop(item.revision_id, None)
            result = StoredResult(item.revision_id, item.record_id, "rejected", [INTERNAL])
        conn.execute("RELEASE SAVEPOINT revision")
        results.append(result)
    conn.execute(
        "INSERT INTO batches (account_id, batch_id, first_received_at, last_received_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (account_id, batch_id) DO UPDATE SET "
        "last_received_at = excluded.last_received_at, attempts = attempts + 1",
        (principal.account_id, batch_id, received_at, received_at),
    )
    conn.execute(
        "UPDATE accounts SET last_seen_at = ? WHERE account_id = ?",
        (received_at, principal.account_id),
    )
    return results


def _note_rejection(
    conn: sqlite3.Connection, principal: Principal, item: Incoming, received_at: str
) -> None:
    """Keep what a coordinator needs to follow up a refused upload: who, which record,
    and each reason's path, field and code (not its message, which may quote an answer)."""
    raw = item.raw
    reasons = [{k: r.get(k, "") for k in ("path", "field", "code")} for r in item.reasons]
    conn.execute(
        "INSERT INTO rejections (received_at, account_id, device_id, revision_id, record_id, "
        "form_id, form_version, district, site_id, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (received_at, principal.account_id, raw["device_id"], raw["revision_id"],
         raw["record_id"], raw["form_id"], raw["form_version"],
         item.district or principal.district, item.site_id, canonical_json(reasons)),
    )  # fmt: skip


def _store_one(
    conn: sqlite3.Connection,
    principal: Principal,
    batch_id: str,
    item: Incoming,
    result: StoredResult,
    accepted: dict[str, StoredResult],
    *,
    now: dt.datetime,
    now_ms: int,
    received_at: str,
    max_drift_ms: int,
) -> None:
    """Decide one revision's status (filling `result`) and store it if it is accepted."""
    if item.reasons == [INTERNAL]:  # checking it failed before it reached the writer
        result.status, result.reasons = "rejected", item.reasons
        return
    existing = conn.execute(
        "SELECT sha256 FROM revisions WHERE revision_id = ?", (item.revision_id,)
    ).fetchone()
    if existing is not None:
        result.status = "already-had" if existing["sha256"] == item.sha256 else "conflicting-id"
        if result.status == "conflicting-id":
            result.reasons = [
                rejection_reason(
                    "conflicting-id",
                    f"The server already holds a different revision with id "
                    f"{item.revision_id}. It was not stored; report this device to the "
                    "coordinator.",
                    field="revision_id",
                )
            ]
        return
    if item.reasons:
        result.status, result.reasons = "rejected", item.reasons
        _note_rejection(conn, principal, item, received_at)
        return
    changed_form = ownership.form_problem(conn, item.raw)
    if changed_form is not None:
        result.status, result.reasons = "conflicting-id", [changed_form]
        return
    lineage = ownership.lineage_problem(conn, item.raw)
    if lineage is not None:
        result.status, result.reasons = "rejected", [lineage]
        return
    # Checked before the batch reached the writer (403); again here, on the data the
    # transaction sees, so that no race can slip a record out of its owner's scope.
    scope = ownership.scope_problem(conn, principal, item.record_id)
    if scope is not None:
        result.status = "rejected"
        result.reasons = [rejection_reason("out-of-scope", scope, field="district")]
        return
    hlc_order, flag = ordering_hlc(item.raw["hlc"], now_ms, max_drift_ms)
    result.hlc_clamped = flag is not None
    result.seq = _insert_revision(
        conn,
        item.raw,
        item.body,
        item.sha256,
        hlc_order=hlc_order,
        hlc_flag=flag,
        uploaded_by=principal.account_id,
        received_at=received_at,
        batch_id=batch_id,
        district=item.district,
        site_id=item.site_id,
        origin="device",
    )
    # Rebuilt after each revision, not once per batch: a national server receiving
    # the same revisions in the same order then derives the same merge revisions.
    kinds = rebuild_record(conn, item.record_id, now=now)
    accepted[item.revision_id] = result
    for revision_id, kind in kinds.items():
        if revision_id in accepted:
            accepted[revision_id].conflict = kind


def _insert_revision(
    conn: sqlite3.Connection,
    raw: dict[str, Any],
    body: str,
    digest: str,
    *,
    hlc_order: str,
    hlc_flag: str | None,
    uploaded_by: str,
    received_at: str,
    batch_id: str | None,
    district: str | None,
    site_id: str | None,
    origin: str,
) -> int:
    cursor = conn.execute(
        "INSERT INTO revisions (revision_id, record_id, parent_revision_id, merged_from, "
        "form_id, form_version, device_id, uploaded_by, hlc, hlc_order, hlc_flag, created_at, "
        "received_at, batch_id, district, site_id, origin, body, sha256) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (raw["revision_id"], raw["record_id"], raw.get("parent_revision_id"),
         json.dumps(raw["merged_from"]) if raw.get("merged_from") else None,
         raw["form_id"], raw["form_version"], raw["device_id"], uploaded_by, raw["hlc"],
         hlc_order, hlc_flag, raw["created_at"], received_at, batch_id, district, site_id,
         origin, body, digest),
    )  # fmt: skip
    return int(cursor.lastrowid or 0)


def rebuild_record(conn: sqlite3.Connection, record_id: str, *, now: dt.datetime) -> dict[str, str]:
    """Recompute a record's merged view and conflicts from all its revisions.

    When the record has several heads (concurrent edits), the server adds a merge revision
    naming them all, so that every device converges on one head: devices receive it by
    pull like any other revision. Returns 'hard' or 'soft' for each revision that is one
    side of a conflict.
    """
    rows = conn.execute(
        "SELECT revision_id, parent_revision_id, merged_from, hlc, hlc_order, device_id, "
        "origin, body, form_id, form_version, created_at, district, site_id "
        "FROM revisions WHERE record_id = ?",
        (record_id,),
    ).fetchall()
    by_id = {row["revision_id"]: row for row in rows}
    answers = {row["revision_id"]: json.loads(row["body"])["answers"] for row in rows}
    nodes = [_node(row, answers[row["revision_id"]]) for row in rows]
    state = merge.merge_record(nodes)
    head_id = state.winner
    if len(state.heads) > 1:
        head_id = _add_merge_revision(conn, record_id, state, by_id, now=now)
    _record_conflicts(conn, record_id, state.siblings, answers, by_id, now=now)
    winner = by_id[state.winner]
    hard = conn.execute(
        "SELECT count(*) FROM conflicts WHERE record_id = ? AND kind = 'hard' AND status = 'open'",
        (record_id,),
    ).fetchone()[0]
    soft = conn.execute(
        "SELECT count(*) FROM conflicts WHERE record_id = ?", (record_id,)
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO records (record_id, form_id, form_version, district, site_id, "
        "head_revision_id, answers, conflict, revision_count, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO UPDATE SET "
        "form_id = excluded.form_id, form_version = excluded.form_version, "
        "district = excluded.district, site_id = excluded.site_id, "
        "head_revision_id = excluded.head_revision_id, answers = excluded.answers, "
        "conflict = excluded.conflict, revision_count = excluded.revision_count, "
        "updated_at = excluded.updated_at",
        (record_id, winner["form_id"], winner["form_version"], winner["district"],
         winner["site_id"], head_id, canonical_json(state.answers),
         "hard" if hard else "soft" if soft else "none",
         conn.execute("SELECT count(*) FROM revisions WHERE record_id = ?",
                      (record_id,)).fetchone()[0],
         iso(now)),
    )  # fmt: skip
    # Probable duplicate households are found as each one is merged (duplicates.py).
    duplicates.on_record_merged(
        conn, record_id, state.answers, district=winner["district"],
        site_id=winner["site_id"], now=iso(now),
    )  # fmt: skip
    kinds: dict[str, str] = {}
    for pair in state.siblings:
        for revision_id in pair.revision_ids:
            if pair.hard or revision_id not in kinds:
                kinds[revision_id] = "hard" if pair.hard else "soft"
    return kinds


def _node(row: sqlite3.Row, answers: dict[str, Any]) -> merge.Node:
    if row["merged_from"]:
        parents = tuple(json.loads(row["merged_from"]))
    elif row["parent_revision_id"]:
        parents = (row["parent_revision_id"],)
    else:
        parents = ()
    return merge.Node(
        revision_id=row["revision_id"],
        parents=parents,
        key=(row["hlc_order"], row["revision_id"]),
        answers=answers,
        device_id=row["device_id"],
        is_merge=row["origin"] == "merge",
    )


def _after(hlc: str) -> tuple[int, int]:
    """(ms, counter) of the smallest timestamp that sorts after `hlc` on any node."""
    ms, counter, _ = parse_hlc(hlc)
    return (ms + 1, 0) if counter >= MAX_COUNTER else (ms, counter + 1)


def _add_merge_revision(
    conn: sqlite3.Connection,
    record_id: str,
    state: merge.RecordState,
    by_id: dict[str, sqlite3.Row],
    *,
    now: dt.datetime,
) -> str:
    """Insert the revision that merges `state.heads`; returns its id.

    Everything in it derives from the heads, so that any server holding the same revisions
    makes the same one. Its parent is the provisional winner, so the device that made the
    winner can fast-forward; `merged_from` names all heads, so a device holding any of them
    takes it. Its HLC is the server's clock, or just after the latest head's ordering HLC
    when that is later: never a copied far-future timestamp (those are clamped on receipt),
    so one tablet's wrong clock can't drag every tablet's clock along.
    """
    heads = sorted(state.heads)
    winner = by_id[state.winner]
    ms, counter = max(
        _after(max(by_id[h]["hlc_order"] for h in heads)), (int(now.timestamp() * 1000), 0)
    )
    revision = {
        "revision_id": str(uuid.uuid5(NAMESPACE, "merge:" + ",".join(heads))),
        "record_id": record_id,
        "parent_revision_id": state.winner,
        "merged_from": heads,
        "form_id": winner["form_id"],
        "form_version": winner["form_version"],
        "device_id": SERVER_NODE,
        "hlc": format_hlc(ms, counter, SERVER_NODE),
        "created_at": max(by_id[h]["created_at"] for h in heads),
        "answers": state.answers,
    }
    body = canonical_json(revision)
    _insert_revision(
        conn,
        revision,
        body,
        body_hash(body),
        hlc_order=ordering_hlc(revision["hlc"], int(now.timestamp() * 1000))[0],
        hlc_flag=None,
        uploaded_by=SERVER_NODE,
        received_at=iso(now),
        batch_id=None,
        district=winner["district"],
        site_id=winner["site_id"],
        origin="merge",
    )
    return revision["revision_id"]


def _record_conflicts(
    conn: sqlite3.Connection,
    record_id: str,
    siblings: list[merge.SiblingConflict],
    answers: dict[str, dict[str, Any]],
    by_id: dict[str, sqlite3.Row],
    *,
    now: dt.datetime,
) -> None:
    """Flag every pair of edits made from the same parent (once; pairs never change)."""
    for pair in siblings:
        low, high = pair.revision_ids
        fields = [
            {
                "path": f.path,
                "base": f.base,
                "values": {low: f.ours, high: f.theirs},
                "winner": f.winner,
            }
            for f in pair.fields
        ]
        if not fields:  # a soft conflict lists what each side changed, values untouched
            fields = [{"path": path, "base": None, "values": {}, "winner": None}
                      for path in pair.changed]  # fmt: skip
        winner = by_id[pair.winner]
        conn.execute(
            "INSERT OR IGNORE INTO conflicts (conflict_id, record_id, kind, base_revision_id, "
            "revision_ids, winner_revision_id, fields, district, site_id, detected_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid5(NAMESPACE, f"conflict:{low},{high}")), record_id,
             "hard" if pair.hard else "soft", pair.base_revision_id, json.dumps([low, high]),
             pair.winner, canonical_json(fields), winner["district"], winner["site_id"],
             iso(now)),
        )  # fmt: skip


# --- reading -------------------------------------------------------------------------


def revisions_held(conn: sqlite3.Connection, revision_ids: Iterable[str]) -> set[str]:
    ids = list(dict.fromkeys(revision_ids))
    held: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        held.update(
            row[0]
            for row in conn.execute(
                f"SELECT revision_id FROM revisions WHERE revision_id IN ({marks})", chunk
            )
        )
    return held


def _scope_sql(principal: Principal, table: str = "") -> tuple[str, list[Any]]:
    prefix = f"{table}." if table else ""
    if principal.is_national:
        return "1 = 1", []
    sql = f"{prefix}district = ?"
    params: list[Any] = [principal.district]
    if principal.sites and principal.role == "device":
        marks = ",".join("?" * len(principal.sites))
        sql += f" AND ({prefix}site_id IS NULL OR {prefix}site_id IN ({marks}))"
        params.extend(principal.sites)
    return sql, params


@dataclass
class PullPage:
    cursor: int
    more: bool
    bodies: list[str]
    decisions: list[dict[str, Any]]


def pull_page(
    conn: sqlite3.Connection,
    principal: Principal,
    cursor: int,
    limit: int,
    max_bytes: int,
    *,
    own: bool = False,
) -> PullPage:
    """Revisions after `cursor` in the caller's scope, made by anyone but the caller (and
    by the caller too with `own`: a tablet restored from a backup gets its work back).

    A page stops at `limit` revisions or about `max_bytes` of JSON, whichever comes first,
    so that one page fits through a 2G link between two drops.
    """
    scope, params = _scope_sql(principal)
    rows = conn.execute(
        f"SELECT seq, body FROM revisions WHERE seq > ? AND {scope} AND device_id != ? "
        "ORDER BY seq LIMIT ?",
        [cursor, *params, "" if own else principal.account_id, limit + 1],
    ).fetchall()
    bodies: list[str] = []
    size = 0
    last = cursor
    more = False
    for row in rows:
        if len(bodies) == limit or (bodies and size + len(row["body"]) > max_bytes):
            more = True
            break
        bodies.append(row["body"])
        size += len(row["body"])
        last = row["seq"]
    if not more:
        # Nothing more for this caller: move past revisions it was not sent (its own,
        # other districts') so that the next pull starts from here.
        last = max(last, latest_seq(conn))
    decisions = [
        {
            "conflict_id": row["conflict_id"],
            "record_id": row["record_id"],
            "chosen_revision_id": row["chosen_revision_id"],
            "revision_id": row["revision_id"],
            "decided_at": row["decided_at"],
            "note": row["note"],
        }
        for row in conn.execute(
            f"SELECT * FROM decisions WHERE seq > ? AND seq <= ? AND {scope} ORDER BY seq",
            [cursor, last, *params],
        )
    ]
    return PullPage(cursor=last, more=more, bodies=bodies, decisions=decisions)


def latest_seq(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(seq), 0) FROM revisions").fetchone()[0]


def scope_digest(conn: sqlite3.Connection, principal: Principal) -> str:
    """sha256 over 'record_id head_revision_id\\n' lines, sorted, for records in scope."""
    scope, params = _scope_sql(principal)
    digest = hashlib.sha256()
    for row in conn.execute(
        f"SELECT record_id, head_revision_id FROM records WHERE {scope} ORDER BY record_id",
        params,
    ):
        digest.update(f"{row[0]} {row[1]}\n".encode())
    return digest.hexdigest()


def record_state(conn: sqlite3.Connection, record_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone()
    if row is None:
        return None
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT revision_id FROM revisions WHERE record_id = ? ORDER BY seq", (record_id,)
        )
    ]
    return {
        "record_id": row["record_id"],
        "form_id": row["form_id"],
        "form_version": row["form_version"],
        "head_revision_id": row["head_revision_id"],
        "revision_ids": ids,
        "answers": json.loads(row["answers"]),
        "conflict": row["conflict"],
        "district": row["district"],
        "site_id": row["site_id"],
    }


def list_conflicts(
    conn: sqlite3.Connection, principal: Principal, status: str | None, limit: int
) -> list[dict[str, Any]]:
    scope, params = _scope_sql(principal)
    sql = f"SELECT * FROM conflicts WHERE {scope}"
    if status:
        sql += " AND status = ?"
        params.append(status)
    sql += " ORDER BY detected_at, conflict_id LIMIT ?"
    params.append(limit)
    return [
        {
            "conflict_id": row["conflict_id"],
            "record_id": row["record_id"],
            "kind": row["kind"],
            "status": row["status"],
            "base_revision_id": row["base_revision_id"],
            "revision_ids": json.loads(row["revision_ids"]),
            "winner_revision_id": row["winner_revision_id"],
            "fields": json.loads(row["fields"]),
            "district": row["district"],
            "site_id": row["site_id"],
            "detected_at": row["detected_at"],
            "resolved_at": row["resolved_at"],
            "resolution_revision_id": row["resolution_revision_id"],
        }
        for row in conn.execute(sql, params)
    ]


class ResolveError(Problem):
    """A coordinator's decision can't be applied (`not-found`, `already-resolved`,
    `not-a-side`); the statuses are the catalogue's (`sync_server.problems`)."""


def resolve_conflict(
    conn: sqlite3.Connection,
    principal: Principal,
    conflict_id: str,
    chosen_revision_id: str,
    note: str,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A coordinator picks the revision whose answers win a hard conflict.

    The decision becomes a new revision on top of the record's head (nothing is rewritten),
    so devices receive it by pull like any other edit, and the national server by forward.
    """
    row = _open_conflict(conn, principal, conflict_id)
    sides = json.loads(row["revision_ids"])
    if chosen_revision_id not in sides:
        raise ResolveError(
            "not-a-side",
            f"Revision {chosen_revision_id} is not one side of conflict {conflict_id}; "
            f"choose one of {', '.join(sides)}.",
        )
    chosen = merge.flatten(_answers_of(conn, chosen_revision_id))
    paths = {f["path"] for f in json.loads(row["fields"])}
    values = {path: merge.value_at(chosen, parse_path(path)) for path in paths}
    return _decide(conn, principal, row, values, chosen_revision_id, note, now or now_utc())


def resolve_conflict_fields(
    conn: sqlite3.Connection,
    principal: Principal,
    conflict_id: str,
    values: dict[str, Any],
    note: str,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A coordinator decides a hard conflict field by field: for each conflicting path
    (`members[2].age`) the value to keep, taken from one side or typed (merge.DELETED
    removes the answer). The decision names the side whose values it kept most often.
    """
    row = _open_conflict(conn, principal, conflict_id)
    fields = {f["path"]: f for f in json.loads(row["fields"])}
    unknown = sorted(set(values) - set(fields))
    missing = sorted(set(fields) - set(values))
    if unknown or missing:
        raise ResolveError(
            "wrong-fields",
            f"A decision on conflict {conflict_id} gives a value for each of its fields "
            f"({', '.join(sorted(fields))}); unknown: {', '.join(unknown) or 'none'}, "
            f"missing: {', '.join(missing) or 'none'}.",
        )
    sides = json.loads(row["revision_ids"])
    votes = {
        side: sum(
            merge.same(values[path], field["values"].get(side)) for path, field in fields.items()
        )
        for side in sides
    }
    winner = row["winner_revision_id"]
    chosen = max(sides, key=lambda side: (votes[side], side == winner))
    return _decide(conn, principal, row, values, chosen, note, now or now_utc())


def _open_conflict(conn: sqlite3.Connection, principal: Principal, conflict_id: str) -> Any:
    row = conn.execute("SELECT * FROM conflicts WHERE conflict_id = ?", (conflict_id,)).fetchone()
    if row is None or not principal.covers(row["district"], row["site_id"]):
        raise ResolveError("not-found", f"No conflict {conflict_id} in your district.")
    if row["status"] == "resolved":
        raise ResolveError("already-resolved", f"Conflict {conflict_id} is already resolved.")
    return row


def _answers_of(conn: sqlite3.Connection, revision_id: str) -> dict[str, Any]:
    body = conn.execute(
        "SELECT body FROM revisions WHERE revision_id = ?", (revision_id,)
    ).fetchone()[0]
    return json.loads(body)["answers"]


def _decide(
    conn: sqlite3.Connection,
    principal: Principal,
    row: Any,
    values: dict[str, Any],
    chosen_revision_id: str,
    note: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """Write a decision: the record's merged answers with `values` (path text -> value)
    applied, as a new revision on top of the head, and mark the conflict resolved."""
    conflict_id = row["conflict_id"]
    record = conn.execute(
        "SELECT * FROM records WHERE record_id = ?", (row["record_id"],)
    ).fetchone()
    answers = with_values(json.loads(record["answers"]), values)
    revision, seq, head = add_revision_on_head(conn, principal, record, answers, now=now)
    conn.execute(
        "UPDATE conflicts SET status = 'resolved', resolved_by = ?, resolved_at = ?, "
        "resolution_revision_id = ?, note = ? WHERE conflict_id = ?",
        (principal.account_id, iso(now), revision["revision_id"], note, conflict_id),
    )
    conn.execute(
        "INSERT INTO decisions (seq, conflict_id, record_id, chosen_revision_id, revision_id, "
        "decided_by, decided_at, note, district, site_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, conflict_id, row["record_id"], chosen_revision_id, revision["revision_id"],
         principal.account_id, iso(now), note, head["district"], head["site_id"]),
    )  # fmt: skip
    rebuild_record(conn, row["record_id"], now=now)
    return {"conflict_id": conflict_id, "revision_id": revision["revision_id"], "seq": seq}


def add_revision_on_head(
    conn: sqlite3.Connection,
    principal: Principal,
    record: sqlite3.Row,
    answers: dict[str, Any],
    *,
    now: dt.datetime,
    scope: tuple[str, str | None] | None = None,
) -> tuple[dict[str, Any], int, sqlite3.Row]:
    """Store `answers` as a revision the server writes on a coordinator's behalf (a decision,
    a transfer) on top of the record's head: its HLC is the server's clock or just after the
    head's, its device the coordinator's account. `scope` (district, site) files it under
    another place (a transfer); by default it stays where the head is.

    Returns the revision, its seq and the head's row. The caller rebuilds the record."""
    head = conn.execute(
        "SELECT hlc_order, form_id, form_version, district, site_id FROM revisions "
        "WHERE revision_id = ?",
        (record["head_revision_id"],),
    ).fetchone()
    ms, counter = _after(head["hlc_order"])
    ms, counter = max((ms, counter), (int(now.timestamp() * 1000), 0))
    revision = {
        "revision_id": str(uuid.uuid4()),
        "record_id": record["record_id"],
        "parent_revision_id": record["head_revision_id"],
        "form_id": head["form_id"],
        "form_version": head["form_version"],
        "device_id": principal.account_id,
        "hlc": format_hlc(ms, counter, principal.account_id),
        "created_at": iso(now),
        "answers": answers,
    }
    district, site_id = scope or (head["district"], head["site_id"])
    body = canonical_json(revision)
    seq = _insert_revision(
        conn,
        revision,
        body,
        body_hash(body),
        hlc_order=ordering_hlc(revision["hlc"], int(now.timestamp() * 1000))[0],
        hlc_flag=None,
        uploaded_by=principal.account_id,
        received_at=iso(now),
        batch_id=None,
        district=district,
        site_id=site_id,
        origin="review",
    )
    return revision, seq, head


def with_values(answers: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`answers` with a decision's `values` (path text -> value, merge.DELETED removes it;
    a whole repeat instance, `members[@k]`, is given as its answers) put in."""
    flat = merge.flatten(answers)
    by_text = {merge.path_text(path): path for path in flat}
    for text, value in values.items():
        merge.put(flat, by_text.get(text) or parse_path(text), value)
    return merge.unflatten(flat)


def parse_path(text: str) -> merge.Path:
    """`members[2].age` -> ("members", "@#2", "age"), `members[@k].age` -> ("members",
    "@k", "age"): the inverse of merge.path_text."""
    parts: list[str | int] = []
    for piece in text.split("."):
        name, _, rest = piece.partition("[")
        parts.append(name)
        while rest:
            inside, _, rest = rest.partition("]")
            if inside == "#":
                parts.append(merge.LENGTH)
            elif inside.startswith("@"):
                parts.append(inside)
            else:
                parts.append(f"@#{int(inside)}")
            rest = rest.lstrip("[")
    return tuple(parts)
