"""Record media on the server: resumable, verified uploads of the files records name.

A tablet uploads a record's photos, recordings and files after the revision naming them
is accepted (protocol: `sync_core.media`, docs/sync-protocol.md "Record media"). Each file
arrives in chunks; the server keeps the bytes received so far in a partial file whose size
*is* the resume offset (every chunk is fsynced before it is acknowledged), checks each
chunk against its sha256 and the whole file against its sha256 at the end, then moves it
into place:

    <data dir>/media/<record_id>/<name>            complete files
    <data dir>/media/.partial/<record_id>/<name>   uploads in progress

Table `media` (migration `media`) has one row per file: record id, the answer's path,
name, size, sha256, who uploaded it and when it was complete. Files are never SQLite
blobs: a 20 MB video would bloat every backup and every read of the database.

Scope: a file is accepted only for a record this account may push to (district, sites) and
only if some revision of the record names it (`media_references`); it is read back only
within the reader's scope. Retrying any chunk is safe: a chunk the server already holds is
answered with the offset it has (`409 offset`), a complete file with its status.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from sync_core.media import MAX_MEDIA_BYTES, is_media_name, media_references
from sync_server.auth import Principal, iso, now_utc
from sync_server.db import Database
from sync_server.problems import Problem

__all__ = [
    "MediaStatus",
    "complete_file",
    "media_for_record",
    "receive_chunk",
    "status",
]

_locks: dict[tuple[str, str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass
class MediaStatus:
    """What the server holds of one file: `received` bytes so far (the resume offset)."""

    record_id: str
    name: str
    size: int | None
    sha256: str | None
    received: int
    complete: bool

    def as_dict(self) -> dict:
        return asdict(self)


def final_path(data_dir: Path, record_id: str, name: str) -> Path:
    return Path(data_dir) / "media" / record_id / name


def partial_path(data_dir: Path, record_id: str, name: str) -> Path:
    return Path(data_dir) / "media" / ".partial" / record_id / name


def _lock(data_dir: Path, record_id: str, name: str) -> threading.Lock:
    # Two requests appending to one partial file at once (a client retrying while its
    # first attempt is still being read) would interleave bytes: one writer per file.
    key = (str(data_dir), record_id, name)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _not_found(record_id: str, name: str) -> Problem:
    # The same answer for "no such record", "not yours" and "no such file": a device
    # learns nothing about records outside its scope.
    return Problem(
        "not-found",
        f"No file {name!r} of record {record_id} in your scope. Files go up after the "
        "record's revision that names them is accepted.",
    )


def answer_path(conn: sqlite3.Connection, who: Principal, record_id: str, name: str) -> str:
    """The path of the answer naming file `name` in a record inside `who`'s scope, or
    `404 not-found`."""
    if not is_media_name(name):
        raise _not_found(record_id, name)
    row = conn.execute(
        "SELECT district, site_id FROM records WHERE record_id = ?", (record_id,)
    ).fetchone()
    if row is None or not who.covers(row["district"], row["site_id"]):
        raise _not_found(record_id, name)
    for (body,) in conn.execute(
        "SELECT body FROM revisions WHERE record_id = ? ORDER BY seq DESC", (record_id,)
    ):
        path = media_references(json.loads(body).get("answers") or {}).get(name)
        if path is not None:
            return path
    raise _not_found(record_id, name)


def _row(conn: sqlite3.Connection, record_id: str, name: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM media WHERE record_id = ? AND name = ?", (record_id, name)
    ).fetchone()


def _status(data_dir: Path, record_id: str, name: str, row: sqlite3.Row | None) -> MediaStatus:
    if row is not None and row["completed_at"]:
        return MediaStatus(record_id, name, row["size"], row["sha256"], row["size"], True)
    partial = partial_path(data_dir, record_id, name)
    received = partial.stat().st_size if partial.exists() else 0
    return MediaStatus(
        record_id,
        name,
        row["size"] if row is not None else None,
        row["sha256"] if row is not None else None,
        received,
        False,
    )


def status(db: Database, data_dir: Path, who: Principal, record_id: str, name: str) -> MediaStatus:
    """What the server holds of a file in `who`'s scope (0 bytes if nothing yet)."""
    with db.read() as conn:
        answer_path(conn, who, record_id, name)
        row = _row(conn, record_id, name)
    return _status(data_dir, record_id, name, row)


