"""The store's schema and migrations, and the search key the schema stores."""

from __future__ import annotations

import functools
from collections.abc import Callable

from sqlite_utils import Database

from fieldapp.store.errors import StoreError
from forms.text import fold
from sync_core import sqlite

# ── Schema and migrations ────────────────────────────────────────────────────────────────
# Migrations are frozen: once shipped, a migration must build the same schema forever.
# Add a new function to the end of MIGRATIONS; never edit one that has shipped.


def _migration_1_initial_schema(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE forms (
            form_id TEXT NOT NULL,
            version TEXT NOT NULL,
            title TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('bundled', 'server')),
            sha256 TEXT NOT NULL,
            content BLOB NOT NULL,
            cached_at TEXT NOT NULL,
            PRIMARY KEY (form_id, version)
        );
        CREATE TABLE records (
            record_id TEXT PRIMARY KEY,
            form_id TEXT NOT NULL,
            form_version TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('draft', 'finalized', 'sent')),
            title TEXT NOT NULL DEFAULT '',
            site_id TEXT,
            phone TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            head_revision_id TEXT
                REFERENCES revisions (revision_id) DEFERRABLE INITIALLY DEFERRED,
            sent_revision_id TEXT
                REFERENCES revisions (revision_id) DEFERRABLE INITIALLY DEFERRED
        );
        CREATE INDEX records_by_form_state ON records (form_id, state, updated_at);
        CREATE TABLE drafts (
            record_id TEXT PRIMARY KEY REFERENCES records (record_id) ON DELETE CASCADE,
            answers TEXT NOT NULL,
            position TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE revisions (
            revision_id TEXT PRIMARY KEY,
            record_id TEXT NOT NULL REFERENCES records (record_id),
            parent_revision_id TEXT,
            form_id TEXT NOT NULL,
            form_version TEXT NOT NULL,
            device_id TEXT NOT NULL,
            hlc TEXT NOT NULL,
            created_at TEXT NOT NULL,
            answers TEXT NOT NULL,
            origin TEXT NOT NULL CHECK (origin IN ('local', 'remote'))
        );
        CREATE INDEX revisions_by_record ON revisions (record_id, hlc);
        CREATE TRIGGER revisions_are_immutable BEFORE UPDATE ON revisions
        BEGIN
            SELECT RAISE(ABORT, 'revisions are immutable: finalize a new revision instead');
        END;
        CREATE TABLE outbox (
            revision_id TEXT PRIMARY KEY
                REFERENCES revisions (revision_id) ON DELETE CASCADE,
            queued_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_attempt_at TEXT,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'rejected')),
            reasons TEXT
        );
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            record_id TEXT,
            form_id TEXT,
            details TEXT NOT NULL DEFAULT '{}'
        );
        """
    )


def _migration_2_record_search(db: Database) -> None:
    # Accent- and case-folded title, so "joao" finds "João"; filled in by the store.
    db.execute("ALTER TABLE records ADD COLUMN search_key TEXT NOT NULL DEFAULT ''")
    rows = db.execute("SELECT record_id, title FROM records").fetchall()
    db.conn.executemany(
        "UPDATE records SET search_key = ? WHERE record_id = ?",
        [(_search_key(title), record_id) for record_id, title in rows],
    )
    db.execute("CREATE INDEX records_by_search_key ON records (search_key)")
    db.execute("CREATE INDEX records_by_updated ON records (updated_at)")


def _migration_3_media_uploads(db: Database) -> None:
    # The record files the server confirmed complete (fieldapp/store/media.py).
    db.execute(
        """
        CREATE TABLE media_uploads (
            record_id TEXT NOT NULL,
            name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            uploaded_at TEXT NOT NULL,
            PRIMARY KEY (record_id, name)
        )
        """
    )


MIGRATIONS: list[Callable[[Database], None]] = [
    _migration_1_initial_schema,
    _migration_2_record_search,
    _migration_3_media_uploads,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: Database, *, upto: int | None = None) -> int:
    """Bring the database up to schema version ``upto`` (default: the latest).

    Each migration runs in its own transaction together with the ``PRAGMA user_version``
    that records it, so a crash mid-migration leaves the previous version intact
    (`sync_core.sqlite.migrate`). Returns the schema version. Raises ``StoreError`` if the
    file was written by a newer app.
    """

    def too_new(version: int) -> StoreError:
        return StoreError(
            f"the database {db.conn.execute('PRAGMA database_list').fetchone()[2]} "
            f"has schema version {version}, newer than this app supports "
            f"({SCHEMA_VERSION}); update the app before opening it"
        )

    steps = [functools.partial(migration, db) for migration in MIGRATIONS]
    return sqlite.migrate(db.conn, steps, upto=upto, too_new=too_new)


def _search_key(text: str) -> str:
    """Fold case and accents and squeeze spaces: "  João  Sitoe" -> "joao sitoe".

    ``records.search_key`` holds this for every title: changing `forms.text.fold` needs a
    migration that recomputes the column.
    """
    return fold(text)
