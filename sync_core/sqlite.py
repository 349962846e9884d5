"""SQLite helpers both sides share: the schema migration runner and script splitting.

The tablet's store (`fieldapp.store`) and the server's database (`sync_server.db`) both keep
their schema version in `PRAGMA user_version` and move it forward one frozen migration at a
time. `migrate()` is the one runner: each migration runs in its own `BEGIN IMMEDIATE`
transaction together with the `user_version` that records it, so a crash mid-migration
leaves the previous version intact, and the version is read inside the write transaction,
so two connections migrating at once don't both apply a step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence

__all__ = ["migrate", "run_script", "split_statements"]


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Callable[[], None]],
    *,
    upto: int | None = None,
    too_new: Callable[[int], Exception] | None = None,
    on_migrated: Callable[[int], None] | None = None,
) -> int:
    """Bring the schema to version `upto` (default: all of `migrations`); return the version.

    `migrations[n]` moves the schema from version n to n + 1 using `conn` (the connection
    must be in autocommit mode, `isolation_level=None`). A file already at a version newer
    than `len(migrations)` raises `too_new(version)` when given, else is left as it is.
    `on_migrated(version)` is called after each step is committed.
    """
    latest = len(migrations)
    target = latest if upto is None else upto
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read inside the write transaction: another connection may have just migrated
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > latest and too_new is not None:
                raise too_new(version)
            if version >= target:
                conn.execute("COMMIT")
                return version
            migrations[version]()
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if on_migrated is not None:
            on_migrated(version + 1)


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run a script of SQL statements inside the caller's transaction."""
    for statement in split_statements(script):
        conn.execute(statement)


def split_statements(script: str) -> Iterator[str]:
    """The statements of a script, one by one, without its `--` comment lines.

    `sqlite3.executescript` would commit the caller's transaction; running the statements
    one at a time keeps a migration and its `user_version` in one transaction.
    """
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()
