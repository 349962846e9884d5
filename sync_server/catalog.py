"""The forms this server publishes, the site list, and the scope of a record.

Published forms are copied into `<data dir>/forms/<sha256>.xlsx` and listed in the `forms`
table; every version ever published stays, because a tablet may upload a record days later
that was filled with an older version, and it is validated against exactly that version.
A form with attachments (CSV/GeoJSON choice and lookup files, media) is kept with them in
its own folder, `<data dir>/forms/<bundle sha256>/<sha256>.xlsx`, so that loading the form
file finds its files beside it (the engine's default attachment folder).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forms import load_form
from sync_server.auth import iso, now_utc

log = logging.getLogger("sync_server.catalog")


class PublishError(Exception):
    """A form can't be published; the message says why and what to do."""


@dataclass(frozen=True)
class Attachment:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PublishedForm:
    form_id: str
    version: str
    title: str
    sha256: str
    size: int
    file_name: str
    current: bool


def publish_form(
    conn: sqlite3.Connection,
    data_dir: Path,
    path: Path,
    attachments: list[Path] | None = None,
    warnings: list[str] | None = None,
) -> tuple[PublishedForm, bool]:
    """Publish the XLSForm at `path` with its `attachments` (inside a write transaction).

    The files the form names and that are not given are taken from beside the form when
    there; a file it needs that is missing is not an error (ODK Central's rule: the form is
    valid, its files come separately) but is added to `warnings`. A given file the form
    does not name is refused, as it is most likely the wrong file.

    Returns the form and whether it is new. Publishing the same files again is a no-op; a
    different form file or attachment with the same form id and version is refused, because
    records already filled with that version would then be checked against other data.
    """
    given = {file.name: file for file in attachments or []}
    for file in given.values():
        if not file.is_file():
            raise PublishError(f"{file}: no such attachment file")
    with tempfile.TemporaryDirectory() as staging:
        # Load the form with exactly the files being published beside it.
        staged = Path(staging) / path.name
        shutil.copyfile(path, staged)
        form = load_form(path, attachment_dir=path.parent)  # FormLoadError: every problem
        unknown = sorted(set(given) - set(form.attachments))
        if unknown:
            raise PublishError(
                f"{path}: the form does not use {', '.join(unknown)} "
                f"(it uses: {', '.join(form.attachments) or 'no attachments'})"
            )
        files = {
            name: given.get(name, path.parent / name)
            for name in form.attachments
            if name in given or (path.parent / name).is_file()
        }
        for name in form.attachments:
            if name not in files and warnings is not None:
                warnings.append(
                    f"{form.form_id} version {form.version}: the attachment {name!r} is "
                    "missing; tablets will not have it"
                )
        for name, file in files.items():
            shutil.copyfile(file, Path(staging) / name)
        form = load_form(staged)  # now with the published files: they must read
        return _publish_files(conn, data_dir, path, form, files)


def _publish_files(
    conn: sqlite3.Connection, data_dir: Path, path: Path, form: Any, files: dict[str, Path]
) -> tuple[PublishedForm, bool]:
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    bundle = hashlib.sha256(digest.encode())
    for name in sorted(files):
        bundle.update(f"\n{name} {hashlib.sha256(files[name].read_bytes()).hexdigest()}".encode())
    file_name = f"{bundle.hexdigest()}/{digest}{path.suffix}" if files else f"{digest}{path.suffix}"
    row = conn.execute(
        "SELECT sha256, file_name FROM forms WHERE form_id = ? AND version = ?",
        (form.form_id, form.version),
    ).fetchone()
    if row is not None:
        if row["sha256"] != digest or row["file_name"] != file_name:
            raise PublishError(
                f"{path}: form {form.form_id!r} version {form.version!r} is already published "
                "with different content or attachments. Change the version in the form's "
                "settings sheet and publish again."
            )
        return _published(conn, form.form_id, form.version), False
    target = data_dir / "forms" / file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    for name, file in files.items():
        shutil.copyfile(file, target.parent / name)
    if not target.exists():
        shutil.copyfile(path, target)
    conn.execute(
        "INSERT INTO forms (form_id, version, title, sha256, size, file_name, published_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (form.form_id, form.version, form.title, digest, len(content), file_name, iso(now_utc())),
    )
    return _published(conn, form.form_id, form.version), True


