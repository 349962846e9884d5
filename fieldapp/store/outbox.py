"""The sync side: the device clock, the outbox, acknowledgements and pulled revisions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from sqlite_utils import Database

from fieldapp.store.audit import (
    _audit_code,
)
from fieldapp.store.common import (
    _HLC_LAST,
    _IDS_PER_QUERY,
    _REVISION_COLUMNS,
    _one_row,
    _revision,
    _to_json,
    _utc_now,
)
from fieldapp.store.errors import StoreError
from fieldapp.store.values import Revision
from sync_core.hlc import parse_hlc


class OutboxMixin:
    """`Store`'s clock, outbox and `apply_remote`; used by the sync client."""

    # Sync side ───────────────────────────────────────────────────────────────────────────

    def _catch_up_clock(self, db: Database) -> None:
        # Another Store object (or process) on this file may have issued later timestamps
        persisted = self._setting(db, _HLC_LAST)
        if persisted is not None and persisted > self._clock.last:
            self._clock.catch_up(persisted)

    def _save_clock(self, db: Database) -> None:
        db.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [_HLC_LAST, json.dumps(self._clock.last)],
        )

    def _next_hlc(self, db: Database) -> str:
        self._catch_up_clock(db)
        timestamp = self._clock.now()
        self._save_clock(db)
        return timestamp

    def hlc_now(self) -> str:
        """The next HLC timestamp for this device. Saved, so it never goes backwards."""
        with self._write("issue a clock timestamp") as db:
            return self._next_hlc(db)

    def observe_hlc(self, remote: str) -> None:
        """Merge a timestamp pulled from the server; ``ValueError`` if it is malformed."""
        parse_hlc(remote)
        with self._write("merge a remote clock timestamp") as db:
            self._catch_up_clock(db)
            self._clock.observe(remote)
            self._save_clock(db)

    def pending_outbox(self, limit: int = 1000) -> list[Revision]:
        """Revisions waiting to be sent, in HLC order (a parent before its child).

        Call ``mark_attempted()`` on them *before* the upload starts: until then,
        ``finalize()`` may replace an unattempted revision, and the server must not get one
        that no longer exists here.
        """
        rows = self._db().execute(
            f"SELECT {_REVISION_COLUMNS} FROM outbox JOIN revisions USING (revision_id) "
            "WHERE status = 'pending' ORDER BY hlc LIMIT ?",
            [int(limit)],
        )
        return [_revision(row) for row in rows]

    def mark_attempted(self, revision_ids: list[str]) -> None:
        """Note that an upload of these revisions is starting (the server may get them)."""
        now = _utc_now()
        with self._write(f"mark {len(revision_ids)} revisions as attempted") as db:
            db.conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ? "
                "WHERE revision_id = ?",
                [(now, revision_id) for revision_id in revision_ids],
            )

    def acknowledge(self, revision_ids: list[str]) -> None:
        """The server durably has these revisions: take them out of the outbox.

        A record whose head revision is acknowledged becomes 'sent', unless the enumerator
        has opened it for editing again. Unknown or already acknowledged ids are ignored,
        so a repeated acknowledgement is harmless.
        """
        revision_ids = list(revision_ids)
        with self._write(f"acknowledge {len(revision_ids)} revisions") as db:
            acknowledged = []
            for start in range(0, len(revision_ids), _IDS_PER_QUERY):
                chunk = revision_ids[start : start + _IDS_PER_QUERY]
                acknowledged += db.execute(
                    "SELECT hlc, revision_id, record_id FROM outbox "
                    "JOIN revisions USING (revision_id) "
                    f"WHERE revision_id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            # In HLC order, so a record's sent_revision_id ends on its latest revision
            for _, revision_id, record_id in sorted(acknowledged):
                db.execute("DELETE FROM outbox WHERE revision_id = ?", [revision_id])
                db.execute(
                    "UPDATE records SET sent_revision_id = ? WHERE record_id = ?",
                    [revision_id, record_id],
                )
                state, head = self._record_state(db, record_id)
                if head == revision_id and state == "finalized":
                    db.execute("UPDATE records SET state = 'sent' WHERE record_id = ?", [record_id])
                    # The draft equals the head revision now; the revision is the copy to keep
                    db.execute("DELETE FROM drafts WHERE record_id = ?", [record_id])

    def mark_rejected(self, revision_id: str, reasons: list[dict]) -> None:
        """The server refused this revision: keep it aside with the reasons and put the
        record back to 'draft' so the enumerator can fix it.

        ``reasons`` are field-level dicts ``{"path", "code", "message"}``. The next
        ``finalize()`` of the record replaces the rejected revision.
        """
        if not isinstance(reasons, list) or not all(isinstance(r, dict) for r in reasons):
            raise TypeError("reasons must be a list of dicts with path, code and message")
        reasons_json = _to_json(reasons, f"the rejection reasons of revision {revision_id}")
        now = _utc_now()
        with self._write(f"mark revision {revision_id} as rejected") as db:
            row = _one_row(
                db,
                "SELECT record_id, answers, form_id FROM outbox JOIN revisions USING "
                "(revision_id) WHERE revision_id = ?",
                [revision_id],
                StoreError(
                    f"revision {revision_id} is not in the outbox: it was acknowledged or "
                    "replaced by a later edit"
                ),
            )
            record_id, answers_json, form_id = row
            db.execute(
                "UPDATE outbox SET status = 'rejected', reasons = ? WHERE revision_id = ?",
                [reasons_json, revision_id],
            )
            # Edits already under way in the draft win over the rejected answers
            db.execute(
                "INSERT OR IGNORE INTO drafts (record_id, answers, updated_at) VALUES (?, ?, ?)",
                [record_id, answers_json, now],
            )
            db.execute(
                "UPDATE records SET state = 'draft', updated_at = ? WHERE record_id = ?",
                [now, record_id],
            )
            codes = {reason.get("code") for reason in reasons}
            self._audit(
                db,
                "revision_rejected",
                record_id=record_id,
                form_id=form_id,
                revision_id=revision_id,
                reason_count=len(reasons),
                codes=sorted(code for code in codes if _audit_code(code)),
            )

    def rejected(self) -> list[tuple[Revision, list[dict]]]:
        """Revisions the server refused, with its reasons, in HLC order."""
        rows = self._db().execute(
            f"SELECT {_REVISION_COLUMNS}, reasons FROM outbox "
            "JOIN revisions USING (revision_id) WHERE status = 'rejected' ORDER BY hlc"
        )
        return [(_revision(row), json.loads(row[9] or "[]")) for row in rows]

    def apply_remote(self, revision: Revision, *, supersedes: Sequence[str] = ()) -> bool:
        """Store a revision pulled from the server (another device's edit). Idempotent.

        A server merge revision names the heads it merged in ``supersedes`` (its
        ``merged_from``): a record whose head is one of them moves to it, whatever the HLCs.

        A new record is created in state 'sent'. An existing sent record moves to the
        revision if it follows the record's head (its child, or later by HLC); the title
        is kept. A record with a local draft or unsent revisions is never overwritten: the
        pulled revision is kept beside it in the history.

        Returns True if this call moved the record to the revision; False if the revision
        was already here, is older than the record's head, or was kept beside local work.
        """
        if not isinstance(revision, Revision):
            raise TypeError(f"apply_remote() needs a Revision, got {type(revision).__name__}")
        parse_hlc(revision.hlc)
        answers_json = _to_json(revision.answers, f"the answers of revision {revision.revision_id}")
        row = {**asdict(revision), "answers": answers_json, "origin": "remote"}
        with self._write(f"store pulled revision {revision.revision_id}") as db:
            if db.execute(
                "SELECT 1 FROM revisions WHERE revision_id = ?", [revision.revision_id]
            ).fetchone():
                return False
            self._catch_up_clock(db)
            self._clock.observe(revision.hlc)
            self._save_clock(db)
            record = db.execute(
                "SELECT state, head_revision_id FROM records WHERE record_id = ?",
                [revision.record_id],
            ).fetchone()
            if record is None:
                db["records"].insert(
                    {
                        "record_id": revision.record_id,
                        "form_id": revision.form_id,
                        "form_version": revision.form_version,
                        "state": "sent",
                        "created_at": revision.created_at,
                        "updated_at": revision.created_at,
                        "head_revision_id": revision.revision_id,
                        "sent_revision_id": revision.revision_id,
                    }
                )
                db["revisions"].insert(row)
                return True
            db["revisions"].insert(row)
            state, head = record
            unsent = db.execute(
                "SELECT 1 FROM outbox JOIN revisions USING (revision_id) WHERE record_id = ?",
                [revision.record_id],
            ).fetchone()
            if state != "sent" or unsent:
                self._audit(
                    db,
                    "remote_revision_kept_beside_local",
                    record_id=revision.record_id,
                    form_id=revision.form_id,
                    revision_id=revision.revision_id,
                    state=state,
                )
                return False
            head_hlc = db.execute(
                "SELECT hlc FROM revisions WHERE revision_id = ?", [head]
            ).fetchone()[0]
            follows = revision.parent_revision_id == head or head in supersedes
            if not follows and revision.hlc <= head_hlc:
                return False
            db.execute(
                "UPDATE records SET form_id = ?, form_version = ?, head_revision_id = ?, "
                "sent_revision_id = ?, updated_at = ? WHERE record_id = ?",
                [
                    revision.form_id,
                    revision.form_version,
                    revision.revision_id,
                    revision.revision_id,
                    revision.created_at,
                    revision.record_id,
                ],
            )
            db.execute("DELETE FROM drafts WHERE record_id = ?", [revision.record_id])
            return True
