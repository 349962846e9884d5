"""The tablet's local store: every answer an enumerator types, kept safe until the server has it.

One SQLite file per tablet, in WAL mode with ``synchronous=FULL``: when ``save_answers()``
returns, the answers are on the flash storage and survive a flat battery.

A record's life::

    create_draft() ─► draft ──finalize()──► finalized ──acknowledge()──► sent
                        ▲  save_answers()       │  revision + outbox row   │
                        │                       │                          │
                        ├──── mark_rejected() ◄─┘                          │
                        └──────────────────── open_for_edit() ◄────────────┘

Finalizing writes an immutable *revision* (the answers as submitted, with its parent revision
and a hybrid logical clock timestamp) and queues it in the *outbox* for the sync client. Edits
after finalizing make a new revision; history is kept. Revisions pulled from the server
(``apply_remote()``) never overwrite local work that hasn't been sent.

Tables: ``settings``, ``forms`` (the form cache), ``records`` (one row per household
submission, with its display title), ``drafts`` (the answers being edited), ``revisions``,
``outbox`` and ``audit_log`` (never personal data: see ``Store.audit()``).

Threads: the UI thread and the sync thread may share one ``Store``. Each thread gets its own
SQLite connection to the file; writes are serialised by a lock and run in
``BEGIN IMMEDIATE`` transactions, so neither thread ever sees "database is locked".

Exceptions::

    StoreError             anything the store refuses or can't do; says what, and which record
    ├── RecordNotFound     no record with that id on this tablet
    ├── RecordLocked       the record can't be changed that way in its current state
    └── FormNotFound       that form version isn't in the form cache
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from forms.text import fold
from sync_core import sqlite
from sync_core.hlc import HybridClock, parse_hlc

__all__ = [
    "AUDIT_DETAIL_KEYS",
    "FORM_SOURCES",
    "MIGRATIONS",
    "RECORD_STATES",
    "SCHEMA_VERSION",
    "Draft",
    "FormNotFound",
    "HouseholdCandidate",
    "RecordLocked",
    "RecordNotFound",
    "RecordRow",
    "Revision",
    "Store",
    "StoreError",
    "migrate",
]

RECORD_STATES = ("draft", "finalized", "sent")
FORM_SOURCES = ("bundled", "server")

BUSY_TIMEOUT_MS = 5000
# How long a write waits for another thread's write before giving up with a StoreError.
WRITE_LOCK_TIMEOUT_S = 30.0

_DEVICE_ID = "device_id"
_HLC_LAST = "hlc_last"
_MANAGED_SETTINGS = frozenset({_DEVICE_ID, _HLC_LAST})


# ── Errors ───────────────────────────────────────────────────────────────────────────────


class StoreError(Exception):
    """The store refused or failed an operation. The message says what, and which record."""


class RecordNotFound(StoreError):
    """There is no record with that id on this tablet."""


class RecordLocked(StoreError):
    """The record can't be changed that way in its current state."""


class FormNotFound(StoreError):
    """That form version is not in the form cache."""


# ── Values handed to the UI and the sync client ──────────────────────────────────────────


@dataclass(frozen=True)
class Draft:
    """The answers of a record as the enumerator is editing them."""

    record_id: str
    form_id: str
    form_version: str
    state: str
    answers: dict
    position: Any
    updated_at: str
    head_revision_id: str | None


@dataclass(frozen=True)
class RecordRow:
    """One line of the record list. Deliberately without phone or answers."""

    record_id: str
    form_id: str
    form_version: str
    state: str
    title: str
    site_id: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class HouseholdCandidate:
    """A record the duplicate check compares a new household with."""

    record_id: str
    title: str
    phone: str | None
    site_id: str | None


