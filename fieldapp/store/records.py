"""Drafts and records: what the enumerator creates, saves, finalizes and edits."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from sqlite_utils import Database

from fieldapp.store.common import (
    _REVISION_COLUMNS,
    RECORD_STATES,
    _check_state,
    _like_escape,
    _not_on_this_tablet,
    _one_row,
    _revision,
    _to_json,
    _utc_now,
)
from fieldapp.store.errors import RecordLocked
from fieldapp.store.schema import (
    _search_key,
)
from fieldapp.store.values import Draft, HouseholdCandidate, RecordRow, Revision


class RecordsMixin:
    """`Store`'s drafts and records; uses `StoreBase`'s connections and the clock."""

    # Drafts and records ──────────────────────────────────────────────────────────────────

    def create_draft(self, form_id: str, form_version: str, answers: dict | None = None) -> str:
        """Start a new record in state 'draft' and return its id (a uuid4)."""
        if not form_id or not isinstance(form_id, str):
            raise ValueError(f"form_id must be a non-empty string, got {form_id!r}")
        record_id = str(uuid.uuid4())
        answers_json = _to_json(answers or {}, f"the answers of new record {record_id}")
        now = _utc_now()
        with self._write(f"create a {form_id} record") as db:
            db["records"].insert(
                {
                    "record_id": record_id,
                    "form_id": form_id,
                    "form_version": str(form_version),
                    "state": "draft",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            db["drafts"].insert(
                {"record_id": record_id, "answers": answers_json, "updated_at": now}
            )
        return record_id

    def save_answers(
        self,
        record_id: str,
        answers: dict,
        position: Any = None,
        *,
        title: str | None = None,
        search: str | None = None,
    ) -> None:
        """Replace the draft's answers (and ``position``, unless None), durably, atomically.

        ``title`` (the site and date, say) updates the record's display title so a draft can
        be found in the record list before it is finalized; ``search`` (default: the title)
        is the text the list's search box matches, e.g. the title plus the head's name: it
        stays on the device, beside the answers it comes from.

        This is the autosave: call it on every change. Editing a finalized record makes it a
        draft again (it needs finalizing again). Raises ``RecordNotFound``, or
        ``RecordLocked`` for a sent record that hasn't been opened with ``open_for_edit()``.
        """
        if not isinstance(answers, dict):
            raise TypeError(f"answers must be a dict, got {type(answers).__name__}")
        answers_json = _to_json(answers, f"the answers of record {record_id}")
        position_json = None if position is None else _to_json(position, "the position")
        now = _utc_now()
        with self._write(f"save the answers of record {record_id}") as db:
            row = _one_row(
                db.conn,
                "SELECT records.state, drafts.answers FROM records "
                "LEFT JOIN drafts USING (record_id) WHERE record_id = ?",
                [record_id],
                _not_on_this_tablet(record_id),
            )
            state, saved_answers = row
            if state == "sent" or saved_answers is None:
                raise RecordLocked(
                    f"record {record_id} has been sent; open it with open_for_edit() "
                    "to start a new revision"
                )
            if saved_answers == answers_json and position_json is None:
                return
            db.conn.execute(
                "UPDATE drafts SET answers = ?, position = coalesce(?, position), "
                "updated_at = ? WHERE record_id = ?",
                [answers_json, position_json, now, record_id],
            )
            if saved_answers != answers_json:
                db.conn.execute(
                    "UPDATE records SET state = 'draft', updated_at = ? WHERE record_id = ?",
                    [now, record_id],
                )
            if title:
                db.conn.execute(
                    "UPDATE records SET title = ?, search_key = ? WHERE record_id = ?",
                    [title, _search_key(search or title), record_id],
                )

    def set_position(self, record_id: str, position: Any) -> None:
        """Remember where the enumerator is in the form (any JSON-able value)."""
        position_json = _to_json(position, f"the position in record {record_id}")
        with self._write(f"save the position in record {record_id}") as db:
            updated = db.conn.execute(
                "UPDATE drafts SET position = ? WHERE record_id = ?", [position_json, record_id]
            ).rowcount
            if not updated:
                self._record_state(db, record_id)  # RecordNotFound if there is no record
                raise RecordLocked(
                    f"record {record_id} has no draft; open it with open_for_edit() first"
                )

    def draft(self, record_id: str) -> Draft:
        """The record's answers as being edited. A sent record shows its head revision."""
        return self._draft(self._db(), record_id)

    @staticmethod
    def _draft(db: Database, record_id: str) -> Draft:
        row = _one_row(
            db.conn,
            "SELECT records.form_id, records.form_version, records.state, "
            "records.updated_at, records.head_revision_id, "
            "drafts.answers, drafts.position, drafts.updated_at "
            "FROM records LEFT JOIN drafts USING (record_id) WHERE record_id = ?",
            [record_id],
            _not_on_this_tablet(record_id),
        )
        form_id, form_version, state, record_updated, head, answers, position, updated = row
        if answers is None:
            answers = db.conn.execute(
                "SELECT answers FROM revisions WHERE revision_id = ?", [head]
            ).fetchone()[0]
            updated = record_updated
        return Draft(
            record_id=record_id,
            form_id=form_id,
            form_version=form_version,
            state=state,
            answers=json.loads(answers),
            position=None if position is None else json.loads(position),
            updated_at=updated,
            head_revision_id=head,
        )

    @staticmethod
    def _record_state(db: Database, record_id: str) -> tuple[str, str | None]:
        return _one_row(
            db.conn,
            "SELECT state, head_revision_id FROM records WHERE record_id = ?",
            [record_id],
            _not_on_this_tablet(record_id),
        )

    def open_for_edit(self, record_id: str) -> Draft:
        """The draft to edit. A sent record gets a new draft from its head revision.

        The sent record goes back to state 'draft' with ``head_revision_id`` set, so the
        next ``finalize()`` writes a child revision of the one the server has.
        """
        with self._write(f"open record {record_id} for editing") as db:
            state, head = self._record_state(db, record_id)
            if state == "finalized":
                db.conn.execute(
                    "INSERT OR IGNORE INTO drafts (record_id, answers, updated_at) "
                    "SELECT record_id, answers, created_at FROM revisions WHERE revision_id = ?",
                    [head],
                )
            elif state == "sent":
                now = _utc_now()
                db.conn.execute(
                    "INSERT INTO drafts (record_id, answers, updated_at) "
                    "SELECT record_id, answers, ? FROM revisions WHERE revision_id = ? "
                    "ON CONFLICT (record_id) DO UPDATE SET "
                    "answers = excluded.answers, position = NULL, updated_at = excluded.updated_at",
                    [now, head],
                )
                db.conn.execute(
                    "UPDATE records SET state = 'draft', updated_at = ? WHERE record_id = ?",
                    [now, record_id],
                )
            return self._draft(db, record_id)

    def finalize(
        self,
        record_id: str,
        answers: dict,
        *,
        title: str = "",
        site_id: str | None = None,
        phone: str | None = None,
        search: str | None = None,
    ) -> Revision:
        """Write an immutable revision of ``answers`` and queue it for sending.

        The new revision's parent is the record's head revision. A head revision still in the
        outbox that the sync client never attempted (or that the server rejected) is
        replaced instead, so a record edited before sending sends one revision, not two.
        One the server may have (attempted, not yet acknowledged) is kept as the parent.

        ``title``, ``site_id`` and ``phone`` update the record when given. Raises
        ``RecordNotFound``, or ``RecordLocked`` for a sent record (``open_for_edit()`` it).
        """
        if not isinstance(answers, dict):
            raise TypeError(f"answers must be a dict, got {type(answers).__name__}")
        answers_json = _to_json(answers, f"the answers of record {record_id}")
        now = _utc_now()
        with self._write(f"finalize record {record_id}") as db:
            record = _one_row(
                db,
                "SELECT form_id, form_version, state, head_revision_id FROM records "
                "WHERE record_id = ?",
                [record_id],
                _not_on_this_tablet(record_id),
            )
            form_id, form_version, state, parent = record
            if state == "sent":
                raise RecordLocked(
                    f"record {record_id} has been sent; open it with open_for_edit() first"
                )
            replaced = []
            while parent is not None:
                queued = db.execute(
                    "SELECT outbox.attempts, outbox.status, revisions.parent_revision_id "
                    "FROM outbox JOIN revisions USING (revision_id) WHERE revision_id = ?",
                    [parent],
                ).fetchone()
                if queued is None:  # acknowledged, or pulled from the server
                    break
                attempts, status, grandparent = queued
                if status == "pending" and attempts > 0:  # the server may have it
                    break
                replaced.append(parent)
                parent = grandparent
            for revision_id in replaced:
                db.execute("DELETE FROM revisions WHERE revision_id = ?", [revision_id])
            revision = Revision(
                revision_id=str(uuid.uuid4()),
                record_id=record_id,
                parent_revision_id=parent,
                form_id=form_id,
                form_version=form_version,
                device_id=self._device_id,
                hlc=self._next_hlc(db),
                created_at=now,
                answers=json.loads(answers_json),
            )
            db["revisions"].insert({**asdict(revision), "answers": answers_json, "origin": "local"})
            db["outbox"].insert({"revision_id": revision.revision_id, "queued_at": now})
            db.execute(
                "UPDATE records SET state = 'finalized', updated_at = ?, head_revision_id = ?, "
                "site_id = coalesce(?, site_id), phone = coalesce(?, phone) "
                "WHERE record_id = ?",
                [now, revision.revision_id, site_id, phone, record_id],
            )
            if title:
                db.execute(
                    "UPDATE records SET title = ?, search_key = ? WHERE record_id = ?",
                    [title, _search_key(search or title), record_id],
                )
            db.execute(
                "INSERT INTO drafts (record_id, answers, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (record_id) DO UPDATE SET "
                "answers = excluded.answers, updated_at = excluded.updated_at",
                [record_id, answers_json, now],
            )
            self._audit(
                db,
                "record_finalized",
                record_id=record_id,
                form_id=form_id,
                revision_id=revision.revision_id,
                answer_count=len(answers),
                replaced=len(replaced),
            )
        return revision

    def discard_draft(self, record_id: str) -> None:
        """Delete a record that was never finalized. Finalized records are never deleted."""
        with self._write(f"discard record {record_id}") as db:
            _, head = self._record_state(db, record_id)
            has_revisions = db.execute(
                "SELECT 1 FROM revisions WHERE record_id = ? LIMIT 1", [record_id]
            ).fetchone()
            if head is not None or has_revisions:
                raise RecordLocked(
                    f"record {record_id} has been finalized and can't be discarded; "
                    "edit it and finalize again instead"
                )
            form_id = db.execute(
                "SELECT form_id FROM records WHERE record_id = ?", [record_id]
            ).fetchone()[0]
            db.execute("DELETE FROM drafts WHERE record_id = ?", [record_id])
            db.execute("DELETE FROM records WHERE record_id = ?", [record_id])
            self._audit(db, "draft_discarded", record_id=record_id, form_id=form_id)

    def records(
        self,
        form_id: str | None = None,
        *,
        state: str | Iterable[str] | None = None,
        search: str | None = None,
        newest_first: bool = True,
        limit: int = 200,
        offset: int = 0,
    ) -> list[RecordRow]:
        """Records for the list screen, most recently changed first.

        ``state`` is one state or several. ``search`` matches a part of the title,
        ignoring case and accents ("joao" finds "João"), or the start of the record id.
        ``limit`` and ``offset`` page through them (the list screen loads a page at a time).
        """
        where = _record_filter(form_id, state, search)
        if where is None:
            return []
        clause, params = where
        direction = "DESC" if newest_first else "ASC"
        sql = (
            "SELECT record_id, form_id, form_version, state, title, site_id, created_at, "
            f"updated_at FROM records{clause}"
            f" ORDER BY updated_at {direction}, rowid {direction} LIMIT ? OFFSET ?"
        )
        rows = self._db().execute(sql, [*params, int(limit), int(offset)]).fetchall()
        return [RecordRow(*row) for row in rows]

    def count_records(
        self,
        form_id: str | None = None,
        *,
        state: str | Iterable[str] | None = None,
        search: str | None = None,
    ) -> int:
        """How many records `records()` would list with the same filters, all pages."""
        where = _record_filter(form_id, state, search)
        if where is None:
            return 0
        clause, params = where
        return self._db().execute(f"SELECT count(*) FROM records{clause}", params).fetchone()[0]

    def record_counts(self, form_id: str) -> dict[str, int]:
        """How many records of the form are in each state: {"draft": n, "finalized": n, ...}."""
        counts = dict.fromkeys(RECORD_STATES, 0)
        rows = self._db().execute(
            "SELECT state, count(*) FROM records WHERE form_id = ? GROUP BY state", [form_id]
        )
        counts.update(dict(rows.fetchall()))
        return counts

    def household_candidates(
        self, form_id: str, *, site_id: str | None = None, phone: str | None = None
    ) -> list[HouseholdCandidate]:
        """Finalized or sent records of the form that may be the same household: the same
        site, or the same phone number (compared as in ``sync_core.dedup``).

        The duplicate warning itself reads every household (``fieldapp.duplicates``).
        Records without a title are left out: there is no name to compare.
        """
        from sync_core.dedup import normalise_phone

        wanted_phone = normalise_phone(phone)
        if not site_id and not wanted_phone:
            return []
        rows = self._db().execute(
            "SELECT record_id, title, phone, site_id FROM records "
            "WHERE form_id = ? AND title != '' AND (site_id = ? OR (? AND phone IS NOT NULL))",
            [form_id, site_id, bool(wanted_phone)],
        )
        return [
            HouseholdCandidate(*row)
            for row in rows
            if (site_id and row[3] == site_id)
            or (wanted_phone and normalise_phone(row[2]) == wanted_phone)
        ]

    def records_with_answer(self, form_id: str, name: str, value: str) -> list[dict]:
        """Finalized or sent records of the form (made here or pulled) whose latest revision
        answers `name` (a top-level question) with `value`, newest first: record_id,
        updated_at and answers. Used to find a household's registrations by its id."""
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", name):
            raise ValueError(f"{name!r} is not a question name")
        rows = self._db().execute(
            "SELECT r.record_id, r.updated_at, v.answers FROM records r "
            "JOIN revisions v ON v.revision_id = r.head_revision_id "
            "WHERE r.form_id = ? AND r.state IN ('finalized', 'sent') "
            f"AND json_extract(v.answers, '$.{name}') = ? "
            "ORDER BY r.updated_at DESC, r.rowid DESC",
            [form_id, value],
        )
        return [
            {"record_id": row[0], "updated_at": row[1], "answers": json.loads(row[2])}
            for row in rows
        ]

    def revisions_of(self, record_id: str) -> list[Revision]:
        """The record's revisions, local and pulled, oldest first."""
        db = self._db()
        self._record_state(db, record_id)
        rows = db.execute(
            f"SELECT {_REVISION_COLUMNS} FROM revisions WHERE record_id = ? ORDER BY hlc, rowid",
            [record_id],
        ).fetchall()
        return [_revision(row) for row in rows]


def _record_filter(
    form_id: str | None, state: str | Iterable[str] | None, search: str | None
) -> tuple[str, list[Any]] | None:
    """The WHERE clause `records()` and `count_records()` share; None when nothing can match
    (an empty list of states)."""
    where: list[str] = []
    params: list[Any] = []
    if form_id is not None:
        where.append("form_id = ?")
        params.append(form_id)
    if state is not None:
        states = [state] if isinstance(state, str) else list(state)
        if not states:
            return None
        for each in states:
            _check_state(each)
        where.append(f"state IN ({', '.join('?' * len(states))})")
        params.extend(states)
    if search and search.strip():
        where.append("(search_key LIKE ? ESCAPE '\\' OR record_id LIKE ? ESCAPE '\\')")
        params.append(f"%{_like_escape(_search_key(search))}%")
        params.append(f"{_like_escape(search.strip().lower())}%")
    return (f" WHERE {' AND '.join(where)}" if where else ""), params
