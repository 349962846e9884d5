"""The server's SQLite store: schema, migrations, and the single writer.

Shaped like Datasette's: ONE thread owns the only write connection and drains a queue of
tasks, each task in its own `BEGIN IMMEDIATE` transaction, so concurrent uploads never
meet "database is locked". Readers use their own read-only connections (WAL lets them read
while the writer writes). `synchronous=FULL`: a task's result is handed back only after its
commit is on disk, so a device told "accepted" can forget the revision.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sync_core import sqlite
from sync_core.sqlite import run_script

log = logging.getLogger("sync_server.db")
T = TypeVar("T")

DATABASE_NAME = "sync.db"

# A migration done in Python (see `migrate`): it names its step instead of holding SQL.
MOVE_DUPLICATE_AUDIT = "-- step: move duplicate_audit into audit_log"

# Migration 7's SQL, named so that a test can stop just before it.
RECORD_SEARCH = """
-- A trigram index over record_index.search (folded names and phones): a word of three
-- letters or more is found through the index instead of reading every row. External
-- content: the text lives once, in record_index; the triggers keep the index equal
-- to it (record_index is written by upsert, so a row keeps its rowid).
CREATE VIRTUAL TABLE record_search USING fts5(
    search, content='record_index', content_rowid='rowid', tokenize='trigram'
);
INSERT INTO record_search (record_search) VALUES ('rebuild');
CREATE TRIGGER record_search_insert AFTER INSERT ON record_index BEGIN
    INSERT INTO record_search (rowid, search) VALUES (new.rowid, new.search);
END;
CREATE TRIGGER record_search_delete AFTER DELETE ON record_index BEGIN
    INSERT INTO record_search (record_search, rowid, search)
        VALUES ('delete', old.rowid, old.search);
END;
CREATE TRIGGER record_search_update AFTER UPDATE OF search ON record_index BEGIN
    INSERT INTO record_search (record_search, rowid, search)
        VALUES ('delete', old.rowid, old.search);
    INSERT INTO record_search (rowid, search) VALUES (new.rowid, new.search);