def receive_chunk(
    db: Database,
    data_dir: Path,
    who: Principal,
    record_id: str,
    name: str,
    *,
    offset: int,
    size: int,
    sha256: str,
    chunk_sha256: str,
    data: bytes,
) -> MediaStatus:
    """Append one chunk at `offset` of a file of `size` bytes and `sha256`; finish the file
    when it is all there. Blocking (file I/O and the database writer): run in a thread.

    Refusals, each leaving the server's copy as it was: `422 checksum` (the chunk or the
    finished file doesn't match its sha256: send it again), `409 offset` (the server holds
    a different number of bytes: ask for the status and go on from there), `413 too-large`
    (over `MAX_MEDIA_BYTES`, or a chunk past the declared size), `404 not-found`.
    """
    if size > MAX_MEDIA_BYTES:
        raise Problem(
            "too-large",
            f"The file is {size} bytes; the limit is {MAX_MEDIA_BYTES}. Nothing was stored.",
        )
    if offset + len(data) > size:
        raise Problem(
            "too-large",
            f"The chunk ends at byte {offset + len(data)}, past the file's size {size}. "
            "Nothing was stored.",
        )
    if hashlib.sha256(data).hexdigest() != chunk_sha256:
        raise Problem(
            "checksum",
            "The chunk does not match its sha256 (damaged on the way); it was not stored. "
            "Send it again.",
        )
    with db.read() as conn:
        path = answer_path(conn, who, record_id, name)
        row = _row(conn, record_id, name)
    if row is not None and (row["size"] != size or row["sha256"] != sha256):
        raise Problem(
            "checksum",
            f"The server holds another file named {name!r} for this record (a different "
            "size or sha256); nothing was stored.",
        )
    if row is not None and row["completed_at"]:
        return _status(data_dir, record_id, name, row)  # a retry after the last chunk
    if row is None:
        db.write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO media (record_id, name, path, size, sha256, "
                "uploaded_by, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record_id, name, path, size, sha256, who.account_id, iso(now_utc())),
            )
        )
    partial = partial_path(data_dir, record_id, name)
    with _lock(data_dir, record_id, name):
        partial.parent.mkdir(parents=True, exist_ok=True)
        held = partial.stat().st_size if partial.exists() else 0
        if offset != held:
            raise Problem(
                "offset",
                f"The server holds {held} bytes of this file, not {offset}: send from byte {held}.",
                [{"where": "offset", "message": str(held)}],
            )
        with partial.open("ab") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        received = held + len(data)
        if received == size:
            return complete_file(db, data_dir, who, record_id, name, sha256)
    return MediaStatus(record_id, name, size, sha256, received, False)


def complete_file(
    db: Database, data_dir: Path, who: Principal, record_id: str, name: str, sha256: str
) -> MediaStatus:
    """Check the whole partial file and move it into place (called with the file's lock)."""
    partial = partial_path(data_dir, record_id, name)
    digest = hashlib.sha256()
    with partial.open("rb") as source:
        for block in iter(lambda: source.read(1024 * 1024), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise Problem(
            "checksum",
            "The whole file does not match its sha256; the server dropped its copy. Send "
            "the file again from byte 0.",
        )
    target = final_path(data_dir, record_id, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)
    at = iso(now_utc())

    def finish(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE media SET completed_at = ? WHERE record_id = ? AND name = ?",
            (at, record_id, name),
        )
        conn.execute(
            "INSERT INTO audit_log (at, account_id, action, target, outcome) "
            "VALUES (?, ?, 'media-received', ?, 'ok')",
            (at, who.account_id, f"{record_id}/{name}"),
        )

    db.write(finish)
    size = target.stat().st_size
    return MediaStatus(record_id, name, size, sha256, size, True)


def complete_path(db: Database, data_dir: Path, who: Principal, record_id: str, name: str) -> Path:
    """The stored file, for a reader whose scope covers its record; else `404 not-found`."""
    with db.read() as conn:
        answer_path(conn, who, record_id, name)
        row = _row(conn, record_id, name)
    target = final_path(data_dir, record_id, name)
    if row is None or not row["completed_at"] or not target.is_file():
        raise _not_found(record_id, name)
    return target


def media_for_record(conn: sqlite3.Connection, record_id: str) -> list[dict]:
    """The record's files the server holds completely: name, path, size, sha256."""
    rows = conn.execute(
        "SELECT name, path, size, sha256, completed_at FROM media "
        "WHERE record_id = ? AND completed_at IS NOT NULL ORDER BY path, name",
        (record_id,),
    )
    return [dict(row) for row in rows]
