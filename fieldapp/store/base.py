"""The store's connections, write lock, settings and form cache (`StoreBase`)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

from fieldapp.store.common import (
    _DEVICE_ID,
    _HLC_LAST,
    _MANAGED_SETTINGS,
    BUSY_TIMEOUT_MS,
    FORM_SOURCES,
    WRITE_LOCK_TIMEOUT_S,
    _to_json,
    _utc_now,
    _version_key,
    _write_lock_for,
)
from fieldapp.store.errors import FormNotFound, StoreError
from fieldapp.store.schema import (
    migrate,
)
from sync_core.hlc import HybridClock


class StoreBase:
    """One SQLite file, a connection per thread, one write lock per file (see `Store`)."""

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

    def __enter__(self) -> Self:
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