END;
"""

# Each entry moves the schema one version forward; never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    -- Every revision ever received, exactly as received (body = canonical JSON), plus the
    -- merge revisions this server made. seq is the pull cursor.
    CREATE TABLE revisions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        revision_id TEXT NOT NULL UNIQUE,
        record_id TEXT NOT NULL,
        parent_revision_id TEXT,
        merged_from TEXT,
        form_id TEXT NOT NULL,
        form_version TEXT NOT NULL,
        device_id TEXT NOT NULL,
        uploaded_by TEXT NOT NULL,
        hlc TEXT NOT NULL,
        hlc_order TEXT NOT NULL,
        hlc_flag TEXT,
        created_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        batch_id TEXT,
        district TEXT,
        site_id TEXT,
        origin TEXT NOT NULL CHECK (origin IN ('device', 'merge', 'review')),
        body TEXT NOT NULL,
        sha256 TEXT NOT NULL
    );
    CREATE INDEX revisions_record ON revisions (record_id);
    CREATE INDEX revisions_scope ON revisions (district, seq);

    -- The merged view of each record, rebuilt from its revisions whenever one arrives.
    CREATE TABLE records (
        record_id TEXT PRIMARY KEY,
        form_id TEXT NOT NULL,
        form_version TEXT NOT NULL,
        district TEXT,
        site_id TEXT,
        head_revision_id TEXT NOT NULL,
        answers TEXT NOT NULL,
        conflict TEXT NOT NULL DEFAULT 'none',
        revision_count INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX records_scope ON records (district, site_id);

    CREATE TABLE conflicts (
        conflict_id TEXT PRIMARY KEY,
        record_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('soft', 'hard')),
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
        base_revision_id TEXT NOT NULL,
        revision_ids TEXT NOT NULL,
        winner_revision_id TEXT NOT NULL,
        fields TEXT NOT NULL,
        district TEXT,
        site_id TEXT,
        detected_at TEXT NOT NULL,
        resolved_by TEXT,
        resolved_at TEXT,
        resolution_revision_id TEXT,
        note TEXT
    );
    CREATE INDEX conflicts_scope ON conflicts (district, status);

    CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY,
        conflict_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        chosen_revision_id TEXT NOT NULL,
        revision_id TEXT NOT NULL,
        decided_by TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        district TEXT,
        site_id TEXT
    );

    -- Devices, coordinators and (on a national server) district servers. Only the sha256
    -- of a token is kept.
    CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('device', 'coordinator', 'server')),
        name TEXT NOT NULL,
        district TEXT NOT NULL,
        sites TEXT NOT NULL DEFAULT '[]',
        token_sha256 TEXT UNIQUE,
        enrolled_with TEXT,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        last_seen_at TEXT
    );

    CREATE TABLE enrollment_codes (
        code_sha256 TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        district TEXT NOT NULL,
        sites TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT,
        used_by TEXT,
        revoked_at TEXT
    );

    CREATE TABLE forms (
        form_id TEXT NOT NULL,
        version TEXT NOT NULL,
        title TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        file_name TEXT NOT NULL,
        published_at TEXT NOT NULL,
        PRIMARY KEY (form_id, version)
    );

    CREATE TABLE batches (
        account_id TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        first_received_at TEXT NOT NULL,
        last_received_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (account_id, batch_id)
    );

    -- Where this (district) server forwards to, and how far it has got.
    CREATE TABLE forward_targets (
        url TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        cursor INTEGER NOT NULL DEFAULT 0,
        last_forward_at TEXT
    );
    """,
    # 2: the coordinator workspace (sync_server/workspace/) and what it shows.
    """
    -- Uploads refused by validation: ids, codes and paths only (never the answers).
    CREATE TABLE rejections (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        account_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        revision_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        form_id TEXT NOT NULL,
        form_version TEXT NOT NULL,
        district TEXT,
        site_id TEXT,
        reasons TEXT NOT NULL
    );
    CREATE INDEX rejections_scope ON rejections (district, id);
    CREATE INDEX rejections_record ON rejections (record_id);

    -- What each tablet last said about itself (POST /api/v1/device-report).
    CREATE TABLE device_reports (
        account_id TEXT PRIMARY KEY,
        app_version TEXT,
        outbox INTEGER,
        clock_offset_s REAL,
        reported_at TEXT NOT NULL
    );

    -- Coordinators who sign in to the workspace: an argon2 hash, never the password.
    CREATE TABLE workspace_logins (
        account_id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT
    );
    -- Failed sign-ins per user name typed (known or not, so a lockout hints at nothing).
    CREATE TABLE login_failures (
        username TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_failure_at TEXT NOT NULL,
        locked_until TEXT
    );
    CREATE TABLE sessions (
        session_sha256 TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    -- Who did what, when: account ids, actions and ids of what was touched; no names,
    -- answers or phone numbers.
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        account_id TEXT,
        action TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL DEFAULT 'ok'
    );

    -- The workspace's list of records: one row per record, refreshed from the revisions
    -- (and rejections) after the last ones it saw, so a list with filters and a search on
    -- names and phones (folded: no accents, lower case) stays fast at 100,000 households.
    CREATE TABLE record_index (
        record_id TEXT PRIMARY KEY,
        form_id TEXT NOT NULL,
        district TEXT,
        site_id TEXT,
        enumerator TEXT,
        received_on TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        status TEXT NOT NULL,
        title TEXT NOT NULL,
        search TEXT NOT NULL
    );
    -- The list is ordered by (received_on, record_id), newest first: each index ends
    -- with those two, so a page is a walk down an index, never a sort of the matches.
    CREATE INDEX record_index_recent ON record_index (received_on, record_id);
    CREATE INDEX record_index_district ON record_index (district, received_on, record_id);
    CREATE INDEX record_index_form ON record_index (form_id, received_on, record_id);
    CREATE INDEX record_index_site ON record_index (site_id, received_on, record_id);
    CREATE INDEX record_index_enumerator ON record_index (enumerator, received_on, record_id);
    -- The overview's counts: one walk of this index, grouped in its order (no sort).
    CREATE INDEX record_index_counts ON record_index
        (district, form_id, site_id, enumerator, received_on);
    CREATE INDEX revisions_device ON revisions (device_id);
    """,
    # 3: sync security: the enrollment audit secret, forward refusals.
    """
    -- Failed enrollments go to audit_log (migration 2) with a keyed hash of the client
    -- address as their target (this secret), never the address itself.
    INSERT INTO meta (key, value) VALUES ('audit_secret', lower(hex(randomblob(32))));

    -- Revisions a forward target refused: retried at every forward (they may pass once
    -- the national server publishes their form), while the cursor moves past them.
    CREATE TABLE forward_refused (
        url TEXT NOT NULL,
        seq INTEGER NOT NULL,
        revision_id TEXT NOT NULL,
        codes TEXT NOT NULL DEFAULT '',
        refused_at TEXT NOT NULL,
        PRIMARY KEY (url, revision_id)
    );
    """,
    # 4: exports (sync_server/exports/); their audit entries go to audit_log (migration 2).
    """
    -- The key of the untraceable record ids in shareable exports (an HMAC): without it,
    -- nobody can link an exported row back to a record. SQLite's randomblob() draws from
    -- its CSPRNG, seeded by the operating system.
    INSERT INTO meta (key, value) VALUES ('export_secret', lower(hex(randomblob(32))));
    """,
    # 5 (media): record media (sync_server/media.py); the bytes are files under
    # <data dir>/media, never blobs here.
    """
    CREATE TABLE media (
        record_id TEXT NOT NULL,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        uploaded_by TEXT NOT NULL,
        started_at TEXT NOT NULL,
        completed_at TEXT,
        PRIMARY KEY (record_id, name)
    );
    """,
    # 6 (duplicates review): one audit table. The duplicate-pair decisions that went to the
    # dedup's own `duplicate_audit` table are copied into audit_log and that table is
    # dropped; in Python (`_move_duplicate_audit`): the table exists only where a
    # household was merged.
    MOVE_DUPLICATE_AUDIT,
    # 7 (records search): the workspace's search by FTS5 trigrams instead of LIKE '%..%'.
    RECORD_SEARCH,
    # 8 (households): the living site list (sync_server/sites.py). Seeded from the site
    # list GeoJSON at the first start (`serve --init`); coordinators open and close sites
    # (audited in audit_log); a tablet's "new site" is stored here as proposed.
    """
    CREATE TABLE sites (
        site_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        site_type TEXT NOT NULL,
        district_pcode TEXT NOT NULL,
        posto_pcode TEXT,
        lat REAL,
        lon REAL,
        -- GeoJSON Polygon of the boundary when known (the seed list); else the position.
        boundary TEXT,
        status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'proposed', 'merged')),
        opened TEXT,
        closed TEXT,
        created_by TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        -- A proposed site: the record that proposed it; a merged one: the site it joined.
        proposed_by_record TEXT,
        merged_into TEXT REFERENCES sites (site_id)
    );
    CREATE INDEX sites_district ON sites (district_pcode, status);
    """,
]