def _published(conn: sqlite3.Connection, form_id: str, version: str) -> PublishedForm:
    return next(f for f in published_forms(conn) if (f.form_id, f.version) == (form_id, version))


def published_forms(conn: sqlite3.Connection) -> list[PublishedForm]:
    """Every published version; the most recently published of each form is `current`."""
    rows = conn.execute(
        "SELECT form_id, version, title, sha256, size, file_name, rowid FROM forms "
        "ORDER BY form_id, rowid"
    ).fetchall()
    latest = {row["form_id"]: row["rowid"] for row in rows}
    return [
        PublishedForm(
            form_id=row["form_id"],
            version=row["version"],
            title=row["title"],
            sha256=row["sha256"],
            size=row["size"],
            file_name=row["file_name"],
            current=latest[row["form_id"]] == row["rowid"],
        )
        for row in rows
    ]


def form_files(conn: sqlite3.Connection, data_dir: Path) -> dict[tuple[str, str], Path]:
    """(form id, version) -> the published file, for every version ever published."""
    return {(f.form_id, f.version): data_dir / "forms" / f.file_name for f in published_forms(conn)}


def form_info(
    form: PublishedForm, data_dir: Path, live: dict[str, bytes] | None = None
) -> dict[str, Any]:
    """A published form as the protocol's `FormInfo` lists it, with its attachments.

    `live` are the files the server writes itself (the site list, `sync_server.sites`):
    a form published with a file of that name lists the live file's sha256 instead, so a
    tablet fetches it again whenever it changes."""
    live = live or {}
    attachments = [
        Attachment(a.name, hashlib.sha256(live[a.name]).hexdigest(), len(live[a.name]))
        if a.name in live
        else a
        for a in form_attachments(data_dir, form)
    ]
    return {
        "form_id": form.form_id,
        "version": form.version,
        "title": form.title,
        "sha256": form.sha256,
        "size": form.size,
        "current": form.current,
        "attachments": [{"name": a.name, "sha256": a.sha256, "size": a.size} for a in attachments],
    }


_FOLDER_ATTACHMENTS: dict[Path, tuple[Attachment, ...]] = {}


def form_attachments(data_dir: Path, form: PublishedForm) -> tuple[Attachment, ...]:
    """The files published with a form: the others in its own folder (none for a form
    published without attachments, which sits directly in forms/). A published folder never
    changes, so it is read once per process."""
    folder, _, form_file = form.file_name.rpartition("/")
    if not folder:
        return ()
    path = data_dir / "forms" / folder
    if path not in _FOLDER_ATTACHMENTS:
        found = []
        for file in sorted(path.iterdir()):
            if file.name != form_file and file.is_file():
                content = file.read_bytes()
                digest = hashlib.sha256(content).hexdigest()
                found.append(Attachment(file.name, digest, len(content)))
        _FOLDER_ATTACHMENTS[path] = tuple(found)
    return _FOLDER_ATTACHMENTS[path]


def load_sites(path: Path | None) -> list[dict[str, Any]]:
    """The transit sites from a GeoJSON file (properties only); empty if there is none."""
    if path is None or not path.is_file():
        return []
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.error("cannot read the site list %s: %s", path, error)
        return []
    sites = []
    for feature in collection.get("features", []):
        props = feature.get("properties") or {}
        if not props.get("site_id"):
            continue
        sites.append(
            {
                "site_id": str(props["site_id"]),
                "name": str(props.get("name") or props["site_id"]),
                "site_type": props.get("site_type"),
                "district_pcode": props.get("district_pcode"),
                "opened": props.get("opened"),
                "closed": props.get("closed"),
                "centre": props.get("centre"),
            }
        )
    return sites
