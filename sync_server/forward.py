"""Forwarding: a district server pushes what it received to the national server.

The district server is a client of the national one, over the same protocol as a tablet,
with its own credentials (enrolled there with the `server` role for its district). It sends
every revision it received, byte for byte as received, in `seq` order, so the national
server derives the same merges. Merge revisions are not sent: each server makes its own.

A cursor per target (the last `seq` the national server answered for) makes forwarding
incremental; re-sending after a failure is harmless (`already-had`). A revision the national
server refuses (say, its form version isn't published there) does not stop the others: it
is kept in `forward_refused` with the reasons' codes, reported, and retried at every later
forward until it passes (once the form is published there), before anything new is sent.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from dataclasses import dataclass, field

from sync_core.protocol import API_PREFIX as API
from sync_core.protocol import BATCH_TARGET_BYTES
from sync_core.transport import SyncError, Transport, error_message, make_batches
from sync_server.auth import iso, now_utc
from sync_server.db import Database

log = logging.getLogger("sync_server.forward")

READ_CHUNK = 2000


class ForwardError(Exception):
    """Forwarding stopped; the message says why and what to do."""


@dataclass
class ForwardReport:
    sent: int = 0
    accepted: int = 0
    already_had: int = 0
    rejected: int = 0
    cursor: int = 0
    # revision id -> the reasons' codes, for revisions the target refused (this time)
    refused: dict[str, str] = field(default_factory=dict)


def remember_target(
    db: Database, url: str, *, token: str | None = None, code: str | None = None
) -> None:
    """Save the national server's address with this server's token there.

    With `code`, enroll first (POST /enroll with this server's id as the device id).
    """
    url = url.rstrip("/")
    if code:
        transport = Transport(url, give_up_after=60)
        response = transport.request(
            "POST", f"{API}/enroll", body={"code": code, "device_id": db.server_id}
        )
        if response.status_code != 200:
            raise ForwardError(f"enrollment at {url} refused: {error_message(response)}")
        token = transport.json(response)["token"]
    if token:
        db.write(
            lambda conn: conn.execute(
                "INSERT INTO forward_targets (url, token) VALUES (?, ?) "
                "ON CONFLICT (url) DO UPDATE SET token = excluded.token",
                (url, token),
            )
        )
        return
    with db.read() as conn:
        known = conn.execute("SELECT 1 FROM forward_targets WHERE url = ?", (url,)).fetchone()
    if not known:
        raise ForwardError(
            f"no token for {url}: pass --token, or --code with an enrollment code made on the "
            "national server (sync-server enroll --server-role ...)"
        )


def forward_once(db: Database, url: str, *, give_up_after: float = 120.0) -> ForwardReport:
    """Send everything after the target's cursor; returns what happened."""
    url = url.rstrip("/")
    with db.read() as conn:
        target = conn.execute(
            "SELECT token, cursor FROM forward_targets WHERE url = ?", (url,)
        ).fetchone()
    if target is None:
        raise ForwardError(f"{url} is not a known forward target; pass --token or --code")
    transport = Transport(url, target["token"], give_up_after=give_up_after)
    report = ForwardReport(cursor=target["cursor"])
    # First what the target refused before: it may pass now. Only those are re-sent.
    with db.read() as conn:
        retry = conn.execute(
            "SELECT r.body FROM forward_refused f JOIN revisions r USING (revision_id) "
            "WHERE f.url = ? ORDER BY f.seq",
            (url,),
        ).fetchall()
    for batch in make_batches([json.loads(row["body"]) for row in retry], BATCH_TARGET_BYTES):
        _send_and_record(db, transport, url, batch, report)
    while True:
        with db.read() as conn:
            rows = _unsent(conn, report.cursor)
        if not rows:
            break
        wires = [json.loads(row["body"]) for row in rows]
        seq_of = {row["revision_id"]: row["seq"] for row in rows}
        for batch in make_batches(wires, BATCH_TARGET_BYTES):
            _send_and_record(db, transport, url, batch, report, seq_of)
            report.cursor = max(seq_of[w["revision_id"]] for w in batch)
            cursor = report.cursor
            db.write(
                lambda conn, cursor=cursor: conn.execute(
                    "UPDATE forward_targets SET cursor = ?, last_forward_at = ? WHERE url = ?",
                    (cursor, iso(now_utc()), url),
                )
            )
    log.info(
        "forwarded %d revisions to %s: %d accepted, %d already there, %d refused",
        report.sent,
        url,
        report.accepted,
        report.already_had,
        len(report.refused),
    )
    return report


def _send_and_record(
    db: Database,
    transport: Transport,
    url: str,
    batch: list[dict],
    report: ForwardReport,
    seq_of: dict[str, int] | None = None,
) -> None:
    """Send one batch; remember what the target refused and forget what it now holds."""
    refused = _send(transport, db.server_id, batch, report)
    report.refused.update(refused)
    passed = [w["revision_id"] for w in batch if w["revision_id"] not in refused]
    moment = iso(now_utc())

    def record(conn: sqlite3.Connection) -> None:
        for revision_id, codes in refused.items():
            seq = (seq_of or {}).get(revision_id)
            if seq is None:
                seq = conn.execute(
                    "SELECT seq FROM revisions WHERE revision_id = ?", (revision_id,)
                ).fetchone()[0]
            conn.execute(
                "INSERT INTO forward_refused (url, seq, revision_id, codes, refused_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (url, revision_id) DO UPDATE SET "
                "codes = excluded.codes, refused_at = excluded.refused_at",
                (url, seq, revision_id, codes, moment),
            )
        for start in range(0, len(passed), 500):
            chunk = passed[start : start + 500]
            conn.execute(
                f"DELETE FROM forward_refused WHERE url = ? AND revision_id IN "
                f"({','.join('?' * len(chunk))})",
                (url, *chunk),
            )

    db.write(record)


def _unsent(conn: sqlite3.Connection, cursor: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT seq, revision_id, body FROM revisions WHERE seq > ? AND origin != 'merge' "
        "ORDER BY seq LIMIT ?",
        (cursor, READ_CHUNK),
    ).fetchall()


def _send(
    transport: Transport, server_id: str, batch: list[dict], report: ForwardReport
) -> dict[str, str]:
    """Push one batch until the national server has answered for all of it; returns the
    revisions it refused (id -> their reasons' codes)."""
    remaining = batch
    batch_id = uuid.uuid4().hex[:16]
    attempt = 0
    refused: dict[str, str] = {}
    while remaining:
        body = {"device_id": server_id, "batch_id": batch_id, "revisions": remaining}
        try:
            response = transport.request(
                "POST", f"{API}/push", body=body, compress=True, retry=False
            )
        except SyncError as error:
            try:
                transport.backoff(attempt, str(error))
                attempt += 1
                held = _held(transport, [w["revision_id"] for w in remaining])
            except SyncError as final:
                raise ForwardError(str(final)) from None
            report.already_had += len(held)
            report.sent += len(held)
            remaining = [w for w in remaining if w["revision_id"] not in held]
            continue
        if response.status_code not in (200, 422):
            raise ForwardError(
                f"the national server refused a batch (HTTP {response.status_code}): "
                f"{error_message(response)}"
            )
        results = response.json()["results"]
        for result in results:
            if result["status"] == "accepted":
                report.accepted += 1
                report.sent += 1
            elif result["status"] == "already-had":
                report.already_had += 1
                report.sent += 1
            else:
                report.rejected += 1
                codes = sorted({reason["code"] for reason in result["reasons"]})
                refused[result["revision_id"]] = ",".join(codes) or result["status"]
        return refused
    return refused


def _held(transport: Transport, revision_ids: list[str]) -> set[str]:
    response = transport.request("POST", f"{API}/push/status", body={"revision_ids": revision_ids})
    if response.status_code != 200:
        raise ForwardError(f"status check refused: {error_message(response)}")
    return set(response.json()["have"])