def _move_duplicate_audit(conn: sqlite3.Connection) -> None:
    """Migration 6: `duplicate_audit` rows into audit_log, in their order, then drop it."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'duplicate_audit'"
    ).fetchone():
        return
    conn.execute(
        "INSERT INTO audit_log (at, account_id, action, target, outcome) "
        "SELECT at, account_id, 'duplicate.' || action, pair_id, 'ok' FROM duplicate_audit "
        "ORDER BY seq"
    )
    conn.execute("DROP TABLE duplicate_audit")


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection set up the way this server needs it (WAL, FULL sync, foreign keys)."""
    if read_only:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def migrate(conn: sqlite3.Connection, *, upto: int | None = None) -> None:
    """Bring the schema up to date (or to version `upto`, for tests of a migration); safe
    to run at every start."""

    def step(number: int, script: str) -> None:
        if script == MOVE_DUPLICATE_AUDIT:
            _move_duplicate_audit(conn)
        else:
            run_script(conn, script)
        if number == 1:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('server_id', ?)",
                (f"srv-{uuid.uuid4().hex[:16]}",),
            )
        if number == 2:
            # Signs the workspace's session cookies; a copy of the database is as
            # sensitive as the data in it anyway.
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('session_secret', ?)",
                (secrets.token_urlsafe(32),),
            )

    sqlite.migrate(
        conn,
        [functools.partial(step, number, script) for number, script in enumerate(MIGRATIONS, 1)],
        upto=upto,
        on_migrated=lambda number: log.info("database schema migrated to version %d", number),
    )


class WriterStopped(RuntimeError):
    """The writer thread is gone (the server is shutting down)."""


class Database:
    """One SQLite file: a writer thread for changes, read-only connections for queries.

    `write(task)` runs `task(conn)` on the writer thread inside BEGIN IMMEDIATE ... COMMIT
    and returns its result (or raises its exception, after a ROLLBACK).
    `read()` yields a read-only connection owned by the calling thread.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / DATABASE_NAME
        self._write_conn = connect(self.path)
        migrate(self._write_conn)
        # It holds token hashes, the forward token (a credential) and personal data: for
        # its owner only. SQLite creates the -wal and -shm files with the database's mode.
        for path in (self.data_dir, self.path, *self.data_dir.glob(DATABASE_NAME + "-*")):
            with contextlib.suppress(OSError):
                path.chmod(0o700 if path.is_dir() else 0o600)
        self.server_id: str = self._write_conn.execute(
            "SELECT value FROM meta WHERE key = 'server_id'"
        ).fetchone()[0]
        self._queue: queue.Queue[tuple[Callable[[sqlite3.Connection], Any], Future] | None] = (
            queue.Queue()
        )
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run_writer, name="sqlite-writer", daemon=True)
        self._thread.start()

    # --- writing ---------------------------------------------------------------------

    def submit(self, task: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue `task` for the writer; the future completes after the durable commit."""
        future: Future[T] = Future()
        if not self._thread.is_alive():
            future.set_exception(WriterStopped("the database writer has stopped"))
            return future
        self._queue.put((task, future))
        return future

    def write(self, task: Callable[[sqlite3.Connection], T]) -> T:
        return self.submit(task).result()

    def _run_writer(self) -> None:
        conn = self._write_conn
        while True:
            item = self._queue.get()
            if item is None:
                break
            task, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = task(conn)
                conn.execute("COMMIT")
            except BaseException as error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                future.set_exception(error)
            else:
                future.set_result(result)
        conn.close()

    # --- reading ---------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection for this thread; each `with` sees one consistent snapshot."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, read_only=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Finish queued writes, stop the writer, close every connection."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        with self._readers_lock:
            for conn in self._readers:
                # A connection made in another thread that is still using it can't close.
                with contextlib.suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._readers.clear()