@dataclass(frozen=True)
class Revision:
    """An immutable, finalized version of a record's answers."""

    revision_id: str
    record_id: str
    parent_revision_id: str | None
    form_id: str
    form_version: str
    device_id: str
    hlc: str
    created_at: str
    answers: dict

    def to_wire(self) -> dict:
        """The JSON-able dict sent to the server: exactly this dataclass's fields."""
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict) -> Revision:
        """Build a revision from the server's JSON, checking every field.

        Raises ``ValueError`` naming the first missing or malformed field. Keys this version
        of the app doesn't know are ignored, so the server can add fields.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a revision must be a JSON object, not {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"revision is missing {', '.join(missing)}")
        values = {name: data[name] for name in names}
        if isinstance(values["form_version"], int) and not isinstance(values["form_version"], bool):
            values["form_version"] = str(values["form_version"])
        # The protocol's model is the one definition of a well-formed revision. The answers'
        # contents are the form engine's business; here they only need to be an object.
        answers = values["answers"]
        # Imported here: pydantic costs the store's start-up (a child process in the crash
        # tests, the app on a tablet) and only pulls need it.
        import pydantic

        from sync_core import protocol as wire

        try:
            wire.Revision.model_validate(
                {**values, "answers": {} if isinstance(answers, dict) else answers}
            )
        except pydantic.ValidationError as error:
            name = str(error.errors()[0]["loc"][0])
            if name == "hlc" and isinstance(values["hlc"], str):
                parse_hlc(values["hlc"])  # its message says what is wrong with the clock
            raise ValueError(
                f"revision {data.get('revision_id')!r} has a malformed {name}: {values[name]!r}"
            ) from None
        parse_hlc(values["hlc"])
        return cls(**values)


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


MIGRATIONS: list[Callable[[Database], None]] = [
    _migration_1_initial_schema,
    _migration_2_record_search,
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


# ── Audit log whitelist ──────────────────────────────────────────────────────────────────

_CODE_RE = re.compile(r"[A-Za-z_/][A-Za-z0-9_.:/\[\]-]{0,79}")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# A phone number or an ID number fits in an int too; no count we log comes near this.
_MAX_AUDIT_NUMBER = 10**8


def _audit_number(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return math.isfinite(value) and abs(value) < _MAX_AUDIT_NUMBER
    return False


def _audit_code(value: Any) -> bool:
    # Must start with a letter, "_" or "/": refuses names with spaces, phone numbers and
    # ID numbers written as strings, e-mail addresses and free text.
    return isinstance(value, str) and _CODE_RE.fullmatch(value) is not None


def _audit_codes(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) <= 100 and all(map(_audit_code, value))


def _audit_version(value: Any) -> bool:
    return isinstance(value, str) and _VERSION_RE.fullmatch(value) is not None


def _audit_uuid(value: Any) -> bool:
    return isinstance(value, str) and _UUID_RE.fullmatch(value) is not None


def _audit_state(value: Any) -> bool:
    return value in RECORD_STATES


_NUMBER_KEYS = (
    "count answer_count member_count record_count revision_count form_count reason_count "
    "attempts accepted rejected conflicts replaced pulled pushed bytes duration_ms "
    "http_status schema_version kept_local"
)
_CODE_KEYS = "code error_code reason_code field screen source status result"
_AUDIT_VALIDATORS: dict[str, Callable[[Any], bool]] = {
    **dict.fromkeys(_NUMBER_KEYS.split(), _audit_number),
    **dict.fromkeys(_CODE_KEYS.split(), _audit_code),
    **dict.fromkeys(("codes", "fields"), _audit_codes),
    **dict.fromkeys(("version", "form_version"), _audit_version),
    **dict.fromkeys(("revision_id", "parent_revision_id", "device_id"), _audit_uuid),
    **dict.fromkeys(("state", "from_state", "to_state"), _audit_state),
}
AUDIT_DETAIL_KEYS = frozenset(_AUDIT_VALIDATORS)


def _audit_row(action: str, record_id: Any, form_id: Any, details: dict[str, Any]) -> dict:
    """Check an audit entry against the whitelist; ``ValueError`` says what was refused."""
    if not _audit_code(action):
        raise ValueError("audit action must be a short identifier such as 'export_made'")
    if record_id is not None and not _audit_uuid(record_id):
        raise ValueError("audit record_id must be a record's uuid")
    if form_id is not None and not _audit_code(form_id):
        raise ValueError("audit form_id must be a form id")
    for key, value in details.items():
        check = _AUDIT_VALIDATORS.get(key)
        if check is None:
            raise ValueError(
                f"audit detail {key!r} is not allowed (the audit log never holds personal "
                f"data); allowed keys: {', '.join(sorted(AUDIT_DETAIL_KEYS))}"
            )
        if value is not None and not check(value):
            # The refused value is deliberately left out of the message: it may be personal.
            raise ValueError(
                f"audit detail {key!r} refused: only counts, states, codes, field names "
                "and ids may be logged"
            )
    return {
        "at": _utc_now(),
        "action": action,
        "record_id": record_id,
        "form_id": form_id,
        "details": json.dumps(details, sort_keys=True),
    }


# ── Helpers ──────────────────────────────────────────────────────────────────────────────


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _to_json(value: Any, what: str) -> str:
    try:
        # NaN is not JSON: the server would refuse the revision, so refuse it at entry
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} can't be stored as JSON: {exc}") from exc


def _search_key(text: str) -> str:
    """Fold case and accents and squeeze spaces: "  João  Sitoe" -> "joao sitoe".

    ``records.search_key`` holds this for every title: changing `forms.text.fold` needs a
    migration that recomputes the column.
    """
    return fold(text)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _version_key(version: str) -> tuple:
    # Natural order, so version "10" is newer than "9" and "2024061201" than "2024053001"
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.findall(r"\d+|\D+", version)
    )


def _check_state(state: str) -> None:
    if state not in RECORD_STATES:
        raise ValueError(f"unknown record state {state!r}; expected one of {RECORD_STATES}")


_WRITE_LOCKS: dict[Path, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock_for(path: Path) -> threading.Lock:
    # Shared by every Store on the same file in this process, so two Store objects
    # queue on a lock rather than polling SQLite's busy handler.
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(path, threading.Lock())


# Older SQLite builds (Android's among them) allow 999 parameters per statement
_IDS_PER_QUERY = 500

_REVISION_COLUMNS = (
    "revision_id, record_id, parent_revision_id, form_id, form_version, device_id, hlc, "
    "created_at, answers"
)


def _revision(row: Sequence) -> Revision:
    """A Revision from a row selected with ``_REVISION_COLUMNS``."""
    return Revision(*row[:8], answers=json.loads(row[8]))


# ── The store ────────────────────────────────────────────────────────────────────────────


class Store:
    """The local store, one SQLite file. Safe to share between the UI and sync threads.

    Opening creates the folders and the file if needed and migrates an older schema,
    keeping all data. Use as a context manager, or call ``close()``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        self._local = threading.local()
        self._connections: dict[threading.Thread, Database] = {}
        self._connections_guard = threading.Lock()
        self._write_lock = _write_lock_for(self.path)
        self._closed = False
        try:
            self._create_file()
            with self._locked(f"migrate {self.path}"):
                migrate(self._db())
            with self._write("set up the device identity") as db:
                db.execute(
                    "INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)",
                    [_DEVICE_ID, json.dumps(str(uuid.uuid4()))],
                )
                self._device_id: str = self._setting(db, _DEVICE_ID)
                self._clock = HybridClock(self._device_id, last=self._setting(db, _HLC_LAST))
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"could not open the store {self.path}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _create_file(self) -> None:
        # Personal data: readable by this app's user only (the -wal and -shm files that
        # SQLite creates next to it copy these permissions).
        #
        # Never open and close a descriptor on an existing database: closing any descriptor
        # of a file drops every POSIX lock this process holds on it, including those of
        # SQLite connections still open here, which lets another connection read a stale
        # snapshot or reset the WAL index ("How To Corrupt An SQLite Database File", 2.2).
        if self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return  # another thread or process created it first
        os.close(fd)

    # Connections ─────────────────────────────────────────────────────────────────────────

    def _db(self) -> Database:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
        return db

    def _connect(self) -> Database:
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            # We issue BEGIN IMMEDIATE / COMMIT ourselves
            isolation_level=None,
            # Only so that close() can close the connections of other threads
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(
                    f"the database {self.path} can't use write-ahead logging (journal mode "
                    f"stays {mode!r}); keep it on the tablet's internal storage"
                )
            # FULL: a commit is on the storage before it returns (WAL's default, NORMAL,
            # can lose the last commits on power loss)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        db = Database(conn, execute_plugins=False)
        with self._connections_guard:
            if self._closed:
                db.close()
                raise StoreError(f"the store {self.path} is closed")
            # Sync threads come and go: close the connections they left behind
            for thread in [t for t in self._connections if not t.is_alive()]:
                self._connections.pop(thread).close()
            self._connections[threading.current_thread()] = db
        return db

    def close(self) -> None:
        """Close every thread's connection. Call it once background threads have stopped."""
        with self._connections_guard:
            if self._closed:
                return
            self._closed = True
            # Wait for a write in progress on another thread, so it isn't cut off
            locked = self._write_lock.acquire(timeout=WRITE_LOCK_TIMEOUT_S)
            try:
                for db in self._connections.values():
                    db.close()
                self._connections.clear()
            finally:
                if locked:
                    self._write_lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.path}>"

    @contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        if not self._write_lock.acquire(timeout=WRITE_LOCK_TIMEOUT_S):
            raise StoreError(
                f"could not {what}: another write has held the store for "
                f"{WRITE_LOCK_TIMEOUT_S:.0f} s"
            )
        try:
            yield
        finally:
            self._write_lock.release()

    @contextmanager
    def _write(self, what: str) -> Iterator[Database]:
        """One write transaction. ``what`` completes "could not ..." in error messages."""
        db = self._db()
        with self._locked(what):
            try:
                db.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.conn.execute("COMMIT")
                except BaseException:
                    if db.conn.in_transaction:
                        db.conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                hint = ""
                if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
                    hint = "; the tablet's storage is full: free some space and try again"
                raise StoreError(f"could not {what}: {exc}{hint}") from exc

    def _query(self, sql: str, params: Sequence | dict = ()) -> list[dict]:
        return list(self._db().query(sql, params))

    # Settings ────────────────────────────────────────────────────────────────────────────

    @property
    def device_id(self) -> str:
        """This tablet's id: a uuid4 made when the store was first created. Never changes."""
        return self._device_id

    @staticmethod
    def _setting(db: Database, key: str, default: Any = None) -> Any:
        row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
        return default if row is None else json.loads(row[0])

    def get_setting(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key``, or ``default``."""
        return self._setting(self._db(), key, default)

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-able value. The store's own settings (``device_id``) are refused."""
        if key in _MANAGED_SETTINGS:
            raise StoreError(f"the setting {key!r} is managed by the store and can't be set")
        value_json = _to_json(value, f"the setting {key!r}")
        with self._write(f"save the setting {key!r}") as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value_json],
            )

    # Forms ───────────────────────────────────────────────────────────────────────────────

    def cache_form(
        self,
        form_id: str,
        version: str,
        title: str,
        content: bytes,
        source: str = "bundled",
    ) -> None:
        """Keep a form's .xlsx in the cache. Caching the same bytes again does nothing.

        Different bytes under a version already cached replace it, and the audit log notes
        "form_replaced" (a changed form should have a new version: records name the version
        they were filled in with). A bundled copy never replaces one from the server.
        """
        if source not in FORM_SOURCES:
            raise ValueError(f"form source must be one of {FORM_SOURCES}, got {source!r}")
        version = str(version)
        content = bytes(content)
        sha256 = hashlib.sha256(content).hexdigest()
        with self._write(f"cache form {form_id} version {version}") as db:
            row = db.execute(
                "SELECT sha256, source FROM forms WHERE form_id = ? AND version = ?",
                [form_id, version],
            ).fetchone()
            if row is not None and (row[0] == sha256 or (row[1], source) == ("server", "bundled")):
                return
            db["forms"].insert(
                {
                    "form_id": form_id,
                    "version": version,
                    "title": title,
                    "source": source,
                    "sha256": sha256,
                    "content": content,
                    "cached_at": _utc_now(),
                },
                replace=True,
            )
            self._audit(
                db,
                "form_replaced" if row is not None else "form_cached",
                form_id=form_id,
                version=version,
                source=source,
                bytes=len(content),
            )

    def cached_forms(self) -> list[dict]:
        """Every cached form version, without content: by form_id, newest version first."""
        rows = self._query(
            "SELECT form_id, version, title, source, sha256, cached_at FROM forms ORDER BY form_id"
        )
        rows.sort(key=lambda row: _version_key(row["version"]), reverse=True)
        rows.sort(key=lambda row: row["form_id"])
        return rows

    def form_content(self, form_id: str, version: str) -> bytes:
        """The .xlsx bytes of a cached form version; ``FormNotFound`` if it isn't cached."""
        cursor = self._db().execute(
            "SELECT content FROM forms WHERE form_id = ? AND version = ?", [form_id, str(version)]
        )
        row = cursor.fetchone()
        if row is None:
            raise FormNotFound(f"form {form_id} version {version} is not cached on this tablet")
        return bytes(row[0])

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
        self, record_id: str, answers: dict, position: Any = None, *, title: str | None = None
    ) -> None:
        """Replace the draft's answers (and ``position``, unless None), durably, atomically.

        ``title`` (the household head's name, say) updates the record's display title so a
        draft can be found in the record list before it is finalized.

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
            row = db.conn.execute(
                "SELECT records.state, drafts.answers FROM records "
                "LEFT JOIN drafts USING (record_id) WHERE record_id = ?",
                [record_id],
            ).fetchone()
            if row is None:
                raise RecordNotFound(f"record {record_id} is not on this tablet")
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
                    [title, _search_key(title), record_id],
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
        row = db.conn.execute(
            "SELECT records.form_id, records.form_version, records.state, "
            "records.updated_at, records.head_revision_id, "
            "drafts.answers, drafts.position, drafts.updated_at "
            "FROM records LEFT JOIN drafts USING (record_id) WHERE record_id = ?",
            [record_id],
        ).fetchone()
        if row is None:
            raise RecordNotFound(f"record {record_id} is not on this tablet")
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
        row = db.conn.execute(
            "SELECT state, head_revision_id FROM records WHERE record_id = ?", [record_id]
        ).fetchone()
        if row is None:
            raise RecordNotFound(f"record {record_id} is not on this tablet")
        return row

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
            record = db.execute(
                "SELECT form_id, form_version, state, head_revision_id FROM records "
                "WHERE record_id = ?",
                [record_id],
            ).fetchone()
            if record is None:
                raise RecordNotFound(f"record {record_id} is not on this tablet")
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
                    [title, _search_key(title), record_id],
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
        """
        where, params = [], []
        if form_id is not None:
            where.append("form_id = ?")
            params.append(form_id)
        if state is not None:
            states = [state] if isinstance(state, str) else list(state)
            if not states:
                return []
            for each in states:
                _check_state(each)
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(states)
        if search and search.strip():
            where.append("(search_key LIKE ? ESCAPE '\\' OR record_id LIKE ? ESCAPE '\\')")
            params.append(f"%{_like_escape(_search_key(search))}%")
            params.append(f"{_like_escape(search.strip().lower())}%")
        direction = "DESC" if newest_first else "ASC"
        sql = (
            "SELECT record_id, form_id, form_version, state, title, site_id, created_at, "
            "updated_at FROM records"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + f" ORDER BY updated_at {direction}, rowid {direction} LIMIT ? OFFSET ?"
        )
        rows = self._db().execute(sql, [*params, int(limit), int(offset)]).fetchall()
        return [RecordRow(*row) for row in rows]

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
        site, or the same phone number (compared as in ``forms.households``).

        For the duplicate warning, which decides with ``forms.households.find_duplicates``.
        Records without a title are left out: there is no name to compare.
        """
        from forms.households import normalise_phone

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

    def revisions_of(self, record_id: str) -> list[Revision]:
        """The record's revisions, local and pulled, oldest first."""
        db = self._db()
        self._record_state(db, record_id)
        rows = db.execute(
            f"SELECT {_REVISION_COLUMNS} FROM revisions WHERE record_id = ? ORDER BY hlc, rowid",
            [record_id],
        ).fetchall()
        return [_revision(row) for row in rows]

    # Sync side ───────────────────────────────────────────────────────────────────────────

    def _catch_up_clock(self, db: Database) -> None:
        # Another Store object (or process) on this file may have issued later timestamps
        persisted = self._setting(db, _HLC_LAST)
        if persisted is not None and persisted > self._clock.last:
            self._clock.observe(persisted)

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
            row = db.execute(
                "SELECT record_id, answers, form_id FROM outbox JOIN revisions USING "
                "(revision_id) WHERE revision_id = ?",
                [revision_id],
            ).fetchone()
            if row is None:
                raise StoreError(
                    f"revision {revision_id} is not in the outbox: it was acknowledged or "
                    "replaced by a later edit"
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

    def apply_remote(self, revision: Revision) -> bool:
        """Store a revision pulled from the server (another device's edit). Idempotent.

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
            if revision.parent_revision_id != head and revision.hlc <= head_hlc:
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

    # Audit log ───────────────────────────────────────────────────────────────────────────

    def _audit(
        self,
        db: Database,
        action: str,
        *,
        record_id: str | None = None,
        form_id: str | None = None,
        **details: Any,
    ) -> None:
        db["audit_log"].insert(_audit_row(action, record_id, form_id, details))

    def audit(
        self, action: str, *, record_id: str | None = None, form_id: str | None = None, **details
    ) -> None:
        """Log an event. Never personal data: only whitelisted detail keys, and values that
        are counts, record states, codes, field names or ids.

        Raises ``ValueError`` for any other key or value (the message leaves the refused
        value out). ``AUDIT_DETAIL_KEYS`` lists the keys.
        """
        entry = _audit_row(action, record_id, form_id, details)
        with self._write(f"log {action!r} in the audit log") as db:
            db["audit_log"].insert(entry)

    def audit_entries(self, limit: int = 100) -> list[dict]:
        """The latest audit entries, newest first, with ``details`` as a dict."""
        rows = self._query(
            "SELECT id, at, action, record_id, form_id, details FROM audit_log "
            "ORDER BY id DESC LIMIT ?",
            [int(limit)],
        )
        for row in rows:
            row["details"] = json.loads(row["details"])
        return rows
